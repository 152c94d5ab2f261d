//! Inbound webhooks: how a delivery is verified and how its payload maps to events.

use super::{Expr, Template};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    pub verify: WebhookVerify,
    pub events: Expr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookVerify {
    None {},
    Hmac {
        #[serde(default)]
        algorithm: HmacAlgorithm,
        secret: Template,
        #[serde(default)]
        secret_encoding: SecretEncoding,
        signature: SignatureHeader,
        signed_content: Template,
        #[serde(default)]
        timestamp: Option<TimestampRule>,
    },
    Basic {
        username: Template,
        password: Template,
    },
    StandardWebhooks {
        secret: Template,
        #[serde(default = "default_tolerance")]
        tolerance_seconds: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    #[default]
    Sha256,
    Sha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretEncoding {
    #[default]
    Utf8,
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureFormat {
    #[default]
    Plain,
    /// `t=…,v1=…` (Stripe).
    KeyValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureHeader {
    pub header: String,
    pub encoding: SignatureEncoding,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub format: SignatureFormat,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampRule {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    pub unit: TimestampUnit,
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampUnit {
    EpochSeconds,
    EpochMillis,
    /// An ISO 8601 date-time (`2024-06-01T09:00:00Z`).
    Iso8601,
}

fn default_tolerance() -> u64 {
    300
}
