//! Filling `{{scope.field}}` placeholders, encoded for where the template stands, so a
//! value can never change the route: an id of `../admin?x=1#` stays one path segment.

use crate::account::{Connection, Credentials};
use crate::error::{ErrorKind, RuntimeError};
use crate::registry::{Scope, Segment, Template};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left alone in a path segment: RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Each value becomes exactly one path segment.
    PathSegment,
    /// The base URL: a leading placeholder may hold a whole origin (`{{connection.instance_url}}`);
    /// others are host labels or path segments and may not hold URL syntax.
    BaseUrl,
    /// Query values and header values: the URL builder or HTTP layer encodes them.
    Raw,
}

/// The values placeholders can read.
#[derive(Debug, Clone, Copy)]
pub struct Scopes<'a> {
    pub connection: &'a Connection,
    pub credentials: &'a Credentials,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    pub install: Option<&'a crate::account::Install>,
}

pub fn render(template: &Template, scopes: &Scopes, encoding: Encoding) -> Result<String, RuntimeError> {
    let mut out = String::with_capacity(template.source.len());
    for (index, segment) in template.segments.iter().enumerate() {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Var { scope, field } => {
                let value = lookup(scopes, *scope, field)?;
                match encoding {
                    Encoding::Raw => out.push_str(&value),
                    Encoding::PathSegment => out.push_str(&path_segment(&value, field)?),
                    Encoding::BaseUrl if index == 0 => out.push_str(&origin(&value, field)?),
                    Encoding::BaseUrl => out.push_str(&url_part(&value, field)?),
                }
            }
        }
    }
    Ok(out)
}

fn lookup(scopes: &Scopes, scope: Scope, field: &[String]) -> Result<String, RuntimeError> {
    let name = field.join(".");
    let missing = || {
        let message = match scope {
            Scope::Install => format!("the integration's install has no `{name}`: configure its OAuth client (client id and secret) first"),
            Scope::Connection => format!("the account has no connection field `{name}`"),
            _ => format!("`{}.{name}` has no value for this call", scope.name()),
        };
        RuntimeError::new(ErrorKind::InvalidRequest, message)
    };
    let value = match scope {
        Scope::Connection => scopes.connection.get(&name).map(str::to_string),
        Scope::Credentials => scopes.credentials.get(&name).map(str::to_string),
        Scope::Params => match scopes.params.get(&name) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        },
        Scope::Install => scopes.install.and_then(|i| i.get(&name)).map(str::to_string),
        Scope::Request => None,
    };
    value.ok_or_else(missing)
}

fn path_segment(value: &str, field: &[String]) -> Result<String, RuntimeError> {
    // `.` and `..` survive percent-encoding as dot segments (URL parsers decode `%2e`), so
    // they are refused rather than encoded; an empty value would change the route too.
    if value.is_empty() || value.chars().all(|c| c == '.') {
        return Err(RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` cannot be {value:?} in a path", field.join("."))));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

/// A whole origin from a connection field (Salesforce's `instance_url`): http(s), no
/// credentials, query or fragment.
fn origin(value: &str, field: &[String]) -> Result<String, RuntimeError> {
    let bad = |why: &str| {
        RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` is not a usable base URL ({why}): {value:?}", field.join(".")))
    };
    let url = url::Url::parse(value).map_err(|_| bad("not an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("only http and https are allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("credentials, query and fragment are not allowed"));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// A host label or path piece inside a base URL (Shopify's shop, Zendesk's subdomain).
fn url_part(value: &str, field: &[String]) -> Result<String, RuntimeError> {
    if value.is_empty()
        || !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || value.chars().all(|c| c == '.')
    {
        return Err(RuntimeError::new(
            ErrorKind::InvalidRequest,
            format!("`{}` may hold only letters, digits, `-`, `_` and `.` inside a base URL: {value:?}", field.join(".")),
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{Connection, Credentials};

    fn template(source: &str, segments: Vec<Segment>) -> Template {
        Template { source: source.into(), segments }
    }

    fn var(scope: Scope, name: &str) -> Segment {
        Segment::Var { scope, field: vec![name.into()] }
    }

    #[test]
    fn hostile_ids_stay_one_segment() {
        let t = template("/contacts/{{params.id}}", vec![Segment::Text("/contacts/".into()), var(Scope::Params, "id")]);
        let connection = Connection::default();
        let credentials = Credentials::default();
        let render_id = |id: &str| {
            let params = serde_json::json!({ "id": id }).as_object().unwrap().clone();
            render(
                &t,
                &Scopes { connection: &connection, credentials: &credentials, params: &params, install: None },
                Encoding::PathSegment,
            )
        };
        assert_eq!(render_id("../admin?x=1#frag").unwrap(), "/contacts/..%2Fadmin%3Fx%3D1%23frag");
        assert_eq!(render_id("a b/c").unwrap(), "/contacts/a%20b%2Fc");
        assert!(render_id("..").is_err());
        assert!(render_id(".").is_err());
        assert!(render_id("").is_err());
    }

    #[test]
    fn base_url_placeholders() {
        let t = template(
            "{{connection.instance_url}}/services/data",
            vec![var(Scope::Connection, "instance_url"), Segment::Text("/services/data".into())],
        );
        let mut connection = Connection::default();
        let credentials = Credentials::default();
        let params = serde_json::Map::new();
        connection.set("instance_url", "https://na1.crm.example.com/");
        let scopes = Scopes { connection: &connection, credentials: &credentials, params: &params, install: None };
        assert_eq!(render(&t, &scopes, Encoding::BaseUrl).unwrap(), "https://na1.crm.example.com/services/data");
        connection.set("instance_url", "javascript:alert(1)");
        let scopes = Scopes { connection: &connection, credentials: &credentials, params: &params, install: None };
        assert!(render(&t, &scopes, Encoding::BaseUrl).is_err());

        let shop = template(
            "https://{{connection.shop}}.myshopify.com",
            vec![Segment::Text("https://".into()), var(Scope::Connection, "shop"), Segment::Text(".myshopify.com".into())],
        );
        connection.set("shop", "evil.com/x?");
        let scopes = Scopes { connection: &connection, credentials: &credentials, params: &params, install: None };
        assert!(render(&shop, &scopes, Encoding::BaseUrl).is_err());
    }
}
