//! Authentication: applying credentials to a request, and obtaining OAuth2 tokens.

mod apply;
mod oauth;
mod refresher;

pub use apply::apply;
pub use oauth::{classify_token_error, parse_token_response, token_request, TokenGrant, TokenSet};
pub use refresher::{DirectRefresher, RefreshFuture, RefreshReason, Refreshed, TokenRefresher};
