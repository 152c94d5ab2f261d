//! Connecting an account with the OAuth2 authorization-code grant (RFC 6749 §4.1): the URL
//! the customer's browser is sent to, and the exchange of the code it comes back with for
//! tokens, with PKCE (RFC 7636) when the definition asks for it.
//!
//! The server keeps `state` and the PKCE verifier between the two steps; the engine only
//! builds and sends requests. Both steps use the account's install (the OAuth client) and
//! connection fields (a per-account authorize or token URL), and the integration's origin
//! override, like every other request.

use super::Engine;
use crate::account::Account;
use crate::auth::{parse_token_response, token_endpoint_request, Pkce, TokenSet};
use crate::error::{ErrorKind, RuntimeError};
use crate::http::{build_url, render, Encoding, Scopes};
use crate::registry::{Auth, Integration, OAuth2, OAuthGrant};
use url::Url;

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
        let response = self.send(request, self.config().request_timeout).await?;
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
