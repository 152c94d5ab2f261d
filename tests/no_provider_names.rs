//! No integration-specific code: no Rust source outside `integrations/` names a provider.
//!
//! The provider names come from the bundled definitions themselves (each integration's name,
//! the first word of its label, and the domain of its URLs), so the list grows with the
//! catalog. Comments are not checked: a comment may cite a provider as the reason for a
//! general rule ("Salesforce's 403 …"); code and string literals may not name one.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use switchyard_compiler::project::{self, Options};
use switchyard_registry::{Auth, Segment, Template};

/// Words that appear in provider domains but name nothing in particular.
const GENERIC: &[&str] =
    &["api", "app", "apps", "www", "auth", "login", "oauth", "com", "io", "net", "org", "dev", "rest", "admin", "v1", "v2", "v3"];

/// `tests/no_provider_names.allow`: a line `WORD` allows a provider name that is also an
/// ordinary word everywhere; `WORD PATH…` allows it in those files only (a name that means
/// something else there: `github` as the CI platform of `--format github`).
struct Allowed {
    everywhere: Vec<String>,
    in_files: Vec<(String, Vec<String>)>,
}

impl Allowed {
    fn read() -> Allowed {
        let text = std::fs::read_to_string(common::repo().join("tests/no_provider_names.allow")).unwrap_or_default();
        let mut allowed = Allowed { everywhere: Vec::new(), in_files: Vec::new() };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut parts = line.split_whitespace();
            let word = parts.next().unwrap_or_default().to_lowercase();
            let files: Vec<String> = parts.map(str::to_string).collect();
            if files.is_empty() {
                allowed.everywhere.push(word);
            } else {
                allowed.in_files.push((word, files));
            }
        }
        allowed
    }

    fn allows(&self, word: &str, file: &str) -> bool {
        self.in_files.iter().any(|(w, files)| w == word && files.iter().any(|f| f == file))
    }
}

fn provider_names() -> BTreeSet<String> {
    let repo = common::repo();
    let mut options = Options::new(repo.join("integrations"));
    options.models_dir = Some(repo.join("schemas/models"));
    let registry = project::check(&options).unwrap().registry.expect("the bundled integrations compile");
    let mut names = BTreeSet::new();
    for integration in &registry.integrations {
        names.insert(integration.name.to_lowercase());
        if let Some(word) = integration.label.split_whitespace().next() {
            names.insert(word.to_lowercase());
        }
        let mut urls: Vec<&Template> = vec![&integration.base_url];
        if let Auth::OAuth2(oauth) = &integration.auth {
            urls.push(&oauth.token_url);
            urls.extend(oauth.authorize_url.as_ref());
        }
        for url in urls {
            for segment in &url.segments {
                if let Segment::Text(text) = segment {
                    names.extend(domain_words(text));
                }
            }
        }
    }
    let allowed = Allowed::read();
    names.retain(|n| n.len() > 2 && !GENERIC.contains(&n.as_str()) && !allowed.everywhere.contains(n));
    names
}

/// The registrable-domain label of a URL's host (`api.hubapi.com` -> `hubapi`).
fn domain_words(text: &str) -> Vec<String> {
    let Some(rest) = text.split("://").nth(1) else { return Vec::new() };
    let host = rest.split(['/', '?', ':']).next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() < 2 {
        return Vec::new();
    }
    vec![labels[labels.len() - 2].to_lowercase()]
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "integrations" | ".git" | "node_modules") {
                rust_sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The source without comments (line, block and doc comments), strings kept.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            '"' => {
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        out.push(chars[i]);
                        i += 1;
                    }
                    if i < chars.len() {
                        out.push(chars[i]);
                    }
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn words(code: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    code.lines().enumerate().flat_map(|(n, line)| {
        line.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(move |w| (n + 1, w.to_lowercase()))
            .collect::<Vec<_>>()
    })
}

#[test]
fn no_rust_source_outside_integrations_names_a_provider() {
    let names = provider_names();
    assert!(names.len() >= 2, "the provider list is suspiciously short: {names:?}");
    let repo = common::repo();
    let mut files = Vec::new();
    rust_sources(&repo, &mut files);
    let allowed = Allowed::read();
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let relative = file.strip_prefix(&repo).unwrap().to_string_lossy().replace('\\', "/");
        for (line, word) in words(&code_only(&source)) {
            if names.contains(&word) && !allowed.allows(&word, &relative) {
                found.push(format!("{relative}:{line}: `{word}`"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "Rust code names providers ({} places); integration-specific behaviour belongs in YAML:\n{}",
        found.len(),
        found.join("\n")
    );
}
