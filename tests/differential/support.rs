//! Shared by `tests/mapping_differential.rs` and `benches/mapping.rs`: the npm reference
//! implementation (installed on demand into `target/npm`), and the bundled registry.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The reference implementation's version (jsonata-js), the one the engine was measured against.
pub const JSONATA_VERSION: &str = "2.2.2";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/npm`: where `npm install --prefix` puts the reference implementation.
pub fn npm_prefix() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| repo().join("target")).join("npm")
}

/// `NODE_PATH` for a node that can `require('jsonata')`, installing it when missing.
/// `Err` says why the reference cannot run (no node or no npm on this machine); a failed
/// install panics, since CI must not pass by skipping.
pub fn reference() -> Result<PathBuf, String> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            if Command::new("node").arg("--version").output().is_err() {
                return Err("node is not installed".into());
            }
            let prefix = npm_prefix();
            let modules = prefix.join("node_modules");
            let installed = std::fs::read_to_string(modules.join("jsonata/package.json"))
                .map(|text| text.contains(&format!("\"version\": \"{JSONATA_VERSION}\"")))
                .unwrap_or(false);
            if !installed {
                std::fs::create_dir_all(&prefix).expect("create target/npm");
                let status = Command::new("npm")
                    .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&prefix)
                    .arg(format!("jsonata@{JSONATA_VERSION}"))
                    .status();
                match status {
                    Err(_) => return Err("npm is not installed".into()),
                    Ok(status) => assert!(status.success(), "npm install jsonata@{JSONATA_VERSION} failed ({status})"),
                }
            }
            Ok(modules)
        })
        .clone()
}

/// The registry embedded in the `switchyard` binary (`switchyard registry`).
pub fn registry() -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard")).arg("registry").output().expect("run switchyard registry");
    assert!(output.status.success(), "switchyard registry failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the registry is JSON")
}

/// `integrations[].unified.<model>.resources.<resource>.list.response` of a bundled integration:
/// its source and its origin.
pub fn list_response(registry: &serde_json::Value, integration: &str, model: &str, resource: &str) -> (String, serde_json::Value) {
    let definition = registry["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == integration)
        .unwrap_or_else(|| panic!("{integration} is not bundled"));
    let expr = &definition["unified"][model]["resources"][resource]["list"]["response"];
    (expr["source"].as_str().expect("the mapping has a response").to_string(), expr["origin"].clone())
}

/// Runs `tests/differential/reference.js` on a jobs document; one outcome per case.
pub fn run_reference(node_path: &Path, jobs: &serde_json::Value) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.json");
    std::fs::write(&file, serde_json::to_vec(jobs).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(repo().join("tests/differential/reference.js"))
        .arg(&file)
        .env("NODE_PATH", node_path)
        .output()
        .expect("run node");
    assert!(output.status.success(), "reference.js failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("reference.js prints JSON")
}

/// Every `{source, origin}` object under `value`, with its path.
pub fn collect<'a>(value: &'a serde_json::Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a serde_json::Value)>) {
    match value {
        serde_json::Value::Object(map) if map.contains_key("source") && map.contains_key("origin") => out.push((path.clone(), value)),
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                path.push(key.clone());
                collect(item, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                collect(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}
