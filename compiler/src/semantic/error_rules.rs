//! `errors.when` rules (the integration's and each method's) that can match, and only what
//! they mean to.

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{Auth, Integration, ResponseRule};

pub fn check(ctx: &mut Ctx, integration: &Integration) {
    let mut problems: Vec<(Vec<String>, String, String)> = Vec::new();
    if let Some(errors) = &integration.errors {
        check_rules(&errors.when, &["errors".into(), "when".into()], &mut problems);
    }
    // `auth.token_response.error_when`: the same rule shape, on the token endpoint's answers.
    if let Auth::OAuth2(oauth) = &integration.auth {
        let at = ["auth".into(), "token_response".into(), "error_when".into()];
        check_rules(&oauth.token_response.error_when, &at, &mut problems);
    }
    for (resource_name, resource) in &integration.resources {
        for (method_name, method) in &resource.methods {
            if let Some(errors) = &method.errors {
                let at = ["resources".into(), resource_name.clone(), method_name.clone(), "errors".into(), "when".into()];
                check_rules(&errors.when, &at, &mut problems);
            }
        }
    }
    for (path, message, help) in problems {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let span = ctx.span(&path);
        ctx.push(Diagnostic::new(Code::InconsistentErrorRule, message).at(ctx.file, span).help(help));
    }
}

/// The conditions of rules that name their kind (`errors.when`, `error_when`), whatever kinds
/// they assign.
fn check_rules<K>(rules: &[ResponseRule<K>], at: &[String], problems: &mut Vec<(Vec<String>, String, String)>) {
    for (i, rule) in rules.iter().enumerate() {
        let mut rule_path = at.to_vec();
        rule_path.push(i.to_string());
        let conditional = rule.header.is_some() || rule.body.is_some();
        if rule.status.is_empty() && !conditional {
            problems.push((
                rule_path.clone(),
                "an error rule without `status`, `header` or `body` makes every response an error".into(),
                "add the condition that tells this error apart: a `body` expression (`deleted = true`), a `header`, or the `status` it comes with".into(),
            ));
            continue;
        }
        for (j, status) in rule.status.iter().enumerate() {
            let mut status_path = rule_path.clone();
            status_path.extend(["status".to_string(), j.to_string()]);
            if *status < 200 {
                problems.push((
                    status_path,
                    format!("status {status} is informational, never a final answer, so this rule cannot match it"),
                    "list the status of the final response".into(),
                ));
            } else if (200..300).contains(status) && !conditional {
                problems.push((
                    status_path,
                    format!("every {status} response would be an error"),
                    "add a `body` (or `header`) condition that tells the error apart from a success, such as `deleted = true`".into(),
                ));
            }
        }
    }
}
