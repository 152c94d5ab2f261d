//! The engine: given an account and a unified call, builds the upstream requests from
//! the definition, follows pagination, normalizes rate limits and errors, and maps each
//! record. Integration-specific behaviour comes from the registry only.

mod call;
mod classify;
mod connect;
mod page_text;
mod proxy;
mod records;
mod refresh;
mod unified;

pub use call::{MethodCall, ProviderResponse};
pub use page_text::PageText;
pub use proxy::{ProxyRequest, ProxyResponse};
pub use records::Records;
pub use refresh::{DirectRefresher, RefreshFuture, RefreshReason, Refreshed, TokenRefresher};
pub use unified::{ListRequest, UnifiedPage, UnifiedRecord, WriteRequest};

use crate::account::{Account, Credentials};
use crate::auth::{TokenGrant, TokenSet};
use crate::error::{ErrorKind, RuntimeError};
use crate::http::{
    refused_error, render, Encoding, HttpTransport, PrivateUpstreams, Scopes, Transport, TransportLimits, UpstreamRequest, UpstreamResponse,
};
use crate::mapping::{self, Bindings, EvalOptions, Mapping};
use crate::pagination::CursorKey;
use crate::registry::{Auth, Expr, Integration, OAuthGrant, Origin, Pagination, Registry};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// No parameters: what a base URL is rendered with (it reads only the connection).
static EMPTY: std::sync::LazyLock<serde_json::Map<String, serde_json::Value>> = std::sync::LazyLock::new(serde_json::Map::new);

pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[derive(Clone)]
pub struct EngineConfig {
    /// Signs the cursors handed to callers.
    pub cursor_key: CursorKey,
    pub request_timeout: Duration,
    /// Replaces the origin (scheme://host:port) of every URL an integration calls, API
    /// and OAuth alike: sandboxes, on-premise deployments, tests.
    pub origin_overrides: HashMap<String, Url>,
    pub eval: EvalOptions,
    /// Upper bound on the pages of one list, whatever the provider says.
    pub max_pages: u64,
    pub clock: Clock,
    /// Upstream targets that are not public (loopback, private, link-local, cloud metadata)
    /// that may be called all the same: the operator's allow-list. Empty by default: an
    /// account's connection field, a token response or a provider's answer can then lead the
    /// engine to public addresses only. The origins of `origin_overrides` are always allowed.
    pub allow_private_upstreams: PrivateUpstreams,
}

impl EngineConfig {
    /// What the engine may call besides public addresses: the allow-list and the origin of
    /// every origin override. [`Engine::new`] guards its transport with it; give it to
    /// [`HttpTransport::guarded`] when building a transport for [`Engine::with_parts`].
    pub fn upstream_access(&self) -> PrivateUpstreams {
        let mut access = self.allow_private_upstreams.clone();
        for origin in self.origin_overrides.values() {
            access.allow_origin(origin);
        }
        access
    }

    /// Stops the clock at `now`, for the engine (token expiry, rate-limit resets) and the
    /// mappings' `$now()` and `$millis()` alike: fixture replay.
    pub fn freeze_clock(&mut self, now: SystemTime) {
        self.clock = Arc::new(move || now);
        self.eval.now_millis = Some(now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0));
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cursor_key: CursorKey::random(),
            request_timeout: Duration::from_secs(30),
            origin_overrides: HashMap::new(),
            eval: EvalOptions::default(),
            max_pages: 10_000,
            clock: Arc::new(SystemTime::now),
            allow_private_upstreams: PrivateUpstreams::none(),
        }
    }
}

pub struct Engine {
    registry: Arc<Registry>,
    /// Every expression of the registry, parsed once, by where it was written (a list,
    /// in case two expressions share a place, as hand-built registries may).
    mappings: HashMap<Origin, Vec<Mapping>>,
    transport: Arc<dyn Transport>,
    refresher: Arc<dyn TokenRefresher>,
    config: EngineConfig,
    /// [`EngineConfig::upstream_access`], checked on every URL before it is sent.
    upstreams: PrivateUpstreams,
}

impl Engine {
    /// An engine over HTTP that refreshes tokens without storing them. Its transport is
    /// guarded: a name that resolves to an address that is not public is refused as well.
    pub fn new(registry: Arc<Registry>, config: EngineConfig) -> Result<Engine, RuntimeError> {
        let transport = Arc::new(HttpTransport::guarded(TransportLimits::default(), config.upstream_access())?);
        Engine::with_parts(registry, config, transport, Arc::new(DirectRefresher))
    }

    /// Parses every expression of the registry up front, so a request never parses one.
    ///
    /// The engine checks every URL it sends against [`EngineConfig::upstream_access`]: a literal
    /// address that is not public and a cloud metadata host name are refused whatever the
    /// transport. Names are checked by the addresses they resolve to only by a transport that
    /// resolves them so ([`HttpTransport::guarded`]).
    pub fn with_parts(
        registry: Arc<Registry>,
        config: EngineConfig,
        transport: Arc<dyn Transport>,
        refresher: Arc<dyn TokenRefresher>,
    ) -> Result<Engine, RuntimeError> {
        let mut mappings: HashMap<Origin, Vec<Mapping>> = HashMap::new();
        for integration in &registry.integrations {
            for expr in expressions(integration) {
                let known = mappings.entry(expr.origin.clone()).or_default();
                if !known.iter().any(|m| m.source() == expr.source) {
                    known.push(Mapping::compile(expr).map_err(|e| RuntimeError::new(ErrorKind::Mapping, e.to_string()))?);
                }
            }
        }
        let upstreams = config.upstream_access();
        Ok(Engine { registry, mappings, transport, refresher, config, upstreams })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The engine's clock (the system's, unless [`EngineConfig::freeze_clock`] stopped it).
    pub fn now(&self) -> SystemTime {
        (self.config.clock)()
    }

    pub(crate) fn integration(&self, name: &str) -> Result<&Integration, RuntimeError> {
        self.registry
            .integration(name)
            .ok_or_else(|| RuntimeError::new(ErrorKind::InvalidRequest, format!("no integration `{name}` in the registry")))
    }

    /// Evaluates one expression of the registry.
    pub(crate) fn eval(&self, expr: &Expr, input: &serde_json::Value, bindings: &Bindings) -> Result<serde_json::Value, RuntimeError> {
        let mapping = self.mapping(expr)?;
        mapping::evaluate(mapping, input, bindings, &self.config.eval).map_err(mapping_error)
    }

    /// Evaluates one expression on each input (one evaluator for all), writing the results
    /// straight to a JSON array; records mapped to nothing are left out.
    pub(crate) fn eval_each_json(&self, expr: &Expr, inputs: &[serde_json::Value], bindings: &Bindings) -> Result<String, RuntimeError> {
        let mapping = self.mapping(expr)?;
        mapping::evaluate_each_json(mapping, inputs, bindings, &self.config.eval).map_err(mapping_error)
    }

    /// [`Self::eval_each_json`] on records given as text (`spans` of `text`); `Ok(None)` when a
    /// record is not JSON.
    pub(crate) fn eval_each_json_text(
        &self,
        expr: &Expr,
        text: &str,
        spans: &[std::ops::Range<usize>],
        bindings: &Bindings,
    ) -> Result<Option<String>, RuntimeError> {
        let mapping = self.mapping(expr)?;
        mapping::evaluate_each_json_text(mapping, text, spans, bindings, &self.config.eval).map_err(mapping_error)
    }

    fn mapping(&self, expr: &Expr) -> Result<&Mapping, RuntimeError> {
        // Looked up on every evaluation: by reference, no key to build.
        self.mappings
            .get(&expr.origin)
            .and_then(|known| known.iter().find(|m| m.source() == expr.source))
            .ok_or_else(|| RuntimeError::new(ErrorKind::Mapping, format!("the expression at {} is not in the registry", expr.origin)))
    }

    /// Performs the OAuth2 token request for an account (refresh grant, or client
    /// credentials). Refreshers call this; it stores nothing.
    pub async fn fetch_token(&self, account: &Account) -> Result<TokenSet, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let Auth::OAuth2(oauth) = &integration.auth else {
            return Err(RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` does not use OAuth2", integration.name)));
        };
        let grant = match oauth.grant {
            OAuthGrant::AuthorizationCode => TokenGrant::RefreshToken,
            OAuthGrant::ClientCredentials => TokenGrant::ClientCredentials,
        };
        let mut request = crate::auth::token_request(oauth, account, grant)?;
        self.override_origin(&integration.name, &mut request.url);
        let response = self.send(request, self.config.request_timeout).await?;
        crate::auth::parse_token_response(oauth, &response, account.credentials.get("refresh_token"), self.now())
    }

    pub(crate) fn override_origin(&self, integration: &str, url: &mut Url) {
        if let Some(origin) = self.config.origin_overrides.get(integration) {
            let _ = url.set_scheme(origin.scheme());
            let _ = url.set_host(origin.host_str());
            let _ = url.set_port(origin.port());
        }
    }

    /// `sent` as the definition made it, when an origin override sent it elsewhere: on the
    /// origin of the integration's base URL for `account`.
    pub(crate) fn as_defined(&self, integration: &Integration, account: &Account, sent: &Url) -> Option<Url> {
        self.config.origin_overrides.get(&integration.name)?;
        let scopes = Scopes { connection: &account.connection, credentials: &account.credentials, params: &EMPTY, install: None };
        let base = Url::parse(&render(&integration.base_url, &scopes, Encoding::BaseUrl).ok()?).ok()?;
        let mut defined = sent.clone();
        defined.set_scheme(base.scheme()).ok()?;
        defined.set_host(base.host_str()).ok()?;
        defined.set_port(base.port()).ok()?;
        Some(defined)
    }

    pub(crate) fn refresher(&self) -> &dyn TokenRefresher {
        self.refresher.as_ref()
    }

    /// Sends a request upstream, after checking where it goes: every request the engine makes
    /// (API calls, token requests, the raw proxy) is sent here.
    pub(crate) async fn send(&self, request: UpstreamRequest, timeout: Duration) -> Result<UpstreamResponse, RuntimeError> {
        self.upstreams.check(&request.url).map_err(|refused| refused_error(&request.url, &refused))?;
        self.transport.send(request, timeout).await
    }
}

fn mapping_error(error: mapping::MappingError) -> RuntimeError {
    let mut e = RuntimeError::new(ErrorKind::Mapping, error.to_string());
    e.provider_error = error.code.map(|code| serde_json::json!({ "code": code }));
    e
}

/// Applies a token response to an account's credentials and connection.
pub fn merge_tokens(account: &Account, tokens: &TokenSet) -> Refreshed {
    let mut credentials: Credentials = account.credentials.clone();
    credentials.set("access_token", tokens.access_token.clone());
    match &tokens.refresh_token {
        Some(refresh) => credentials.set("refresh_token", refresh.clone()),
        None => credentials.remove("refresh_token"),
    }
    credentials.expires_at = tokens.expires_at;
    let mut connection = account.connection.clone();
    for (field, value) in &tokens.connection_updates {
        connection.set(field, value.clone());
    }
    Refreshed { credentials, connection }
}

/// Every JSONata expression an integration holds.
fn expressions(integration: &Integration) -> Vec<&Expr> {
    let mut out = Vec::new();
    if let Some(errors) = &integration.errors {
        out.push(&errors.mapping);
        out.extend(errors.when.iter().filter_map(|r| r.body.as_ref()));
    }
    let method_rules = integration.resources.values().flat_map(|r| r.methods.values()).filter_map(|m| m.errors.as_ref());
    out.extend(method_rules.flat_map(|e| e.when.iter().filter_map(|r| r.body.as_ref())));
    let paginations = std::iter::once(&integration.pagination)
        .chain(integration.resources.values().flat_map(|r| r.methods.values().map(|m| &m.pagination)));
    for pagination in paginations {
        if let Some(Pagination::Dynamic { next, .. }) = pagination {
            out.push(next);
        }
    }
    if let Some(rl) = &integration.rate_limit {
        out.extend(rl.limited_when.iter().filter_map(|r| r.body.as_ref()));
    }
    if let Some(webhooks) = &integration.webhooks {
        out.push(&webhooks.events);
    }
    for model in integration.unified.values() {
        out.extend(&model.envelope);
        for methods in model.resources.values() {
            for mapping in methods.values() {
                out.extend(mapping.params.values());
                out.extend([&mapping.query, &mapping.body, &mapping.response, &mapping.error].into_iter().flatten());
            }
        }
    }
    out
}
