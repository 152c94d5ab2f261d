//! Rate-limit blocks whose rules can match and whose units make sense.

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{Integration, NumberFormat, RateLimit, RetryAfterUnit};

/// The integration's block and each method's own.
pub fn check(ctx: &mut Ctx, integration: &Integration) {
    if let Some(rl) = &integration.rate_limit {
        check_block(ctx, rl, &["rate_limit"]);
    }
    for (resource_name, resource) in &integration.resources {
        for (method_name, method) in &resource.methods {
            if let Some(rl) = &method.rate_limit {
                check_block(ctx, rl, &["resources", resource_name, method_name, "rate_limit"]);
            }
        }
    }
}

fn check_block(ctx: &mut Ctx, rl: &RateLimit, at: &[&str]) {
    let mut problems: Vec<(Vec<String>, String, String)> = Vec::new();
    for (i, rule) in rl.limited_when.iter().enumerate() {
        for (j, status) in rule.status.iter().enumerate() {
            if *status < 400 {
                problems.push((
                    vec!["limited_when".into(), i.to_string(), "status".into(), j.to_string()],
                    format!("status {status} is not an error, so it cannot signal a rate limit"),
                    "list 4xx or 5xx statuses (429, or 403 with a header or body condition)".into(),
                ));
            }
        }
        // Only 429 says "rate limited" by itself; any other status (GitHub's 403, BambooHR's
        // 503) also means other failures, so it needs a condition that tells them apart.
        if rule.header.is_none() && rule.body.is_none() && rule.status.iter().any(|s| *s != 429 && *s >= 400) {
            problems.push((vec!["limited_when".into(), i.to_string()], format!("every {} response would count as rate limited", rule.status.iter().map(u16::to_string).collect::<Vec<_>>().join("/")), "add a `header` or `body` condition that tells a limit apart from other errors: a remaining-count header equal to \"0\", an error code in the body, a Retry-After header".into()));
        }
    }
    if let (Some(remaining), None) = (&rl.remaining, &rl.limit) {
        if remaining.format == NumberFormat::UsedOfLimit {
            problems.push((
                vec!["remaining".into()],
                "`remaining` in `used_of_limit` format needs `limit` from the same header".into(),
                format!("add `limit: {{ header: {}, format: used_of_limit }}`", remaining.header),
            ));
        }
    }
    if rl.retry_after.header.eq_ignore_ascii_case("retry-after")
        && !matches!(rl.retry_after.unit, RetryAfterUnit::Auto | RetryAfterUnit::DeltaSeconds | RetryAfterUnit::HttpDate)
    {
        problems.push((
            vec!["retry_after".into(), "unit".into()],
            "the standard Retry-After header holds seconds or an HTTP-date only".into(),
            "use `auto` (the default), `delta_seconds` or `http_date`, or name the provider's own header".into(),
        ));
    }
    if let (Some(reset), Some(remaining)) = (&rl.reset, &rl.remaining) {
        // One list header may hold both (`limit=…, remaining=…, reset=…`), told apart by prefix.
        if reset.header.eq_ignore_ascii_case(&remaining.header) && reset.prefix == remaining.prefix {
            problems.push((
                vec!["reset".into(), "header".into()],
                "`reset` and `remaining` read the same value".into(),
                "name the header that holds the reset time, or select its entry with `prefix`".into(),
            ));
        }
    }
    for (suffix, message, help) in problems {
        let mut full = at.to_vec();
        full.extend(suffix.iter().map(String::as_str));
        let span = ctx.span(&full);
        ctx.push(Diagnostic::new(Code::InconsistentRateLimit, message).at(ctx.file, span).help(help));
    }
}
