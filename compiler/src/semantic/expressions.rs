//! JSONata expressions: parsed at compile time, errors reported at their line inside
//! the YAML block, origins recorded for errors at request time.

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::yaml::offset;
use switchyard_registry::{Auth, Expr, Integration, Origin, Pagination};

/// Checks one expression and records where it was written.
pub fn check_expr(ctx: &mut Ctx, expr: &mut Expr, path: &[&str]) {
    let node = ctx.node(path);
    let start = node.map(|n| offset::char_index(ctx.source, n, 0)).unwrap_or_else(|| ctx.span(path).start);
    let (line, col) = ctx.source.line_col(start);
    expr.origin = Origin { file: ctx.origin_name.clone(), line: line as u32, col: col as u32 };
    if expr.source.trim().is_empty() {
        let span = ctx.span(path);
        ctx.push(
            Diagnostic::new(Code::JsonataSyntax, "empty JSONata expression")
                .at(ctx.file, span)
                .help("write the expression, or remove the key"),
        );
        return;
    }
    if let Err(error) = crate::jsonata::check(&expr.source) {
        let at = match node {
            Some(node) => offset::char_index(ctx.source, node, error.offset),
            None => start,
        };
        let mut d = Diagnostic::new(Code::JsonataSyntax, format!("JSONata syntax error: {}", error.message))
            .at(ctx.file, Span::new(at, at + 1))
            .label("here");
        if let Some(code) = &error.code {
            d = d.note(format!("JSONata error code {code}"));
        }
        ctx.push(d.help("fix the expression (the JSONata language: https://docs.jsonata.org)"));
    }
}

pub fn check(ctx: &mut Ctx, integration: &mut Integration) {
    if let Some(errors) = &mut integration.errors {
        check_expr(ctx, &mut errors.mapping, &["errors", "mapping"]);
        for (i, rule) in errors.when.iter_mut().enumerate() {
            if let Some(body) = &mut rule.body {
                let index = i.to_string();
                check_expr(ctx, body, &["errors", "when", &index, "body"]);
            }
        }
    }
    if let Some(Pagination::Dynamic { next, .. }) = &mut integration.pagination {
        check_expr(ctx, next, &["pagination", "next"]);
    }
    for (resource_name, resource) in integration.resources.iter_mut() {
        for (method_name, method) in resource.methods.iter_mut() {
            if let Some(Pagination::Dynamic { next, .. }) = &mut method.pagination {
                check_expr(ctx, next, &["resources", resource_name, method_name, "pagination", "next"]);
            }
            if let Some(errors) = &mut method.errors {
                for (i, rule) in errors.when.iter_mut().enumerate() {
                    if let Some(body) = &mut rule.body {
                        let index = i.to_string();
                        check_expr(ctx, body, &["resources", resource_name, method_name, "errors", "when", &index, "body"]);
                    }
                }
            }
        }
    }
    if let Some(rl) = &mut integration.rate_limit {
        for (i, rule) in rl.limited_when.iter_mut().enumerate() {
            if let Some(body) = &mut rule.body {
                let index = i.to_string();
                check_expr(ctx, body, &["rate_limit", "limited_when", &index, "body"]);
            }
        }
    }
    for (resource_name, resource) in &mut integration.resources {
        for (method_name, method) in &mut resource.methods {
            let Some(rl) = &mut method.rate_limit else { continue };
            for (i, rule) in rl.limited_when.iter_mut().enumerate() {
                if let Some(body) = &mut rule.body {
                    let index = i.to_string();
                    check_expr(ctx, body, &["resources", resource_name, method_name, "rate_limit", "limited_when", &index, "body"]);
                }
            }
        }
    }
    if let Some(webhooks) = &mut integration.webhooks {
        check_expr(ctx, &mut webhooks.events, &["webhooks", "events"]);
    }
    if let Auth::OAuth2(oauth) = &mut integration.auth {
        for (i, rule) in oauth.token_response.error_when.iter_mut().enumerate() {
            if let Some(body) = &mut rule.body {
                let index = i.to_string();
                check_expr(ctx, body, &["auth", "token_response", "error_when", &index, "body"]);
            }
        }
    }
}
