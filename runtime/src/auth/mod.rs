//! Authentication: applying credentials to a request, the OAuth2 token requests and their
//! answers, and what connecting an account with the authorization-code grant needs (PKCE, the
//! redirect's fields). The engine sends the requests and refreshes (`engine/`).

mod apply;
mod connect;
mod oauth;

pub use apply::apply;
pub use connect::{callback_connection, Pkce};
pub(crate) use oauth::token_endpoint_request;
pub use oauth::{classify_token_error, parse_token_response, token_request, TokenGrant, TokenSet};
