//! Connection fields: patterns, defaults and enum values that agree with each other, and a
//! `from_callback` only where there is an OAuth redirect to read it from.

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{Auth, FieldType, Integration, OAuthGrant};

pub fn check(ctx: &mut Ctx, integration: &Integration) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, field) in &integration.connection.fields {
        let path = ["connection", "fields", name.as_str()];
        let normalized = normalize(name);
        if let Some((other, _)) = seen.iter().find(|(_, n)| *n == normalized) {
            let span = ctx.key_span(&path);
            ctx.push(
                Diagnostic::new(Code::Duplicate, format!("connection field `{name}` differs from `{other}` only in case or separators"))
                    .at(ctx.file, span)
                    .help("use one name"),
            );
        }
        seen.push((name.clone(), normalized));
        ctx.declared.connection.push(name.clone());

        let mut pattern = None;
        if let Some(source) = &field.pattern {
            if field.field_type == FieldType::Enum {
                let span = ctx.key_span(&[path[0], path[1], path[2], "pattern"]);
                ctx.push(
                    Diagnostic::new(Code::InvalidConnectionField, format!("enum field `{name}` cannot have a pattern"))
                        .at(ctx.file, span)
                        .help("its `values` already say what is allowed: remove `pattern`"),
                );
            }
            match regex::Regex::new(&anchored(source)) {
                Ok(re) => pattern = Some(re),
                Err(error) => {
                    let span = ctx.span(&[path[0], path[1], path[2], "pattern"]);
                    let message = error.to_string().lines().last().unwrap_or_default().trim().to_string();
                    ctx.push(
                        Diagnostic::new(Code::InvalidConnectionField, format!("the pattern of `{name}` is not a valid regular expression"))
                            .at(ctx.file, span)
                            .label(message)
                            .help("fix the regular expression (Rust regex syntax, no look-around)"),
                    );
                }
            }
        }
        match (field.field_type, &field.values) {
            (FieldType::Enum, Some(values)) => {
                if let Some(default) = &field.default {
                    if !values.contains(default) {
                        let span = ctx.span(&[path[0], path[1], path[2], "default"]);
                        ctx.push(
                            Diagnostic::new(
                                Code::InvalidConnectionField,
                                format!("default `{default}` of `{name}` is not one of its values"),
                            )
                            .at(ctx.file, span)
                            .help(format!("use one of: {}", values.join(", "))),
                        );
                    }
                }
            }
            (FieldType::Text | FieldType::Secret, Some(_)) => {
                let span = ctx.key_span(&[path[0], path[1], path[2], "values"]);
                ctx.push(
                    Diagnostic::new(Code::InvalidConnectionField, format!("`values` on `{name}`, which is not an enum field"))
                        .at(ctx.file, span)
                        .help("set `type: enum`, or remove `values`"),
                );
            }
            _ => {}
        }
        if let Some(param) = &field.from_callback {
            check_from_callback(ctx, integration, name, param);
        }
        if let (Some(re), Some(default)) = (&pattern, &field.default) {
            if !re.is_match(default) {
                let span = ctx.span(&[path[0], path[1], path[2], "default"]);
                ctx.push(
                    Diagnostic::new(Code::InvalidConnectionField, format!("default `{default}` of `{name}` does not match its pattern"))
                        .at(ctx.file, span)
                        .help("fix the default or the pattern"),
                );
            }
        }
    }
}

/// Parameters of the OAuth redirect that the protocol itself uses (RFC 6749 §4.1.2, RFC 9207).
const PROTOCOL_CALLBACK_PARAMS: &[&str] = &["code", "state", "error", "error_description", "error_uri", "iss"];

/// A field filled from the OAuth redirect: only the authorization-code grant has one, the
/// parameter is not one of the protocol's own, and no token-response field fills it as well.
fn check_from_callback(ctx: &mut Ctx, integration: &Integration, name: &str, param: &str) {
    let span = ctx.span(&["connection", "fields", name, "from_callback"]);
    let problem = match &integration.auth {
        Auth::OAuth2(oauth) if oauth.grant == OAuthGrant::AuthorizationCode => {
            if PROTOCOL_CALLBACK_PARAMS.contains(&param) {
                Some((
                    format!("`{name}` is filled from the callback's `{param}`, a parameter of the OAuth protocol"),
                    "name the provider's own redirect parameter".to_string(),
                ))
            } else if oauth.token_response.store.contains_key(name) {
                Some((
                    format!("`{name}` is filled both from the callback and by `auth.token_response.store`"),
                    "keep one of the two".to_string(),
                ))
            } else {
                None
            }
        }
        _ => Some((
            format!("`{name}` is filled from the OAuth callback, but the integration does not connect with the authorization-code grant"),
            "remove `from_callback`: without a consent redirect there is no callback to read".to_string(),
        )),
    };
    if let Some((message, help)) = problem {
        ctx.push(Diagnostic::new(Code::InvalidConnectionField, message).at(ctx.file, span).help(help));
    }
}

pub fn warn_unused(ctx: &mut Ctx, integration: &Integration) {
    for name in integration.connection.fields.keys() {
        if !ctx.declared.used_connection.contains(name) {
            let span = ctx.key_span(&["connection", "fields", name]);
            ctx.push(
                Diagnostic::new(Code::UnusedConnectionField, format!("connection field `{name}` is never used"))
                    .at(ctx.file, span)
                    .help(format!("use it as `{{{{connection.{name}}}}}`, store a token-response field into it, or remove it")),
            );
        }
    }
}

/// Patterns must match the whole value, as in JSON Schema's intent for connection input.
pub fn anchored(pattern: &str) -> String {
    format!("^(?:{})$", pattern.trim_start_matches('^').trim_end_matches('$'))
}

pub fn normalize(name: &str) -> String {
    name.to_lowercase().replace(['-', '_'], "")
}
