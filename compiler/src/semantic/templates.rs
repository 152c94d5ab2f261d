//! Placeholders: parsed by the grammar, then each scope and field checked against what
//! the definition declares and what the place allows.

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::schema::suggest_closest;
use crate::source::Span;
use crate::template::{self, Piece};
use crate::yaml::offset;
use indexmap::IndexMap;
use switchyard_registry::{Scope, Template};

/// Fields of the `install` scope: the environment's install of the integration.
pub const INSTALL_FIELDS: &[&str] = &["client_id", "client_secret", "webhook_secret"];
/// Fields of the `request` scope: an inbound webhook request.
pub const REQUEST_FIELDS: &[&str] = &["method", "url", "body", "timestamp"];

/// Checks and compiles one template. Returns the `params` fields it uses.
pub fn check(ctx: &mut Ctx, template: &mut Template, path: &[&str], allowed: &[Scope]) -> Vec<String> {
    let node = ctx.node(path);
    let at = |ctx: &Ctx, start: usize, end: usize| -> Span {
        match node {
            Some(node) => Span::new(offset::char_index(ctx.source, node, start), offset::char_index(ctx.source, node, end)),
            None => ctx.span(path),
        }
    };
    let defaulted = node.is_none();
    let pieces = match template::parse(&template.source) {
        Ok(pieces) => pieces,
        Err(error) => {
            let span = at(ctx, error.start, error.end);
            ctx.push(Diagnostic::new(Code::MalformedPlaceholder, error.message).at(ctx.file, span).label("malformed").help(error.help));
            return Vec::new();
        }
    };
    let mut params = Vec::new();
    let mut valid = true;
    for piece in &pieces {
        let Piece::Var(var) = piece else { continue };
        let span = at(ctx, var.start, var.end);
        let written = format!("{{{{{}.{}}}}}", var.scope, var.field.join("."));
        let context = if defaulted { format!(" (the default value `{}`)", template.source) } else { String::new() };
        let Some(scope) = Scope::from_name(&var.scope).filter(|s| allowed.contains(s)) else {
            valid = false;
            let names: Vec<String> = allowed.iter().map(|s| s.name().to_string()).collect();
            let message = if Scope::from_name(&var.scope).is_some() {
                format!("the `{}` scope cannot be used here{context}", var.scope)
            } else {
                format!("unknown placeholder scope `{}`{context}", var.scope)
            };
            let mut d = Diagnostic::new(Code::UnknownScope, message).at(ctx.file, span).label(format!("in `{written}`"));
            d = match suggest_closest(&var.scope, &names) {
                Some(best) if Scope::from_name(&var.scope).is_none() => {
                    d.help(format!("did you mean `{best}`? scopes allowed here: {}", names.join(", ")))
                }
                _ => d.help(format!("scopes allowed here: {}", if names.is_empty() { "none".to_string() } else { names.join(", ") })),
            };
            ctx.push(d);
            continue;
        };
        let declared: Vec<String> = match scope {
            Scope::Connection => ctx.declared.connection.clone(),
            Scope::Credentials => ctx.declared.credentials.clone(),
            Scope::Install => INSTALL_FIELDS.iter().map(|s| s.to_string()).collect(),
            Scope::Request => REQUEST_FIELDS.iter().map(|s| s.to_string()).collect(),
            Scope::Params => {
                if var.field.len() != 1 {
                    valid = false;
                    ctx.push(
                        Diagnostic::new(Code::UnknownField, format!("`{written}` has a nested field; params are flat"))
                            .at(ctx.file, span)
                            .help("write `{{params.name}}`"),
                    );
                } else {
                    params.push(var.field[0].clone());
                }
                continue;
            }
        };
        let field = &var.field[0];
        if var.field.len() != 1 || !declared.contains(field) {
            valid = false;
            let what = match scope {
                Scope::Connection => "connection field",
                Scope::Credentials => "credential",
                Scope::Install => "install field",
                _ => "request field",
            };
            let mut d = Diagnostic::new(Code::UnknownField, format!("`{written}` names an undeclared {what}{context}"))
                .at(ctx.file, span)
                .label("not declared");
            d = match (suggest_closest(field, &declared), scope) {
                (Some(best), _) if var.field.len() == 1 => d.help(format!("did you mean `{{{{{}.{best}}}}}`?", var.scope)),
                (_, Scope::Connection) => d.help(format!("declare it under `connection.fields.{field}`")),
                (_, Scope::Credentials) => d.help(format!(
                    "add `{field}` to the auth's `credentials` list (declared: {})",
                    if declared.is_empty() { "none".into() } else { declared.join(", ") }
                )),
                _ => d.help(format!("fields of `{}`: {}", var.scope, declared.join(", "))),
            };
            ctx.push(d);
            continue;
        }
        if scope == Scope::Connection {
            ctx.declared.used_connection.insert(field.clone());
        }
    }
    if valid {
        *template = template::compile(&template.source, &pieces);
    }
    params
}

/// Checks every template of a map (`headers`, `query`).
pub fn check_map(ctx: &mut Ctx, map: &mut IndexMap<String, Template>, path: &[&str], allowed: &[Scope]) -> Vec<String> {
    let mut params = Vec::new();
    for (name, template) in map.iter_mut() {
        let mut full: Vec<&str> = path.to_vec();
        full.push(name);
        params.extend(check(ctx, template, &full, allowed));
    }
    params
}
