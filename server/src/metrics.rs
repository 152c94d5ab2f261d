//! Prometheus metrics at `/metrics` (on the metrics listener, `--metrics-listen`): API requests, upstream latency by integration and status,
//! rate-limited responses, token refreshes by outcome.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/v1/accounts/{id}`), never the concrete path: ids would explode the
    /// label set.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    integration: String,
    /// The HTTP status, or `error` when no response came.
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntegrationLabels {
    integration: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    integration: String,
    /// `refreshed`, `reused` (another request or process had just refreshed), `needs_reauth`,
    /// `failed`, `busy` (another process held the refresh lease past the bounded wait: the
    /// request answered 503 `refresh_in_progress`).
    outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RequestLabels, Histogram>,
    upstream_duration: Family<UpstreamLabels, Histogram>,
    rate_limited: Family<IntegrationLabels, Counter>,
    refreshes: Family<RefreshLabels, Counter>,
    log_dropped: Counter,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0].into_iter()
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("switchyard");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        let upstream_duration = Family::<UpstreamLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        let rate_limited = Family::<IntegrationLabels, Counter>::default();
        let refreshes = Family::<RefreshLabels, Counter>::default();
        let log_dropped = Counter::default();
        registry.register("http_requests", "API requests served, by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer an API request", request_duration.clone());
        registry.register(
            "upstream_request_duration_seconds",
            "Upstream request latency by integration and status",
            upstream_duration.clone(),
        );
        registry.register("rate_limited_responses", "Upstream responses that were rate limited", rate_limited.clone());
        registry.register("token_refreshes", "Token refreshes by outcome", refreshes.clone());
        registry.register("exchange_log_dropped", "Upstream exchanges not logged because the log writer was behind", log_dropped.clone());
        Metrics { registry, requests, request_duration, upstream_duration, rate_limited, refreshes, log_dropped }
    }

    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels { method: method.to_string(), route: route.to_string(), status };
        self.requests.get_or_create(&labels).inc();
        self.request_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn upstream(&self, integration: &str, status: Option<u16>, elapsed: Duration) {
        let status = status.map(|s| s.to_string()).unwrap_or_else(|| "error".into());
        self.upstream_duration
            .get_or_create(&UpstreamLabels { integration: integration.to_string(), status })
            .observe(elapsed.as_secs_f64());
    }

    pub fn rate_limited(&self, integration: &str) {
        self.rate_limited.get_or_create(&IntegrationLabels { integration: integration.to_string() }).inc();
    }

    pub fn refresh(&self, integration: &str, outcome: &'static str) {
        self.refreshes.get_or_create(&RefreshLabels { integration: integration.to_string(), outcome }).inc();
    }

    pub fn log_dropped(&self) {
        self.log_dropped.inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
