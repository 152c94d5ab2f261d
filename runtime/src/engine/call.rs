//! One provider method call: the request built from the definition, credentials applied
//! (refreshed first when they are about to expire), one refresh-and-retry on a 401, and
//! the response classified.

use super::Engine;
use super::{RefreshReason, Refreshed};
use crate::account::Account;
use crate::auth;
use crate::error::{ErrorKind, RuntimeError};
use crate::http::query_pairs;
use crate::http::{build_url, render, Body, Encoding, Scopes, UpstreamRequest, UpstreamResponse};
use crate::pagination::Position;
use crate::rate_limit::RateLimitStatus;
use crate::registry::{Auth, BodyFormat, Integration, Method, OAuthGrant, Pagination, ParamIn};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::time::Duration;

/// What to send to one provider method.
#[derive(Debug, Clone, Default)]
pub struct MethodCall {
    /// Values of `{{params.x}}`.
    pub params: Map<String, Value>,
    /// Extra query parameters (from a unified mapping), after the definition's own.
    pub query: Map<String, Value>,
    /// The request body (from a unified mapping).
    pub body: Option<Value>,
    /// Where in the list this request starts, with the page size asked for.
    pub position: Option<(Position, Option<u64>)>,
}

/// An answer to a request sent with the account's credentials, before classification.
pub(crate) struct Authorized {
    pub response: UpstreamResponse,
    /// New credentials when the call refreshed them.
    pub refreshed: Option<Refreshed>,
}

/// A provider's answer, read and classified.
#[derive(Debug, Clone)]
pub struct ProviderResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The parsed JSON body; `Null` for an empty one.
    pub body: Value,
    pub url: url::Url,
    pub elapsed: Duration,
    pub rate_limit: RateLimitStatus,
    /// New credentials when the call refreshed them.
    pub refreshed: Option<Refreshed>,
}

impl Engine {
    /// Calls `resource.method` of the account's integration.
    pub async fn call(&self, account: &Account, resource: &str, method: &str, call: &MethodCall) -> Result<ProviderResponse, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let definition = integration.resources.get(resource).and_then(|r| r.methods.get(method)).ok_or_else(|| {
            RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` has no method `{resource}.{method}`", integration.name))
        })?;
        self.call_method(account, integration, definition, call).await
    }

    pub(crate) async fn call_method(
        &self,
        account: &Account,
        integration: &Integration,
        method: &Method,
        call: &MethodCall,
    ) -> Result<ProviderResponse, RuntimeError> {
        let sent = self.send_authorized(integration, account, |account| self.build_request(integration, method, account, call)).await?;
        let mut answer = self.classify(integration, Some(method), &sent.response)?;
        answer.refreshed = sent.refreshed;
        Ok(answer)
    }

    /// Sends the request `build` makes from the account's credentials: refreshed first when
    /// they are due, and refreshed once more and the request rebuilt and resent after a 401
    /// when they can be. A 401 that survives this (a 401 right after a refresh, or one no
    /// refresh can cure) is `needs_reauth`. Every other answer is returned as it came, with
    /// the new credentials when the call changed them. Unified calls and the raw proxy both
    /// send through here.
    pub(crate) async fn send_authorized(
        &self,
        integration: &Integration,
        account: &Account,
        build: impl Fn(&Account) -> Result<UpstreamRequest, RuntimeError>,
    ) -> Result<Authorized, RuntimeError> {
        let mut account = Cow::Borrowed(account);
        let mut refreshed = None;
        if let Some(reason) = self.refresh_due(integration, &account) {
            let fresh = self.refresher().refresh(self, &account, reason).await?;
            apply_refresh(account.to_mut(), &fresh);
            refreshed = Some(fresh);
        }
        let mut response = self.send(build(&account)?, self.timeout(integration)).await?;
        if response.status == 401 && refreshed.is_none() && refreshable(integration, &account) {
            let fresh = self.refresher().refresh(self, &account, RefreshReason::Rejected).await?;
            apply_refresh(account.to_mut(), &fresh);
            refreshed = Some(fresh);
            response = self.send(build(&account)?, self.timeout(integration)).await?;
        }
        if response.status == 401 {
            return Err(self.rejected(integration, &response, refreshed.is_some()));
        }
        Ok(Authorized { response, refreshed })
    }

    /// The `needs_reauth` error for a 401 the engine could not cure, carrying the provider's
    /// status, body excerpt and mapped error.
    fn rejected(&self, integration: &Integration, response: &UpstreamResponse, after_refresh: bool) -> RuntimeError {
        let mut error = match self.classify(integration, None, response) {
            Err(error) => error,
            Ok(_) => RuntimeError::new(ErrorKind::NeedsReauth, format!("the provider answered HTTP {}", response.status))
                .with_response(response.status, &response.body),
        };
        error.kind = ErrorKind::NeedsReauth;
        error.message = if after_refresh {
            // The token was refreshed for this very call and is still refused.
            format!("the provider refused a freshly refreshed token ({}); the customer must reconnect", error.message)
        } else {
            // An API key, no refresh token: the credentials are dead and the customer must
            // supply new ones.
            format!("the provider rejected the credentials ({}); the customer must reconnect", error.message)
        };
        error
    }

    fn timeout(&self, integration: &Integration) -> Duration {
        integration.timeout_ms.map(Duration::from_millis).unwrap_or(self.config.request_timeout)
    }

    /// Whether the access token must be refreshed before the call.
    fn refresh_due(&self, integration: &Integration, account: &Account) -> Option<RefreshReason> {
        let Auth::OAuth2(oauth) = &integration.auth else { return None };
        let has_token = account.credentials.get("access_token").is_some_and(|t| !t.is_empty());
        if !has_token {
            return Some(RefreshReason::Missing);
        }
        let expires_at = account.credentials.expires_at?;
        let margin = Duration::from_secs(oauth.refresh_margin_seconds);
        (expires_at <= self.now() + margin).then_some(RefreshReason::Expiring)
    }

    pub(crate) fn build_request(
        &self,
        integration: &Integration,
        method: &Method,
        account: &Account,
        call: &MethodCall,
    ) -> Result<UpstreamRequest, RuntimeError> {
        let scopes = Scopes {
            connection: &account.connection,
            credentials: &account.credentials,
            params: &call.params,
            install: Some(&account.install),
        };
        let base = render(&integration.base_url, &scopes, Encoding::BaseUrl)?;
        let path = render(&method.path, &scopes, Encoding::PathSegment)?;
        let format = integration.query_array_format;
        let mut query = Vec::new();
        for (name, template) in integration.query.iter().chain(&method.query) {
            query.push((name.clone(), render(template, &scopes, Encoding::Raw)?));
        }
        for (name, value) in &call.query {
            query.retain(|(n, _)| n != name);
            query_pairs(name, value, format, &mut query);
        }
        let mut body = call.body.clone();
        let mut url = build_url(&base, &path, &[])?;
        if let (Some((position, page_size)), Some(pagination)) = (&call.position, &method.pagination) {
            let target = place_position(pagination, position, *page_size, &mut query, &mut body)?;
            if let Some(next_url) = target {
                url = next_url;
            }
        }
        if !query.is_empty() {
            let existing: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let mut pairs = url.query_pairs_mut();
            pairs.clear();
            for (name, value) in existing.iter().filter(|(n, _)| !query.iter().any(|(q, _)| q == n)) {
                pairs.append_pair(name, value);
            }
            for (name, value) in &query {
                pairs.append_pair(name, value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.override_origin(&integration.name, &mut url);
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        let mut request = UpstreamRequest { method: method.method, url, headers: Vec::new(), body: None };
        for (name, template) in integration.headers.iter().chain(&method.headers) {
            headers.retain(|(n, _): &(String, String)| !n.eq_ignore_ascii_case(name));
            // A header that reads an optional connection field the account has not set is
            // left out (Stripe's `Stripe-Account` for connected accounts only).
            if unset_optional_field(integration, account, template) {
                continue;
            }
            headers.push((name.clone(), render(template, &scopes, Encoding::Raw)?));
        }
        request.headers = headers;
        request.body = body.map(|b| match method.body_format {
            BodyFormat::Json => Body::json(&b),
            BodyFormat::Form => Body::form(&b, format),
        });
        auth::apply(&integration.auth, &scopes, &mut request)?;
        Ok(request)
    }
}

/// Puts the list position into the request. Returns the URL to use instead when the
/// position is a full URL (Link header, next URL) or a dynamic change names one.
fn place_position(
    pagination: &Pagination,
    position: &Position,
    page_size: Option<u64>,
    query: &mut Vec<(String, String)>,
    body: &mut Option<Value>,
) -> Result<Option<url::Url>, RuntimeError> {
    // A null value removes the parameter: a dynamic pagination can drop one (Zoho's `page`
    // once it moves to `page_token`).
    let mut set = |placement: ParamIn, name: &str, value: Value| match placement {
        ParamIn::Query => {
            query.retain(|(n, _)| n != name);
            match &value {
                Value::Null => {}
                Value::String(s) => query.push((name.to_string(), s.clone())),
                other => query.push((name.to_string(), other.to_string())),
            }
        }
        ParamIn::Body => {
            let object = body.get_or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = object {
                if value.is_null() {
                    map.shift_remove(name);
                } else {
                    map.insert(name.to_string(), value);
                }
            }
        }
    };
    if let (Some(size), Some(config)) = (page_size, pagination.common().and_then(|c| c.page_size.as_ref())) {
        if let Some(param) = &config.param {
            set(config.placement, param, Value::from(size));
        }
    }
    let request = match pagination {
        Pagination::Cursor { request, .. } | Pagination::Page { request, .. } | Pagination::Offset { request, .. } => Some(request),
        _ => None,
    };
    match (position, pagination) {
        (Position::Start, Pagination::Page { start, .. }) | (Position::Start, Pagination::Offset { start, .. }) => {
            if let Some(r) = request {
                set(r.placement, &r.param, Value::from(*start));
            }
        }
        (Position::Start, _) => {}
        (Position::Cursor(c), _) | (Position::Url(c), Pagination::Cursor { .. }) => {
            if let Some(r) = request {
                set(r.placement, &r.param, Value::from(c.clone()));
            }
        }
        (Position::Page(n), _) | (Position::Offset(n), _) => {
            if let Some(r) = request {
                set(r.placement, &r.param, Value::from(*n));
            }
        }
        (Position::Url(url), _) => {
            // The next URL carries the position and the page size itself.
            query.clear();
            return url::Url::parse(url)
                .map(Some)
                .map_err(|e| RuntimeError::new(ErrorKind::Pagination, format!("the next-page URL is invalid: {e}")));
        }
        (Position::Dynamic(changes), _) => {
            if let Some(Value::Object(q)) = changes.get("query") {
                for (name, value) in q {
                    set(ParamIn::Query, name, value.clone());
                }
            }
            if let Some(Value::Object(b)) = changes.get("body") {
                for (name, value) in b {
                    set(ParamIn::Body, name, value.clone());
                }
            }
            if let Some(Value::String(url)) = changes.get("url") {
                return url::Url::parse(url)
                    .map(Some)
                    .map_err(|e| RuntimeError::new(ErrorKind::Pagination, format!("the dynamic pagination URL is invalid: {e}")));
            }
        }
    }
    Ok(None)
}

/// Whether a template reads a connection field that is optional and has no value.
pub(crate) fn unset_optional_field(integration: &Integration, account: &Account, template: &crate::registry::Template) -> bool {
    template.vars().any(|(scope, field)| {
        let name = field.join(".");
        scope == crate::registry::Scope::Connection
            && account.connection.get(&name).is_none_or(str::is_empty)
            && integration.connection.fields.get(&name).is_some_and(|f| !f.required)
    })
}

fn refreshable(integration: &Integration, account: &Account) -> bool {
    match &integration.auth {
        Auth::OAuth2(o) => {
            o.grant == OAuthGrant::ClientCredentials || account.credentials.get("refresh_token").is_some_and(|r| !r.is_empty())
        }
        _ => false,
    }
}

fn apply_refresh(account: &mut Account, fresh: &Refreshed) {
    account.credentials = fresh.credentials.clone();
    account.connection = fresh.connection.clone();
}
