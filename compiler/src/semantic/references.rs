//! References between parts: `verify` and unified mappings name provider resources and
//! methods that exist, supply every path parameter, and target a known unified model.

use super::expressions::check_expr;
use super::{templates, Ctx};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::schema::suggest_closest;
use crate::source::Span;
use indexmap::IndexMap;
use switchyard_registry::{Expr, Integration, Scope, UnifiedMethodName, UnifiedModel};

/// Checks that a (resource, method) exists; returns the params it needs if it does.
/// `method_at` is where the method is named: its own key, or (when implied by the
/// unified method) the unified method's key.
fn target(ctx: &mut Ctx, integration: &Integration, resource: &str, method: &str, at: &[&str], method_at: Span) -> Option<Vec<String>> {
    let Some(found) = integration.resources.get(resource) else {
        let names: Vec<String> = integration.resources.keys().cloned().collect();
        let span = ctx.span(&[at, &["resource"]].concat());
        let mut d = Diagnostic::new(Code::UnknownResource, format!("`{}` has no resource `{resource}`", integration.name))
            .at(ctx.file, span)
            .label("unknown resource");
        d = match suggest_closest(resource, &names) {
            Some(best) => d.help(format!("did you mean `{best}`?")),
            None => d.help(format!("resources of `{}`: {}", integration.name, names.join(", "))),
        };
        ctx.push(d);
        return None;
    };
    if !found.methods.contains_key(method) {
        let names: Vec<String> = found.methods.keys().cloned().collect();
        let span = method_at;
        let mut d = Diagnostic::new(Code::UnknownMethod, format!("resource `{resource}` has no method `{method}`"))
            .at(ctx.file, span)
            .label("unknown method");
        d = match suggest_closest(method, &names) {
            Some(best) => d.help(format!("did you mean `{best}`?")),
            None => d.help(format!(
                "methods of `{resource}`: {} (or define `{method}` under `resources.{resource}` in integration.yaml)",
                names.join(", ")
            )),
        };
        ctx.push(d);
        return None;
    }
    Some(ctx.declared.method_params.get(&(resource.to_string(), method.to_string())).cloned().unwrap_or_default())
}

pub fn check_verify(ctx: &mut Ctx, integration: &mut Integration) {
    let Some(mut verify) = integration.verify.take() else {
        let span = ctx.key_span(&["auth"]);
        ctx.push(Diagnostic::new(Code::VerifyMissing, format!("`{}` has no `verify` call", integration.name)).at(ctx.file, span).help(
            "add `verify: { resource: …, method: list, query: { limit: \"1\" } }` so imported tokens are tested before they are stored",
        ));
        return;
    };
    templates::check_map(ctx, &mut verify.params, &["verify", "params"], &[Scope::Connection]);
    templates::check_map(ctx, &mut verify.query, &["verify", "query"], &[Scope::Connection]);
    let method_span = ctx.span(&["verify", "method"]);
    if let Some(needed) = target(ctx, integration, &verify.resource, &verify.method, &["verify"], method_span) {
        for param in needed.iter().filter(|p| !verify.params.contains_key(*p)) {
            let span = ctx.key_span(&["verify"]);
            ctx.push(
                Diagnostic::new(
                    Code::ParamNotSupplied,
                    format!("`{}.{}` uses `{{{{params.{param}}}}}`, which `verify` does not supply", verify.resource, verify.method),
                )
                .at(ctx.file, span)
                .help(format!("add `params: {{ {param}: \"…\" }}` to `verify`")),
            );
        }
    }
    integration.verify = Some(verify);
}

/// The unified models known to the project: model -> resource -> JSON Schema.
pub type Models = IndexMap<String, IndexMap<String, serde_json::Value>>;

/// Checks a unified mapping file. Without `integration` (it failed its own checks) the
/// references to it are skipped but everything else is still checked.
/// Unified resource -> its default `response` (source text), as written in the file.
pub type ResourceDefaults = IndexMap<String, String>;

/// Removes each unified resource's default `response` from the parsed mapping file (it is not
/// a method, so the typed model has no place for it) and returns them. The schema has already
/// checked that such a value is a string.
pub fn take_resource_defaults(json: &mut serde_json::Value) -> ResourceDefaults {
    let mut defaults = ResourceDefaults::new();
    if let Some(serde_json::Value::Object(resources)) = json.get_mut("resources") {
        for (name, resource) in resources.iter_mut() {
            if let Some(serde_json::Value::String(source)) = resource.as_object_mut().and_then(|r| r.remove("response")) {
                defaults.insert(name.clone(), source);
            }
        }
    }
    defaults
}

pub fn check_unified(
    ctx: &mut Ctx,
    unified: &mut UnifiedModel,
    integration: Option<&Integration>,
    stem: &str,
    models: &Models,
    defaults: &ResourceDefaults,
) {
    if unified.model != stem {
        let span = ctx.span(&["model"]);
        ctx.push(
            Diagnostic::new(Code::NameMismatch, format!("model `{}` is in the file `{stem}.yaml`", unified.model))
                .at(ctx.file, span)
                .help(format!("rename the file to `{}.yaml`, or set `model: {stem}`", unified.model)),
        );
    }
    if let Some(envelope) = &mut unified.envelope {
        check_expr(ctx, envelope, &["envelope"]);
    }
    let model_schemas = models.get(&unified.model);
    if model_schemas.is_none() {
        let span = ctx.span(&["model"]);
        let names: Vec<String> = models.keys().cloned().collect();
        let mut d = Diagnostic::new(
            Code::UnknownModel,
            format!("no unified model `{}`: schemas/models/{}/ does not exist", unified.model, unified.model),
        )
        .at(ctx.file, span);
        d = match suggest_closest(&unified.model, &names) {
            Some(best) => d.help(format!("did you mean `{best}`?")),
            None => d.help(format!("add the model's JSON Schemas under schemas/models/{}/", unified.model)),
        };
        ctx.push(d);
    }
    for (resource_name, methods) in unified.resources.iter_mut() {
        if let Some(schemas) = model_schemas {
            if !schemas.contains_key(resource_name) {
                let span = ctx.key_span(&["resources", resource_name]);
                let names: Vec<String> = schemas.keys().cloned().collect();
                let mut d = Diagnostic::new(Code::UnknownModel, format!("model `{}` has no resource `{resource_name}`", unified.model))
                    .at(ctx.file, span);
                d = match suggest_closest(resource_name, &names) {
                    Some(best) => d.help(format!("did you mean `{best}`?")),
                    None => {
                        d.help(format!("add schemas/models/{}/{resource_name}.json, or use one of: {}", unified.model, names.join(", ")))
                    }
                };
                ctx.push(d);
            }
        }
        // The resource's default `response`, checked once at its own place; a method without
        // a `response` of its own (delete aside) gets it, with that origin.
        let default_response = defaults.get(resource_name).map(|source| {
            let mut expr = Expr { source: source.clone(), origin: Default::default() };
            check_expr(ctx, &mut expr, &["resources", resource_name, "response"]);
            expr
        });
        let mut defaulted: Vec<String> = Vec::new();
        if let Some(expr) = &default_response {
            for (method_name, mapping) in methods.iter_mut() {
                if mapping.response.is_none() && method_name != "delete" {
                    mapping.response = Some(expr.clone());
                    defaulted.push(method_name.clone());
                }
            }
            if defaulted.is_empty() {
                let span = ctx.key_span(&["resources", resource_name, "response"]);
                ctx.push(
                    Diagnostic::new(
                        Code::UnusedDefaultResponse,
                        format!("every method of `{resource_name}` has its own `response`, so this default is never used"),
                    )
                    .at(ctx.file, span)
                    .help("remove the default, or the copies it was meant to replace"),
                );
            }
        }
        for (method_name, mapping) in methods.iter_mut() {
            let at = ["resources", resource_name.as_str(), method_name.as_str()];
            let provider_method = mapping.method.clone().unwrap_or_else(|| method_name.clone());
            let method_at = if mapping.method.is_some() { ctx.span(&[at[0], at[1], at[2], "method"]) } else { ctx.key_span(&at) };
            let needed = integration.and_then(|integration| target(ctx, integration, &mapping.resource, &provider_method, &at, method_at));
            // The artifact names the provider method explicitly, defaulted or not.
            mapping.method = Some(provider_method.clone());
            if let Some(needed) = needed {
                let implicit = UnifiedMethodName::from_name(method_name).map(|m| m.implicit_params()).unwrap_or(&[]);
                for param in needed.iter().filter(|p| !implicit.contains(&p.as_str()) && !mapping.params.contains_key(*p)) {
                    let span = ctx.key_span(&at);
                    ctx.push(
                        Diagnostic::new(Code::ParamNotSupplied, format!("`{}.{provider_method}` uses `{{{{params.{param}}}}}`, which this mapping does not supply", mapping.resource))
                            .at(ctx.file, span)
                            .label("mapping without the parameter")
                            .help(format!("add `params: {{ {param}: <JSONata> }}` to this mapping (the unified call supplies only `id`, and only to get, update and delete)")),
                    );
                }
            }
            for (name, expr) in mapping.params.iter_mut() {
                check_expr(ctx, expr, &[at[0], at[1], at[2], "params", name]);
            }
            for (key, expr) in [
                ("query", &mut mapping.query),
                ("body", &mut mapping.body),
                ("response", &mut mapping.response),
                ("error", &mut mapping.error),
            ] {
                // A defaulted response was checked, and its origin set, at the resource.
                if key == "response" && defaulted.contains(method_name) {
                    continue;
                }
                if let Some(expr) = expr {
                    check_expr(ctx, expr, &[at[0], at[1], at[2], key]);
                }
            }
            if mapping.response.is_none() && method_name != "delete" {
                let span = ctx.key_span(&at);
                ctx.push(
                    Diagnostic::new(
                        Code::UnmappedModelResource,
                        format!("unified `{resource_name}.{method_name}` has no `response` mapping"),
                    )
                    .at(ctx.file, span)
                    .help("add `response:` mapping one provider record to the model"),
                );
            }
        }
    }
}
