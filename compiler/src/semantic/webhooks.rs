//! Webhook verification: a scheme whose parts fit together.

use super::{templates, Ctx};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{Integration, Scope, SignatureFormat, WebhookVerify};

const SECRET: &[Scope] = &[Scope::Install, Scope::Connection];

pub fn check(ctx: &mut Ctx, integration: &mut Integration) {
    let Some(webhooks) = &mut integration.webhooks else {
        return;
    };
    let mut problems: Vec<(Vec<&str>, String, String)> = Vec::new();
    match &mut webhooks.verify {
        WebhookVerify::None {} => {}
        WebhookVerify::Hmac { secret, signature, signed_content, timestamp, .. } => {
            templates::check(ctx, secret, &["webhooks", "verify", "secret"], SECRET);
            templates::check(ctx, signed_content, &["webhooks", "verify", "signed_content"], &[Scope::Request]);
            // (The schema requires `key` for key_value signatures, and a source for a timestamp.)
            if signature.format == SignatureFormat::Plain && signature.key.is_some() {
                problems.push((
                    vec!["signature", "key"],
                    "`key` is only used with `format: key_value`".into(),
                    "set `format: key_value`, or remove `key`".into(),
                ));
            }
            let uses_timestamp = signed_content.source.contains("request.timestamp");
            match timestamp {
                Some(ts) => match (&ts.header, &ts.key) {
                    (Some(_), Some(_)) => problems.push((
                        vec!["timestamp"],
                        "a timestamp comes from a `header` or from a `key` of the signature header, not both".into(),
                        "keep one of `header` and `key`".into(),
                    )),
                    (None, Some(_)) if signature.format != SignatureFormat::KeyValue => problems.push((
                        vec!["timestamp", "key"],
                        "a timestamp `key` needs a `key_value` signature".into(),
                        "set `signature.format: key_value`, or read the timestamp from a `header`".into(),
                    )),
                    _ => {}
                },
                None if uses_timestamp => problems.push((
                    vec!["signed_content"],
                    "the signed content uses `{{request.timestamp}}` but no `timestamp` says where it comes from".into(),
                    "add `timestamp:` with its `header` (or `key`) and `unit`".into(),
                )),
                None => {}
            }
        }
        WebhookVerify::Basic { username, password } => {
            templates::check(ctx, username, &["webhooks", "verify", "username"], SECRET);
            templates::check(ctx, password, &["webhooks", "verify", "password"], SECRET);
        }
        WebhookVerify::StandardWebhooks { secret, .. } => {
            templates::check(ctx, secret, &["webhooks", "verify", "secret"], SECRET);
        }
    }
    for (suffix, message, help) in problems {
        let mut full = vec!["webhooks", "verify"];
        full.extend(suffix);
        let span = ctx.span(&full);
        ctx.push(Diagnostic::new(Code::InconsistentWebhook, message).at(ctx.file, span).help(help));
    }
}
