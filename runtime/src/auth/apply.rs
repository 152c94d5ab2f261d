//! Puts an account's credentials on a request, as the definition's auth says.

use crate::error::RuntimeError;
use crate::http::{render, Encoding, Scopes, UpstreamRequest};
use crate::registry::{Auth, Placement, Template};
use base64::Engine as _;

pub fn apply(auth: &Auth, scopes: &Scopes, request: &mut UpstreamRequest) -> Result<(), RuntimeError> {
    match auth {
        Auth::None { .. } => {}
        Auth::ApiKey(a) => place(request, a.placement, &a.name, &a.value, scopes)?,
        Auth::Bearer(a) => {
            let token = render(&a.token, scopes, Encoding::Raw)?;
            request.set_header("Authorization", format!("Bearer {token}"));
        }
        Auth::Basic(a) => {
            let user = render(&a.username, scopes, Encoding::Raw)?;
            let password = render(&a.password, scopes, Encoding::Raw)?;
            request.set_header("Authorization", basic(&user, &password));
        }
        Auth::Custom(a) => {
            for (name, value) in &a.headers {
                place(request, Placement::Header, name, value, scopes)?;
            }
            for (name, value) in &a.query {
                place(request, Placement::Query, name, value, scopes)?;
            }
        }
        Auth::OAuth2(o) => place(request, o.apply.placement, &o.apply.name, &o.apply.value, scopes)?,
    }
    Ok(())
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn place(request: &mut UpstreamRequest, placement: Placement, name: &str, value: &Template, scopes: &Scopes) -> Result<(), RuntimeError> {
    let value = render(value, scopes, Encoding::Raw)?;
    match placement {
        Placement::Header => request.set_header(name, value),
        Placement::Query => {
            let pairs: Vec<(String, String)> =
                request.url.query_pairs().filter(|(n, _)| n != name).map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
            let mut query = request.url.query_pairs_mut();
            query.clear();
            for (n, v) in &pairs {
                query.append_pair(n, v);
            }
            query.append_pair(name, &value);
        }
    }
    Ok(())
}
