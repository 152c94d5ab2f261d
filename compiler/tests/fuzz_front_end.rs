//! Property tests over the front end: no input panics the YAML loader, the placeholder
//! grammar, the JSONata check or the whole checker, and every diagnostic points inside
//! its file. Runs in CI with proptest's default case count; for a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p switchyard-compiler --test fuzz_front_end`.

use proptest::prelude::*;
use std::path::PathBuf;
use switchyard_compiler::project::{self, Options};
use switchyard_compiler::source::SourceFile;
use switchyard_compiler::yaml::{self, Limits};
use switchyard_compiler::{jsonata, template};

/// The bundled integration the generic tests exercise (`integration` in tests/examples.json).
fn example_integration() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/examples.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let data: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    data["integration"].as_str().expect("tests/examples.json names an integration").to_string()
}

/// The example integration's definition, valid, for the mutations to start from.
fn definition() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../integrations/{}/integration.yaml", example_integration()));
    std::fs::read_to_string(path).unwrap()
}

/// Characters that matter to YAML, templates and JSONata, plus some that do not.
fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\n".to_string()),
            Just("  ".to_string()),
            Just("\t".to_string()),
            Just(": ".to_string()),
            Just("- ".to_string()),
            Just("{{".to_string()),
            Just("}}".to_string()),
            Just("&a ".to_string()),
            Just("*a".to_string()),
            Just("|".to_string()),
            Just("\"".to_string()),
            Just("'".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("#".to_string()),
            Just("---".to_string()),
            Just("!!str ".to_string()),
            Just("? ".to_string()),
            "[a-z_.$]{1,8}",
            "\\PC{1,4}",
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

/// A mutation of a valid definition: cut, insert, duplicate or swap lines.
fn mutated() -> impl Strategy<Value = String> {
    let base = definition();
    let lines = base.lines().count();
    (0..4u8, 0..lines, 0..lines, yamlish()).prop_map(move |(kind, a, b, noise)| {
        let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
        match kind {
            0 => {
                let (lo, hi) = (a.min(b), a.max(b).min(a.min(b) + 5));
                lines.drain(lo..hi);
            }
            1 => {
                let at = a.min(lines.len());
                let col = lines.get(at).map(|l| b % (l.len() + 1)).unwrap_or(0);
                if let Some(line) = lines.get_mut(at) {
                    let col = (0..=col).rev().find(|c| line.is_char_boundary(*c)).unwrap_or(0);
                    line.insert_str(col, &noise);
                }
            }
            2 => {
                let copy = lines[a].clone();
                lines.insert(b, copy);
            }
            _ => lines.swap(a, b),
        }
        lines.join("\n")
    })
}

fn spans_in_bounds(diagnostics: &[switchyard_compiler::diagnostic::Diagnostic], files: &[SourceFile]) {
    for d in diagnostics {
        if let Some(file) = d.file.map(|i| &files[i]) {
            let chars = file.text.chars().count();
            assert!(d.span.start <= chars && d.span.end <= chars + 1, "{:?} outside {} ({chars} chars)", d, file.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn yaml_loader_never_panics(text in yamlish()) {
        let file = SourceFile::new("f.yaml", "f.yaml", text);
        let (node, diagnostics) = yaml::load(0, &file, &Limits::default());
        if let Some(node) = node {
            let _ = node.to_json();
        }
        spans_in_bounds(&diagnostics, std::slice::from_ref(&file));
    }

    #[test]
    fn placeholder_grammar_never_panics(text in yamlish()) {
        match template::parse(&text) {
            Ok(pieces) => {
                let chars: Vec<char> = text.chars().collect();
                for piece in pieces {
                    if let template::Piece::Var(var) = piece {
                        let written: String = chars[var.start..var.end].iter().collect();
                        prop_assert!(written.starts_with("{{") && written.ends_with("}}"), "{written}");
                    }
                }
            }
            Err(error) => prop_assert!(error.start <= error.end && error.end <= text.chars().count()),
        }
    }

    #[test]
    fn jsonata_check_never_panics(text in yamlish()) {
        if let Err(error) = jsonata::check(&text) {
            prop_assert!(error.offset <= text.chars().count());
        }
    }

    #[test]
    fn checker_never_panics_on_mutated_definitions(text in mutated()) {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("integrations").join(example_integration());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("integration.yaml"), &text).unwrap();
        let mut options = Options::new(dir.path().join("integrations"));
        options.models_dir = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/models"));
        let outcome = project::check(&options).unwrap();
        spans_in_bounds(&outcome.diagnostics.items, &outcome.files);
        // Either the definition compiles or it says why.
        prop_assert!(outcome.registry.is_some() || outcome.has_errors());
    }
}
