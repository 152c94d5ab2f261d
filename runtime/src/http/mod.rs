//! Building upstream requests from a definition and sending them.

mod guard;
mod render;
mod request;
mod transport;

pub use guard::{classify as classify_address, refused_error, AddressClass, Network, PrivateUpstreams, Reach, Refused};
pub use render::{render, Encoding, Scopes};
pub use request::{build_url, encode_form, query_pairs, Body, UpstreamRequest};
pub use transport::{HttpTransport, SendFuture, Transport, TransportLimits, UpstreamResponse};
