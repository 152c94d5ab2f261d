//! Connecting an account with the OAuth2 authorization-code grant (RFC 6749 §4.1): the URL
//! the customer's browser is sent to, and the exchange of the code it comes back with for
//! tokens, with PKCE (RFC 7636) when the definition asks for it.
//!
//! The server keeps `state` and the PKCE verifier between the two steps; the engine only
//! builds and sends requests. Both steps use the account's install (the OAuth client) and
//! connection fields (a per-account authorize or token URL), and the integration's origin
//! override, like every other request.

use super::oauth::token_endpoint_request;
use super::{parse_token_response, TokenSet};
use crate::account::Account;
use crate::engine::Engine;
use crate::error::{ErrorKind, RuntimeError};
use crate::http::{build_url, render, Encoding, Scopes};
use crate::registry::{Auth, Integration, OAuth2, OAuthGrant};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use url::Url;

/// A PKCE pair (RFC 7636): the verifier stays with the server until the code exchange; the
/// challenge goes in the authorization URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// 43 to 128 characters from `[A-Za-z0-9-._~]`.
    pub verifier: String,
    /// BASE64URL-NOPAD(SHA-256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// The only challenge method sent: `plain` protects nothing.
    pub const METHOD: &'static str = "S256";

    /// A new pair: the verifier is 32 random bytes in unpadded base64url (43 characters,
    /// 256 bits), as RFC 7636 §4.1 recommends.
    pub fn generate() -> Pkce {
        let bytes: [u8; 32] = rand::random();
        Pkce::from_verifier(&URL_SAFE_NO_PAD.encode(bytes)).expect("base64url of 32 bytes is a valid verifier")
    }

    /// The pair for a verifier kept from earlier; `invalid_request` unless it is 43 to 128
    /// unreserved characters.
    pub fn from_verifier(verifier: &str) -> Result<Pkce, RuntimeError> {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(unreserved) {
            return Err(RuntimeError::new(
                ErrorKind::InvalidRequest,
                "a PKCE code verifier is 43 to 128 characters from A-Z, a-z, 0-9, `-`, `.`, `_` and `~`",
            ));
        }
        Ok(Pkce { verifier: verifier.to_string(), challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) })
    }
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce").field("verifier", &"[redacted]").field("challenge", &self.challenge).finish()
    }
}

/// Parameters of the authorization request the engine sets itself; a definition's
/// `authorize_params` cannot replace them.
const PROTOCOL_PARAMS: &[&str] = &["response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method"];

impl Engine {
    /// The URL to send the customer's browser to: the definition's `authorize_url` rendered
    /// for the account, with `response_type=code`, `client_id`, `redirect_uri`, `scope` (the
    /// definition's scopes joined by its separator, when it has any), `state`, the PKCE
    /// challenge and `code_challenge_method=S256` when the definition has `pkce: true`, then
    /// the definition's `authorize_params` (which may replace `scope`, not the others).
    ///
    /// `invalid_request` when the integration does not use the authorization-code grant or
    /// has no `authorize_url`, when `state` is empty, when `redirect_uri` is not an absolute
    /// http(s) URL without a fragment, or when the definition wants PKCE and `pkce` is
    /// `None`. A `pkce` given for a definition without `pkce: true` is not sent (nor is its
    /// verifier by [`Engine::exchange_code`]), so a server may make one for every flow.
    pub fn authorize_url(&self, account: &Account, redirect_uri: &str, state: &str, pkce: Option<&Pkce>) -> Result<Url, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let oauth = authorization_code(integration)?;
        let template = oauth.authorize_url.as_ref().ok_or_else(|| {
            RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` has no `authorize_url` to send the customer to", integration.name))
        })?;
        check_redirect_uri(redirect_uri)?;
        if state.is_empty() {
            return Err(RuntimeError::new(ErrorKind::InvalidRequest, "an authorization request needs a `state` (it guards the callback)"));
        }
        let pkce = pkce_in_use(integration, oauth, pkce.map(|p| p.challenge.as_str()))?;
        let params = serde_json::Map::new();
        let scopes =
            Scopes { connection: &account.connection, credentials: &account.credentials, params: &params, install: Some(&account.install) };
        let mut url = build_url(&render(template, &scopes, Encoding::BaseUrl)?, "", &[])?;
        let client_id = render(&oauth.client_id, &scopes, Encoding::Raw)?;

        let mut query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        query.push(("response_type".into(), "code".into()));
        query.push(("client_id".into(), client_id));
        query.push(("redirect_uri".into(), redirect_uri.into()));
        if !oauth.scopes.is_empty() {
            query.push(("scope".into(), oauth.scopes.join(&oauth.scope_separator)));
        }
        query.push(("state".into(), state.into()));
        if let Some(challenge) = pkce {
            query.push(("code_challenge".into(), challenge.into()));
            query.push(("code_challenge_method".into(), Pkce::METHOD.into()));
        }
        for (name, value) in &oauth.authorize_params {
            if PROTOCOL_PARAMS.contains(&name.as_str()) {
                continue;
            }
            match query.iter_mut().find(|(n, _)| n == name) {
                Some(pair) => pair.1 = value.clone(),
                None => query.push((name.clone(), value.clone())),
            }
        }
        url.query_pairs_mut().clear().extend_pairs(&query);
        self.override_origin(&integration.name, &mut url);
        Ok(url)
    }

    /// Exchanges the code the customer came back with for tokens: `grant_type=authorization_code`,
    /// `code`, `redirect_uri` (the one given to [`Engine::authorize_url`]), `code_verifier`
    /// when the definition has `pkce: true`, the definition's `token_params`, and the client
    /// as its `client_auth` says, encoded as its `token_format` says.
    ///
    /// A refused code (`invalid_grant`: used, expired, or issued for another redirect URI) is
    /// `needs_reauth`: the customer must authorize again. A refused client is `auth_failed`.
    /// `invalid_request` when the integration does not use the authorization-code grant, the
    /// code is empty, or the definition wants PKCE and no verifier is given.
    pub async fn exchange_code(
        &self,
        account: &Account,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let oauth = authorization_code(integration)?;
        if code.is_empty() {
            return Err(RuntimeError::new(ErrorKind::InvalidRequest, "the authorization code is empty"));
        }
        check_redirect_uri(redirect_uri)?;
        let verifier = pkce_in_use(integration, oauth, code_verifier)?;
        if let Some(verifier) = verifier {
            Pkce::from_verifier(verifier)?;
        }
        let mut request = token_endpoint_request(oauth, account, |form| {
            form.insert("grant_type".into(), "authorization_code".into());
            form.insert("code".into(), code.into());
            form.insert("redirect_uri".into(), redirect_uri.into());
            if let Some(verifier) = verifier {
                form.insert("code_verifier".into(), verifier.into());
            }
            Ok(())
        })?;
        self.override_origin(&integration.name, &mut request.url);
        let response = self.transport().send(request, self.config().request_timeout).await?;
        parse_token_response(oauth, &response, None, self.now()).map_err(|mut error| {
            if error.kind == ErrorKind::NeedsReauth {
                let detail = match &error.provider_error {
                    Some(e) => e.get("code").and_then(|c| c.as_str()).unwrap_or_default().to_string(),
                    None => String::new(),
                };
                let detail = if detail.is_empty() { format!("HTTP {}", response.status) } else { detail };
                error.message = format!("the provider refused the authorization code ({detail}); the customer must authorize again");
            }
            error
        })
    }
}

/// The connection fields the OAuth redirect fills in: `(field, value)` for each field with a
/// `from_callback` whose parameter the callback's query carries with a value (the first
/// occurrence, as received). The caller merges them into the connection before
/// [`Engine::exchange_code`], so the token request and every later one see them.
pub fn callback_connection(integration: &Integration, callback: &[(String, String)]) -> Vec<(String, String)> {
    integration
        .connection
        .fields
        .iter()
        .filter_map(|(field, spec)| {
            let param = spec.from_callback.as_deref()?;
            let value = callback.iter().find(|(name, _)| name == param).map(|(_, value)| value).filter(|v| !v.is_empty())?;
            Some((field.clone(), value.clone()))
        })
        .collect()
}

/// The integration's OAuth2 definition, when it uses the authorization-code grant.
fn authorization_code(integration: &Integration) -> Result<&OAuth2, RuntimeError> {
    match &integration.auth {
        Auth::OAuth2(oauth) if oauth.grant == OAuthGrant::AuthorizationCode => Ok(oauth),
        _ => Err(RuntimeError::new(
            ErrorKind::InvalidRequest,
            format!("`{}` does not connect with the OAuth2 authorization-code grant", integration.name),
        )),
    }
}

/// The PKCE value to send: the given one when the definition has `pkce: true` (which then
/// requires one), none otherwise.
fn pkce_in_use<'a>(integration: &Integration, oauth: &OAuth2, given: Option<&'a str>) -> Result<Option<&'a str>, RuntimeError> {
    match (oauth.pkce, given) {
        (true, Some(value)) => Ok(Some(value)),
        (true, None) => Err(RuntimeError::new(
            ErrorKind::InvalidRequest,
            format!("`{}` uses PKCE: give the pair made for this authorization (`Pkce::generate`)", integration.name),
        )),
        (false, _) => Ok(None),
    }
}

/// RFC 6749 §3.1.2: an absolute URI without a fragment (http or https here).
fn check_redirect_uri(redirect_uri: &str) -> Result<(), RuntimeError> {
    let url = Url::parse(redirect_uri).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none());
    if url.is_none() {
        return Err(RuntimeError::new(
            ErrorKind::InvalidRequest,
            format!("the redirect URI must be an absolute http(s) URL without a fragment: {redirect_uri:?}"),
        ));
    }
    Ok(())
}
