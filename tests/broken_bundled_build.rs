//! A broken bundled definition fails `cargo build` with the same diagnostic that
//! `switchyard check` prints. Runs a nested cargo build in its own target directory
//! (the outer `cargo test` holds the lock on the main one), so the first run compiles
//! the build script's dependencies once.

mod common;

use common::{copy_dir, example};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn broken_bundled_definition_fails_cargo_build_with_the_diagnostic() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo.join("integrations"), &dir.path().join("integrations"));
    copy_dir(&repo.join("schemas"), &dir.path().join("schemas"));
    let file = dir.path().join(example().definition());
    let text = std::fs::read_to_string(&file).unwrap().replacen("\npagination:", "\npagnation:", 1);
    std::fs::write(&file, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("pagnation:")).unwrap() + 1;

    // What `switchyard check` says about it.
    let check =
        Command::new(env!("CARGO_BIN_EXE_switchyard")).args(["check"]).current_dir(dir.path()).env("NO_COLOR", "1").output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let check_output = String::from_utf8_lossy(&check.stderr).to_string();
    let diagnostic = check_output.split("\n\n").next().unwrap().to_string();
    assert!(diagnostic.contains(&format!("{}:{line}:1", example().definition())), "{diagnostic}");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let build = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--bin", "switchyard"])
        .current_dir(&repo)
        .env("SWITCHYARD_INTEGRATIONS_DIR", dir.path().join("integrations"))
        .env("CARGO_TARGET_DIR", repo.join("target").join("nested-build-check"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(!build.status.success(), "the build passed with a broken definition:\n{stderr}");
    // Cargo indents a build script's output by two spaces.
    let indented: String = diagnostic.lines().map(|l| format!("  {l}").trim_end().to_string()).collect::<Vec<_>>().join("\n");
    let stderr_lines: String = stderr.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    assert!(stderr_lines.contains(&indented), "cargo build did not show the same diagnostic.\nexpected:\n{indented}\ngot:\n{stderr}");
    assert!(stderr.contains("do not compile"), "{stderr}");
}
