//! Semantic checks: everything the schema cannot see. They run on documents that passed
//! the schema, walk the typed definition with the JSON path of each part (to find its
//! span), push every problem found, and fill in what the registry needs (parsed
//! templates, expression origins).

mod auth;
mod connection;
mod context;
mod error_rules;
mod expressions;
mod functions;
mod pagination;
mod rate_limit;
mod references;
mod resources;
mod templates;
mod urls;
mod webhooks;

pub use context::{Ctx, Declared};
pub use functions::{bind_functions, check_functions, take_functions, Functions};
pub use references::{check_unified, take_resource_defaults, Models, ResourceDefaults};

use crate::diagnostic::Diagnostic;
use switchyard_registry::Integration;

/// Checks one `integration.yaml` and compiles its templates and expressions in place.
pub fn check_integration(ctx: &mut Ctx, integration: &mut Integration, folder_name: &str) {
    if integration.name != folder_name {
        let span = ctx.span(&["name"]);
        ctx.push(
            Diagnostic::new(
                crate::codes::Code::NameMismatch,
                format!("integration `{}` is in the folder `{folder_name}`", integration.name),
            )
            .at(ctx.file, span)
            .label("does not match the folder")
            .help(format!("rename the folder to `{}`, or set `name: {folder_name}`", integration.name)),
        );
    }
    connection::check(ctx, integration);
    auth::check(ctx, integration);
    resources::check(ctx, integration);
    // After the templates it reads were compiled by `auth` and `resources`.
    urls::check(ctx, integration);
    rate_limit::check(ctx, integration);
    error_rules::check(ctx, integration);
    webhooks::check(ctx, integration);
    // Before pagination, which copies the default into each list method.
    expressions::check(ctx, integration);
    pagination::check(ctx, integration);
    references::check_verify(ctx, integration);
    connection::warn_unused(ctx, integration);
}
