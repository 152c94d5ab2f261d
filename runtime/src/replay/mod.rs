//! Fixture replay and recording: the engine's [`Transport`](crate::http::Transport) served
//! from recorded exchanges, so a fixture runs the real pipeline (auth applied, requests
//! built from the definition, pagination followed, rate limits and errors normalized,
//! mappings evaluated) without a network.
//!
//! - [`Fixture`] is the typed form of `integrations/<provider>/fixtures/<case>.yaml`
//!   (the compiler reads and validates the YAML; see `docs/fixtures.md`).
//! - [`ReplayTransport`] answers each request with the next recorded exchange, strictly:
//!   a request that matches none fails with the closest recorded one and a field-by-field
//!   [`Difference`] list, and exchanges left unused are reported.
//! - [`RecordingTransport`] wraps a live transport and keeps every exchange;
//!   [`Redactor`] turns them into fixture exchanges with every secret replaced by the fake
//!   value the fixture's account uses, so the recording replays as it was recorded.
//! - [`secrets`] holds the heuristics that tell a live-looking secret from a fake one.

mod fixture;
mod matcher;
mod record;
mod redact;
mod rewrite;
pub mod secrets;
mod transport;

pub use fixture::{
    format_time, parse_time, AccountSpec, Call, CallMethod, Exchange, Expect, ExpectedError, Fixture, HeaderValues, InstallSpec, Pages,
    QueryValue, RecordedResponse, RequestMatcher,
};
pub use matcher::{compare, Difference};
pub use record::{Recorded, RecordingTransport};
pub use redact::{fake_value, Redactor};
pub use rewrite::{OriginRewrite, ProviderOrigins};
pub use transport::{ReplayReport, ReplayTransport, Unmatched};
