//! What a call runs with: the account's connection fields and credentials, and the
//! install of the integration (the team's own OAuth app).

use indexmap::IndexMap;
use std::fmt;
use std::time::SystemTime;

/// A string that must not be logged: its `Debug` shows a redaction marker.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The account's connection fields (Shopify shop, Salesforce instance_url, …).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    fields: IndexMap<String, String>,
}

impl Connection {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.fields.insert(name.to_string(), value.into());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.fields.iter()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Connection {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Connection { fields: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

/// The account's credentials: the auth's credential fields (tokens, keys) and, for
/// OAuth2, when the access token expires.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    fields: IndexMap<String, Secret>,
    pub expires_at: Option<SystemTime>,
}

impl Credentials {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(Secret::expose)
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.fields.insert(name.to_string(), Secret::new(value));
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.shift_remove(name);
    }

    /// Every secret value, for redaction of logs.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.fields.values().map(Secret::expose).filter(|v| !v.is_empty())
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.fields.keys()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Credentials {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Credentials { fields: iter.into_iter().map(|(k, v)| (k.into(), Secret::new(v))).collect(), expires_at: None }
    }
}

/// The install of an integration in an environment: the team's own OAuth client.
#[derive(Debug, Clone, Default)]
pub struct Install {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub webhook_secret: Option<Secret>,
}

impl Install {
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "client_id" => self.client_id.as_deref(),
            "client_secret" => self.client_secret.as_ref().map(Secret::expose),
            "webhook_secret" => self.webhook_secret.as_ref().map(Secret::expose),
            _ => None,
        }
    }
}

/// An account as a call sees it.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// The stored account's id and its environment's, when the account is stored (a
    /// server's refresher needs them; fixtures and the CLI leave them unset).
    pub id: Option<String>,
    pub environment: Option<String>,
    pub integration: String,
    pub connection: Connection,
    pub credentials: Credentials,
    pub install: Install,
}

/// A connection field the definition's rules refuse: `field` is its place (`connection.shop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// The definition's rules for an account's connection fields, the same wherever an account is
/// made (an import, an OAuth connection, a fixture's account): every name is a declared field,
/// a value is one of the field's `values` and matches its `pattern` (anchored); with
/// `complete`, a missing field gets its `default`, and a required one without a default is an
/// error. Returns the fields in the order given, defaults after.
pub fn check_connection_fields<'a>(
    integration: &crate::registry::Integration,
    given: impl IntoIterator<Item = (&'a str, &'a str)>,
    complete: bool,
) -> Result<Vec<(String, String)>, FieldError> {
    let fields = &integration.connection.fields;
    let at = |name: &str, message: String| FieldError { field: format!("connection.{name}"), message };
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, text) in given {
        let Some(field) = fields.get(name) else {
            let known: Vec<String> = fields.keys().cloned().collect();
            let takes = if known.is_empty() { "none".to_string() } else { list(&known) };
            return Err(at(name, format!("unknown connection field `{name}`: `{}` takes {takes}", integration.name)));
        };
        if let Some(values) = &field.values {
            if !values.iter().any(|v| v == text) {
                return Err(at(name, format!("`connection.{name}` must be one of {}", list(values))));
            }
        }
        if let Some(pattern) = &field.pattern {
            // Anchored: the whole value must match. The compiler checked the pattern compiles.
            if let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})$")) {
                if !re.is_match(text) {
                    return Err(at(name, format!("`connection.{name}` = `{text}` does not match `{pattern}`")));
                }
            }
        }
        out.push((name.to_string(), text.to_string()));
    }
    if complete {
        for (name, field) in fields {
            if out.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(default) = &field.default {
                out.push((name.clone(), default.clone()));
            } else if field.required {
                let about = field.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                return Err(at(name, format!("`{}` needs connection field `{name}`{about}", integration.name)));
            }
        }
    }
    Ok(out)
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
