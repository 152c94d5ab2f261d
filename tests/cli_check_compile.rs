//! `switchyard check` and `switchyard compile` end to end: exit codes, output formats,
//! determinism and the artifact's round trip.

mod common;

use common::{example, project_copy, repo};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use switchyard_registry::{Origin, Registry};
use switchyard_runtime::mapping::{evaluate, Bindings, EvalOptions, Mapping};

fn switchyard(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard")).args(args).current_dir(cwd).env("NO_COLOR", "1").output().expect("the binary runs")
}

#[test]
fn bundled_integrations_check_clean() {
    let out = switchyard(&["check", "integrations", "--deny-warnings"], &repo());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("ok:"), "{stderr}");
}

#[test]
fn invalid_definitions_exit_1_with_rustc_style_output() {
    let dir = project_copy();
    let file = dir.path().join(example().definition());
    let text = std::fs::read_to_string(&file).unwrap().replacen("\npagination:", "\npagnation:", 1);
    std::fs::write(&file, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("pagnation:")).unwrap() + 1;

    let out = switchyard(&["check"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0201]: unknown key `pagnation` in the top level"), "{stderr}");
    assert!(stderr.contains(&format!("--> {}:{line}:1", example().definition())), "{stderr}");
    assert!(stderr.contains(&format!("{line} | pagnation:")), "{stderr}");
    assert!(stderr.contains("^^^^^^^^^ not allowed here"), "{stderr}");
    assert!(stderr.contains("= help: did you mean `pagination`?"), "{stderr}");
    let summary = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(summary.starts_with("error: 1 error and 0 warnings in ") && summary.ends_with(" files checked"), "{stderr}");

    let out = switchyard(&["check", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["errors"], 1);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "E0201");
    assert_eq!(d["location"]["file"], example().definition());
    assert_eq!(d["location"]["line"], line);
    assert_eq!(d["location"]["column"], 1);
    assert_eq!(d["help"], "did you mean `pagination`?");
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = project_copy();
    let file = dir.path().join(example().definition());
    let text =
        std::fs::read_to_string(&file).unwrap().replacen("\nauth:", "\nconnection:\n  fields:\n    portal_id: { type: text }\nauth:", 1);
    std::fs::write(&file, text).unwrap();
    let out = switchyard(&["check"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning[W0401]: connection field `portal_id` is never used"), "{stderr}");
    let out = switchyard(&["check", "--deny-warnings"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn an_integration_no_model_maps_is_warned_about_at_its_name() {
    let dir = project_copy();
    let definition = example().definition();
    let folder = dir.path().join(&definition).parent().unwrap().to_path_buf();
    std::fs::remove_dir_all(folder.join("unified")).unwrap();
    let line = std::fs::read_to_string(dir.path().join(&definition)).unwrap().lines().position(|l| l.starts_with("name:")).unwrap() + 1;
    let out = switchyard(&["check", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "a warning only");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let warnings: Vec<_> = report["diagnostics"].as_array().unwrap().iter().filter(|d| d["code"] == "W0404").collect();
    assert_eq!(warnings.len(), 1, "{report}");
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(warnings[0]["location"]["file"], definition);
    assert_eq!((warnings[0]["location"]["line"].as_u64(), warnings[0]["location"]["column"].as_u64()), (Some(line as u64), Some(1)));
    assert!(warnings[0]["message"].as_str().unwrap().starts_with("no unified model maps `"), "{report}");
    let out = switchyard(&["check", "--deny-warnings"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}

/// A unified resource's default `response`: methods without their own get it, with the
/// origin of the default (so errors name its lines); a default no method uses is warned about.
#[test]
fn a_resource_default_response_is_shared_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("integrations/shared");
    std::fs::create_dir_all(folder.join("unified")).unwrap();
    std::fs::write(
        folder.join("integration.yaml"),
        "name: shared\nlabel: Shared\nbase_url: https://api.example.com\nauth: { type: bearer }\nverify: { resource: items, method: list }\n\
         resources:\n  items:\n    list: { method: GET, path: /items }\n    get: { method: GET, path: \"/items/{{params.id}}\" }\n",
    )
    .unwrap();
    let mapping = "model: crm\nresources:\n  contacts:\n    response: |\n      { \"id\": $string(id) }\n    list:\n      resource: items\n    get:\n      resource: items\n      response: '{ \"id\": $string(key) }'\n";
    std::fs::write(folder.join("unified/crm.yaml"), mapping).unwrap();
    let models = repo().join("schemas/models").display().to_string();
    let out = switchyard(&["compile", "integrations", "--out", "registry.json", "--models", &models, "--deny-warnings"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let registry: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("registry.json")).unwrap()).unwrap();
    let methods = &registry["integrations"][0]["unified"]["crm"]["resources"]["contacts"];
    assert_eq!(methods["list"]["response"]["source"], "{ \"id\": $string(id) }\n");
    assert_eq!(
        methods["list"]["response"]["origin"],
        serde_json::json!({ "file": "integrations/shared/unified/crm.yaml", "line": 5, "col": 7 })
    );
    assert_eq!(methods["get"]["response"]["source"], "{ \"id\": $string(key) }", "a method's own response wins");

    // Every method with its own response: the default is never used.
    std::fs::write(
        folder.join("unified/crm.yaml"),
        mapping.replace("    list:\n      resource: items\n", "    list:\n      resource: items\n      response: '{ \"id\": \"x\" }'\n"),
    )
    .unwrap();
    let out = switchyard(&["check", "integrations", "--models", &models], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning[W0405]: every method of `contacts` has its own `response`"), "{stderr}");
    assert!(stderr.contains("--> integrations/shared/unified/crm.yaml:4:5"), "{stderr}");
}

/// Shared functions: each expression that calls some is stored with them (and only them, the
/// ones they call first) bound in front of it, keeping its origin; the stored expression runs on
/// its own, on the fast path too, and an error raised inside a function names the expression
/// that called it. A function nobody calls is warned about at its name.
#[test]
fn shared_functions_are_bound_into_the_expressions_that_call_them() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("integrations/shared");
    std::fs::create_dir_all(folder.join("unified")).unwrap();
    let integration = "name: shared\nlabel: Shared\nbase_url: https://api.example.com\nauth: { type: bearer }\n\
         verify: { resource: items, method: list }\n\
         errors:\n  mapping: '{ \"code\": $s(body.code), \"message\": \"failed\" }'\n\
         functions:\n  s: \"function($x) { $x ? $x : null }\"\n  num: \"function($x) { $x + 0 }\"\n\
         resources:\n  items:\n    list: { method: GET, path: /items }\n";
    std::fs::write(folder.join("integration.yaml"), integration).unwrap();
    let mapping = "model: crm\nfunctions:\n  first: \"function($r) { $s($r.first) }\"\nresources:\n  contacts:\n    list:\n      resource: items\n      response: |\n        { \"id\": $string(id), \"first_name\": $first($), \"n\": $num(n) }\n";
    std::fs::write(folder.join("unified/crm.yaml"), mapping).unwrap();
    let models = repo().join("schemas/models").display().to_string();
    let out = switchyard(&["compile", "integrations", "--out", "registry.json", "--models", &models, "--deny-warnings"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let registry = Registry::from_json(&std::fs::read_to_string(dir.path().join("registry.json")).unwrap()).unwrap();
    let shared = &registry.integrations[0];

    let response = shared.unified["crm"].resources["contacts"]["list"].response.clone().unwrap();
    let expression = "{ \"id\": $string(id), \"first_name\": $first($), \"n\": $num(n) }\n";
    assert_eq!(response.written(), expression);
    assert_eq!(response.origin, Origin { file: "integrations/shared/unified/crm.yaml".into(), line: 9, col: 9 });
    let source = &response.source;
    assert!(source.starts_with("/*functions:"), "{source}");
    let at = |text: &str| source.find(text).unwrap_or_else(|| panic!("no `{text}` in {source}"));
    assert!(at("$s := ") < at("$first := "), "a function is bound after the ones it calls: {source}");
    at("$num := ");
    // The integration's own expressions get its functions too, only those they call.
    let error_mapping = &shared.errors.as_ref().unwrap().mapping.source;
    assert!(error_mapping.contains("$s := ") && !error_mapping.contains("$num"), "{error_mapping}");

    let compiled = Mapping::compile(&response).unwrap();
    assert!(compiled.is_compiled(), "shared functions keep an expression on the fast path");
    for mapping in [compiled.clone(), compiled.interpreted()] {
        let out = evaluate(&mapping, &json!({"id": 7, "first": "", "n": 2}), &Bindings::new(), &EvalOptions::default()).unwrap();
        assert_eq!(out, json!({"id": "7", "first_name": null, "n": 2}));
        // `$num`'s `$x + 0` fails on a string: the error names the expression that called it.
        let error = evaluate(&mapping, &json!({"id": 7, "n": "two"}), &Bindings::new(), &EvalOptions::default()).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("T2001"), "{error}");
        assert_eq!(error.origin, response.origin);
        assert!(error.to_string().starts_with("mapping error at integrations/shared/unified/crm.yaml:9:9: T2001: "), "{error}");
    }

    // A function no expression calls: warned about at its name.
    std::fs::write(folder.join("integration.yaml"), integration.replace("functions:\n", "functions:\n  unused: \"function() { 1 }\"\n"))
        .unwrap();
    let out = switchyard(&["check", "integrations", "--models", &models], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning[W0406]: the shared function `$unused` is never called"), "{stderr}");
    assert!(stderr.contains("--> integrations/shared/integration.yaml:9:3"), "{stderr}");
    let out = switchyard(&["check", "integrations", "--models", &models, "--deny-warnings"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchyard(&["check", "no-such-dir"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the integrations directory `no-such-dir`"));
    let out = switchyard(&["check", "--format", "xml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out =
        switchyard(&["compile", &repo().join("integrations").display().to_string(), "--out", "/nonexistent-dir/registry.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out = switchyard(&["explain", "E9999"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_prints_the_code_documentation() {
    let out = switchyard(&["explain", "e0201"], &repo());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("E0201 (error): unknown key"));
}

#[test]
fn compile_is_deterministic_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    for out in [&first, &second] {
        let result = switchyard(&["compile", "integrations", "--out", &out.display().to_string()], &repo());
        assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    }
    let a = std::fs::read(&first).unwrap();
    let b = std::fs::read(&second).unwrap();
    assert!(a == b, "two compiles of the same input differ");
    // The same bytes from a copy of the project elsewhere: no absolute paths leak in.
    let copy = project_copy();
    let third = dir.path().join("third.json");
    let result = switchyard(&["compile", "--out", &third.display().to_string()], copy.path());
    assert_eq!(result.status.code(), Some(0));
    assert!(std::fs::read(&third).unwrap() == a, "the artifact depends on where the project lives");

    let text = String::from_utf8(a).unwrap();
    let registry = Registry::from_json(&text).expect("the artifact loads");
    assert_eq!(registry.to_json(), text, "load + save is the identity");
    let example = example();
    let integration = registry.integration(&example.integration).expect("the example integration is compiled");
    assert!(integration.unified.contains_key(&example.model));
    assert!(registry.models.contains_key(&example.model));
    // The list method received the integration's default pagination.
    assert!(integration.resources[&example.resource].methods["list"].pagination.is_some());
    assert!(integration.resources[&example.resource].methods["get"].pagination.is_none());
}

#[test]
fn compile_of_invalid_definitions_writes_nothing() {
    let dir = project_copy();
    let file = dir.path().join(example().definition());
    let base_url = example().str("base_url");
    let insecure = base_url.replacen("https://", "http://", 1);
    assert_ne!(insecure, base_url, "the example's base URL is https");
    let text = std::fs::read_to_string(&file).unwrap().replacen(&format!("base_url: {base_url}"), &format!("base_url: {insecure}"), 1);
    std::fs::write(&file, text).unwrap();
    let out = switchyard(&["compile", "--out", "registry.json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[E0311]"));
    assert!(!dir.path().join("registry.json").exists());
}

#[test]
fn the_embedded_registry_matches_a_fresh_compile() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("registry.json");
    let result = switchyard(&["compile", "integrations", "--out", &out.display().to_string()], &repo());
    assert_eq!(result.status.code(), Some(0));
    let result = switchyard(&["registry"], &repo());
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(result.stdout == std::fs::read(&out).unwrap(), "the binary embeds a stale registry");
}

#[test]
fn registry_loader_rejects_other_versions() {
    let text = r#"{"format":"switchyard-registry","version":99,"integrations":[],"models":{}}"#;
    let error = Registry::from_json(text).unwrap_err().to_string();
    assert!(error.contains("version 99 is not supported"), "{error}");
    let error = Registry::from_json(r#"{"format":"other"}"#).unwrap_err().to_string();
    assert!(error.contains("not a Switchyard registry"), "{error}");
}

#[test]
fn registry_loader_rejects_uncompiled_templates() {
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard")).arg("registry").output().unwrap().stdout;
    let text = String::from_utf8(text).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["integrations"][0]["base_url"] = serde_json::Value::String("https://api.example.com".into());
    let error = Registry::from_json(&value.to_string()).unwrap_err().to_string();
    assert!(error.contains("a template in an artifact must be compiled"), "{error}");
}
