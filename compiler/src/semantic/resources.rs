//! Resources and methods: paths that cannot be bent, templates in scope, names that do
//! not collide.

use super::connection::normalize;
use super::{templates, Ctx};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{Integration, Scope, Segment};

const SHARED: &[Scope] = &[Scope::Connection, Scope::Credentials];
const METHOD: &[Scope] = &[Scope::Params, Scope::Connection, Scope::Credentials];

pub fn check(ctx: &mut Ctx, integration: &mut Integration) {
    templates::check(ctx, &mut integration.base_url, &["base_url"], SHARED);
    templates::check_map(ctx, &mut integration.headers, &["headers"], SHARED);
    templates::check_map(ctx, &mut integration.query, &["query"], SHARED);

    let mut seen: Vec<(String, String)> = Vec::new();
    for (resource_name, resource) in integration.resources.iter_mut() {
        let normalized = normalize(resource_name);
        if let Some((other, _)) = seen.iter().find(|(_, n)| *n == normalized) {
            let span = ctx.key_span(&["resources", resource_name]);
            ctx.push(
                Diagnostic::new(
                    Code::Duplicate,
                    format!("resource `{resource_name}` duplicates `{other}` (the names differ only in case or separators)"),
                )
                .at(ctx.file, span)
                .label("duplicate resource")
                .help("merge the two resources, or give this one a distinct name"),
            );
        }
        seen.push((resource_name.clone(), normalized));
        for (method_name, method) in resource.methods.iter_mut() {
            let base = ["resources", resource_name.as_str(), method_name.as_str()];
            let path_at = [base[0], base[1], base[2], "path"];
            let mut params = templates::check(ctx, &mut method.path, &path_at, METHOD);
            check_path_text(ctx, &method.path.segments, &method.path.source, &path_at);
            params.extend(templates::check_map(ctx, &mut method.query, &[base[0], base[1], base[2], "query"], METHOD));
            params.extend(templates::check_map(ctx, &mut method.headers, &[base[0], base[1], base[2], "headers"], METHOD));
            params.dedup();
            ctx.declared.method_params.insert((resource_name.clone(), method_name.clone()), params);
        }
    }
}

fn check_path_text(ctx: &mut Ctx, segments: &[Segment], source: &str, path: &[&str]) {
    let text: String =
        segments.iter().filter_map(|s| if let Segment::Text(t) = s { Some(t.as_str()) } else { None }).collect::<Vec<_>>().join("x");
    // (That it starts with `/` is the schema's rule.)
    let problem = if text.contains('?') || text.contains('#') {
        Some(("a method path must not hold a query string or fragment", "move query parameters under the method's `query:`"))
    } else if source.split('/').any(|s| s == ".." || s == ".") {
        Some(("a method path must not hold `.` or `..` segments", "write the path in full"))
    } else {
        None
    };
    if let Some((message, help)) = problem {
        let span = ctx.span(path);
        ctx.push(Diagnostic::new(Code::InvalidPath, message).at(ctx.file, span).label("invalid path").help(help));
    }
}
