//! Authentication: applying credentials to a request, obtaining OAuth2 tokens, and
//! connecting an account with the authorization-code grant.

mod apply;
mod connect;
mod oauth;
mod refresher;

pub use apply::apply;
pub use connect::{callback_connection, Pkce};
pub use oauth::{classify_token_error, parse_token_response, token_request, TokenGrant, TokenSet};
pub use refresher::{DirectRefresher, RefreshFuture, RefreshReason, Refreshed, TokenRefresher};
