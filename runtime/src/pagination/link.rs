//! RFC 8288 `Link` headers: `<https://…?page=3>; rel="next", <…>; rel="last"`.

/// The target of the first link with relation `rel` in any of the header values.
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>, rel: &str) -> Option<String> {
    for value in values {
        for link in split_links(value) {
            let Some((target, params)) = link.trim().strip_prefix('<').and_then(|l| l.split_once('>')) else { continue };
            let matches = params.split(';').filter_map(|p| p.trim().split_once('=')).any(|(name, value)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && value.trim().trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case(rel))
            });
            if matches {
                return Some(target.trim().to_string());
            }
        }
    }
    None
}

/// Splits on the commas between links, not those inside `<…>` or quotes.
fn split_links(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_target, mut in_quotes) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quotes => in_target = true,
            '>' if !in_quotes => in_target = false,
            '"' if !in_target => in_quotes = !in_quotes,
            ',' if !in_target && !in_quotes => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_with_next_last_and_previous() {
        let numbered = r#"<https://api.example.com/repositories/1300192/issues?per_page=100&page=3>; rel="next", <https://api.example.com/repositories/1300192/issues?per_page=100&page=9>; rel="last""#;
        assert_eq!(
            next_link([numbered], "next").as_deref(),
            Some("https://api.example.com/repositories/1300192/issues?per_page=100&page=3")
        );
        assert_eq!(
            next_link([numbered], "last").as_deref(),
            Some("https://api.example.com/repositories/1300192/issues?per_page=100&page=9")
        );
        let opaque = r#"<https://shop.example-store.com/admin/api/2025-01/customers.json?limit=50&page_info=abc>; rel="previous", <https://shop.example-store.com/admin/api/2025-01/customers.json?limit=50&page_info=def>; rel="next""#;
        assert_eq!(
            next_link([opaque], "next").as_deref(),
            Some("https://shop.example-store.com/admin/api/2025-01/customers.json?limit=50&page_info=def")
        );
        assert_eq!(next_link([r#"<https://x.test/?a=1,2>; rel="prev""#], "next"), None);
        assert_eq!(next_link(["garbage", "<unterminated"], "next"), None);
    }
}
