//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the bundled project (integrations and schemas) in a temp dir, to break at will.
pub fn project_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("integrations"), &dir.path().join("integrations"));
    copy_dir(&repo().join("schemas"), &dir.path().join("schemas"));
    dir
}

/// The bundled integration, fixtures and provider vocabulary that the generic tests exercise,
/// read from `tests/examples.json`: Rust code outside `integrations/` names no provider.
pub struct Example {
    /// The whole data file, for the test-specific parts (`example().get("record")`).
    pub data: serde_json::Value,
    /// The bundled integration the tests break, replay and record.
    pub integration: String,
    /// Its unified model and resource that the cases below read (`crm`, `contacts`).
    pub model: String,
    pub resource: String,
    /// Where a list page keeps its records.
    pub records: String,
    /// A two-page list case, a get case and a merge-shaped list case of its fixtures.
    pub list_case: String,
    pub get_case: String,
    pub merge_case: String,
}

impl Example {
    /// The value at `key` (`a.b` descends), which must exist.
    pub fn get(&self, key: &str) -> &serde_json::Value {
        key.split('.').fold(&self.data, |value, k| value.get(k).unwrap_or_else(|| panic!("tests/examples.json has no `{key}`")))
    }

    /// The string at `key` (`a.b` descends), which must exist.
    pub fn str(&self, key: &str) -> &str {
        self.get(key).as_str().unwrap_or_else(|| panic!("tests/examples.json: `{key}` is not a string"))
    }

    /// `integrations/<integration>/<rest>`, relative to the project.
    pub fn path(&self, rest: &str) -> String {
        format!("integrations/{}/{rest}", self.integration)
    }

    /// A fixture case's id as `switchyard test` names it: `<integration>/<case>`.
    pub fn case(&self, case: &str) -> String {
        format!("{}/{case}", self.integration)
    }

    /// The integration's definition file, relative to the project.
    pub fn definition(&self) -> String {
        self.path("integration.yaml")
    }

    /// The unified mapping file of the example model, relative to the project.
    pub fn mapping_file(&self) -> String {
        self.path(&format!("unified/{}.yaml", self.model))
    }

    /// The differential sample data of the example resource (`tests/differential/samples/…`).
    pub fn sample(&self) -> PathBuf {
        repo().join(format!("tests/differential/samples/{}/{}.json", self.integration, self.resource))
    }
}

pub fn example() -> &'static Example {
    static EXAMPLE: std::sync::OnceLock<Example> = std::sync::OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let path = repo().join("tests/examples.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let data: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let field = |key: &str| data[key].as_str().unwrap_or_else(|| panic!("tests/examples.json: `{key}` is not a string")).to_string();
        Example {
            integration: field("integration"),
            model: field("model"),
            resource: field("resource"),
            records: field("records"),
            list_case: field("list_case"),
            get_case: field("get_case"),
            merge_case: field("merge_case"),
            data,
        }
    })
}
