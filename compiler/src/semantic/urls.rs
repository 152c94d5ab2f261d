//! URLs: the base URL, OAuth URLs and docs URL must be absolute https URLs once their
//! placeholders are filled in.

use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use switchyard_registry::{Auth, Integration, Segment, Template};

pub fn check(ctx: &mut Ctx, integration: &Integration) {
    check_template(ctx, &integration.base_url, &["base_url"], false);
    // Some token endpoints carry a fixed query (BambooHR's `token.php?request=token`).
    if let Auth::OAuth2(o) = &integration.auth {
        if let Some(url) = &o.authorize_url {
            check_template(ctx, url, &["auth", "authorize_url"], true);
        }
        check_template(ctx, &o.token_url, &["auth", "token_url"], true);
    }
    if let Some(docs) = &integration.docs_url {
        check_text(ctx, docs, &["docs_url"], true);
    }
}

/// Fills each placeholder with a stand-in: a whole URL if it opens the template (such as
/// `{{connection.instance_url}}/services/data`), else a plain label.
fn sample(template: &Template) -> String {
    if template.segments.is_empty() {
        return template.source.clone();
    }
    let mut out = String::new();
    for (i, segment) in template.segments.iter().enumerate() {
        match segment {
            Segment::Text(t) => out.push_str(t),
            Segment::Var { .. } if i == 0 => out.push_str("https://placeholder.example"),
            Segment::Var { .. } => out.push_str("placeholder"),
        }
    }
    out
}

fn check_template(ctx: &mut Ctx, template: &Template, path: &[&str], allow_query: bool) {
    let text = sample(template);
    check_text(ctx, &text, path, allow_query);
}

fn check_text(ctx: &mut Ctx, text: &str, path: &[&str], allow_query: bool) {
    let span = ctx.span(path);
    let problem = match url::Url::parse(text) {
        Err(error) => Some((
            format!("`{text}` is not a valid URL: {error}"),
            "write an absolute URL such as `https://api.example.com/v1`".to_string(),
        )),
        Ok(url) => {
            let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if url.scheme() != "https" && !(url.scheme() == "http" && local) {
                Some((
                    format!("`{text}` uses `{}:`; provider URLs must use https", url.scheme()),
                    "use `https://` (plain http is allowed for localhost only; point a sandbox elsewhere with `--upstream`)".to_string(),
                ))
            } else if url.host_str().is_none_or(str::is_empty) {
                Some((format!("`{text}` has no host"), "write an absolute URL with a host".to_string()))
            } else if !allow_query && (url.query().is_some() || url.fragment().is_some()) {
                Some((format!("`{text}` holds a query string or fragment"), "move query parameters under `query:`".to_string()))
            } else {
                None
            }
        }
    };
    if let Some((message, help)) = problem {
        ctx.push(Diagnostic::new(Code::InvalidUrl, message).at(ctx.file, span).label("invalid URL").help(help));
    }
}
