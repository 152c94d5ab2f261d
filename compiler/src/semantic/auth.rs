//! The auth block: credential fields declared once, OAuth settings that fit the grant,
//! token-response fields stored into declared connection fields.

use super::{templates, Ctx};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::schema::suggest_closest;
use switchyard_registry::{Auth, Integration, OAuthGrant, Scope};

const VALUE_SCOPES: &[Scope] = &[Scope::Connection, Scope::Credentials];

pub fn check(ctx: &mut Ctx, integration: &mut Integration) {
    let auth = &mut integration.auth;
    if auth.credentials_mut().is_none() {
        let defaults = auth.default_credentials().iter().map(|s| s.to_string()).collect();
        *auth.credentials_mut() = Some(defaults);
    }
    ctx.declared.credentials = auth.credentials().to_vec();

    match auth {
        Auth::None { .. } => {}
        Auth::ApiKey(a) => {
            templates::check(ctx, &mut a.value, &["auth", "value"], VALUE_SCOPES);
        }
        Auth::Bearer(a) => {
            templates::check(ctx, &mut a.token, &["auth", "token"], VALUE_SCOPES);
        }
        Auth::Basic(a) => {
            templates::check(ctx, &mut a.username, &["auth", "username"], VALUE_SCOPES);
            templates::check(ctx, &mut a.password, &["auth", "password"], VALUE_SCOPES);
        }
        Auth::Custom(a) => {
            if a.headers.is_empty() && a.query.is_empty() {
                let span = ctx.span(&["auth"]);
                ctx.push(
                    Diagnostic::new(Code::InconsistentAuth, "custom auth sets no header and no query parameter")
                        .at(ctx.file, span)
                        .help("add `headers:` or `query:` with the credential templates"),
                );
            }
            templates::check_map(ctx, &mut a.headers, &["auth", "headers"], VALUE_SCOPES);
            templates::check_map(ctx, &mut a.query, &["auth", "query"], VALUE_SCOPES);
        }
        Auth::OAuth2(o) => {
            match (o.grant, &o.authorize_url) {
                (OAuthGrant::AuthorizationCode, None) => {
                    let span = ctx.span(&["auth"]);
                    ctx.push(
                        Diagnostic::new(Code::InconsistentAuth, "the authorization-code grant needs `authorize_url`")
                            .at(ctx.file, span)
                            .label("no authorize_url")
                            .help("add `authorize_url:` (the provider's consent page), or set `grant: client_credentials`"),
                    );
                }
                (OAuthGrant::ClientCredentials, Some(_)) => {
                    let span = ctx.key_span(&["auth", "authorize_url"]);
                    ctx.push(
                        Diagnostic::new(Code::InconsistentAuth, "`authorize_url` is never used by the client-credentials grant")
                            .at(ctx.file, span)
                            .help("remove it, or set `grant: authorization_code`"),
                    );
                }
                _ => {}
            }
            if o.grant == OAuthGrant::ClientCredentials && o.pkce {
                let span = ctx.key_span(&["auth", "pkce"]);
                ctx.push(
                    Diagnostic::new(Code::InconsistentAuth, "PKCE applies to the authorization-code grant only")
                        .at(ctx.file, span)
                        .help("remove `pkce`"),
                );
            }
            if let Some(url) = &mut o.authorize_url {
                templates::check(ctx, url, &["auth", "authorize_url"], &[Scope::Connection]);
            }
            templates::check(ctx, &mut o.token_url, &["auth", "token_url"], &[Scope::Connection]);
            templates::check(ctx, &mut o.apply.value, &["auth", "apply", "value"], VALUE_SCOPES);
            templates::check(ctx, &mut o.client_id, &["auth", "client_id"], &[Scope::Install, Scope::Connection]);
            templates::check(ctx, &mut o.client_secret, &["auth", "client_secret"], &[Scope::Install, Scope::Connection]);
            templates::check_map(ctx, &mut o.token_params, &["auth", "token_params"], &[Scope::Connection, Scope::Install]);
            let declared = ctx.declared.connection.clone();
            for field in o.token_response.store.keys() {
                if declared.contains(field) {
                    ctx.declared.used_connection.insert(field.clone());
                    continue;
                }
                let span = ctx.key_span(&["auth", "token_response", "store", field]);
                let mut d = Diagnostic::new(
                    Code::InconsistentAuth,
                    format!("token-response field stored into `{field}`, which is not a declared connection field"),
                )
                .at(ctx.file, span);
                d = match suggest_closest(field, &declared) {
                    Some(best) => d.help(format!("did you mean `{best}`?")),
                    None => d.help(format!("declare it under `connection.fields.{field}`")),
                };
                ctx.push(d);
            }
        }
    }
}
