//! The CI formats of `switchyard test` and `switchyard check` (docs/ci.md), run on copies of
//! the bundled project broken on purpose: JUnit XML that validates against the common JUnit
//! schema (`tests/data/junit.xsd`, with `xmllint`), GitHub workflow commands at the line
//! that is wrong, and the JSON report with its totals.

mod common;

use common::{example, project_copy, repo};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The format of GitHub workflow commands (`--format github`). The word is also a bundled
/// provider's name, which tests/no_provider_names.rs looks for: it is spelled out once.
const ANNOTATIONS: &str = "github";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn switchyard(args: &[&str], cwd: &Path) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the switchyard binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- exit {} ---\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Replaces the first occurrence of `from` (which must exist) in `path`.
fn edit_first(path: &Path, from: &str, to: &str) {
    let original = std::fs::read_to_string(path).unwrap();
    assert!(original.contains(from), "{} does not contain {from:?}", path.display());
    std::fs::write(path, original.replacen(from, to, 1)).unwrap();
}

/// The 1-based line and column of the first line of `path` containing `needle`, at `at`
/// within that line.
fn place(path: &Path, needle: &str, at: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let index = text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{} has no {needle:?}", path.display()));
    let line = text.lines().nth(index).unwrap();
    (index + 1, line[..line.find(at).unwrap()].chars().count() + 1)
}

/// The example mapping writes the wrong value into `first_name` (the last name): the list
/// case's snapshot no longer matches. Returns the line and column of that `"first_name"`.
fn break_first_name(project: &Path) -> (usize, usize) {
    let mapping = project.join(example().mapping_file());
    let source = example().str("mapping.first_name");
    let wrong = source.replace("firstname", "lastname");
    assert_ne!(wrong, source, "tests/examples.json: mapping.first_name reads `firstname`");
    edit_first(&mapping, &format!("\"first_name\": {source}"), &format!("\"first_name\": {wrong}"));
    place(&mapping, &format!("\"first_name\": {wrong}"), "\"first_name\"")
}

/// The example get case's fixture gets an unknown key whose value holds control characters
/// (BEL, a colour sequence, a lone ESC, SOH), which XML 1.0 cannot carry. Returns the key's
/// line.
fn break_get_fixture(project: &Path) -> usize {
    let fixture = project.join(example().path(&format!("fixtures/{}.yaml", example().get_case)));
    let text = std::fs::read_to_string(&fixture).unwrap();
    let line = text.lines().position(|l| l.starts_with("call:")).unwrap() + 1;
    let broken = text.replacen("\ncall:", "\nbogus: \"bell\u{7} escape\u{1b}[31m colour\u{1b} lone\u{1}\"\ncall:", 1);
    std::fs::write(&fixture, broken).unwrap();
    line
}

/// The `xmllint` to validate with, or `None` (saying so) when it is not installed outside CI.
fn xmllint() -> Option<&'static str> {
    let installed = Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success());
    if installed {
        return Some("xmllint");
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "the JUnit schema check needs xmllint (Debian: apt-get install libxml2-utils; .ci/run installs it)");
    println!("SKIPPED the schema validation: xmllint is not installed (Debian: apt-get install libxml2-utils)");
    None
}

/// Validates `xml` against tests/data/junit.xsd.
fn validate(xml: &str, what: &str) {
    let Some(xmllint) = xmllint() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let output = Command::new(xmllint)
        .args(["--noout", "--schema"])
        .arg(repo().join("tests/data/junit.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint runs");
    assert!(
        output.status.success(),
        "{what}: the JUnit report does not validate against tests/data/junit.xsd:\n{}\n--- report ---\n{xml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
    let start = element.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {element}")) + name.len() + 3;
    &element[start..start + element[start..].find('"').unwrap()]
}

#[test]
fn junit_report_validates_against_the_junit_schema() {
    let dir = project_copy();
    let example = example();
    break_first_name(dir.path());
    break_get_fixture(dir.path());
    let filter = example.case("");
    let run = switchyard(&["test", "--format", "junit", "--filter", &filter], dir.path());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"), "{run}");
    validate(&run.stdout, "failing cases");

    // One suite for the integration, with its counts; one case per fixture.
    let suite = run.stdout.lines().find(|l| l.trim_start().starts_with("<testsuite ")).unwrap();
    let cases = run.stdout.matches("<testcase ").count();
    let (failures, errors) = (run.stdout.matches("<failure ").count(), run.stdout.matches("<error ").count());
    assert_eq!(attribute(suite, "name"), example.integration);
    assert_eq!(attribute(suite, "tests"), cases.to_string());
    assert_eq!((attribute(suite, "failures"), attribute(suite, "errors")), (failures.to_string().as_str(), "1"), "{suite}");
    assert!(failures >= 1 && errors == 1, "{run}");
    attribute(suite, "time").parse::<f64>().expect("time is a number of seconds");

    // Only XML on stdout; the human report and the summary on stderr.
    let summary = format!("{} passed, {} failed", cases - failures - errors, failures + errors);
    assert_eq!(run.stderr.trim_end().lines().last(), Some(summary.as_str()), "{run}");
    assert!(run.stderr.contains(&format!("FAILED {}", example.case(&example.list_case))), "{run}");

    // The snapshot mismatch is a failure carrying the diff; the fixture that does not load an error.
    let testcase = |name: &str| {
        let start = format!("<testcase classname=\"{}\" name=\"{name}\" time=\"", example.integration);
        let at = run.stdout.find(&start).unwrap_or_else(|| panic!("no {start}\n{run}"));
        let rest = &run.stdout[at..];
        rest[..rest.find("</testcase>").map_or(rest.find('>').unwrap(), |end| end)].to_string()
    };
    let failure = testcase(&example.list_case);
    assert!(failure.contains("<failure type=\"snapshot\" message=\"the outcome differs from "), "{failure}");
    assert!(
        failure.contains("(- snapshot, + now):\n") && failure.contains(" -             \"first_name\": \"Ada\","),
        "the diff: {failure}"
    );
    let error = testcase(&example.get_case);
    assert!(error.contains("<error type=\"fixture\" message=\"unknown key `bogus` in the top level\">error[E0201]"), "{error}");
    // The characters XML cannot carry are written out; colour sequences are dropped.
    assert!(error.contains("bell\\u{7} escape colour\\u{1b} lone\\u{1}"), "{error}");
    assert!(!run.stdout.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')), "no raw control character");
}

#[test]
fn junit_report_of_definitions_that_do_not_compile_validates() {
    let dir = project_copy();
    let file = dir.path().join(example().definition());
    edit_first(&file, "\npagination:", "\npagnation:");
    let run = switchyard(&["test", "--format", "junit"], dir.path());
    assert_eq!(run.code, 1, "{run}");
    validate(&run.stdout, "definitions that do not compile");
    assert!(run.stdout.contains("<testcase classname=\"definitions\" name=\"compile\""), "{run}");
    assert!(run.stdout.contains("<error type=\"definitions\" message=\"the definitions do not compile, so no fixture can run\">"), "{run}");
    assert!(
        run.stdout.contains(&format!("error[E0201]: unknown key `pagnation` in the top level\n  --&gt; {}:", example().definition())),
        "{run}"
    );
    assert_eq!(run.stderr.trim_end().lines().last(), Some("0 passed, 1 failed"), "{run}");
}

#[test]
fn annotations_point_at_the_mapping_line() {
    let dir = project_copy();
    let example = example();
    let (line, col) = break_first_name(dir.path());
    let case = example.case(&example.list_case);
    let run = switchyard(&["test", "--format", ANNOTATIONS, "--filter", &case], dir.path());
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "::error file={},line={line},col={col},endLine={line},endColumn={},title={}%3A snapshot mismatch::snapshot: the outcome differs from ",
        example.mapping_file(),
        col + "\"first_name\"".len() - 1,
        case
    );
    assert!(run.stdout.lines().any(|l| l.starts_with(&expected)), "expected a line starting with\n{expected}\n{run}");
    // Every line is one workflow command (the message's line breaks escaped) or the summary.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"0 passed, 1 failed"), "{run}");
    assert!(lines[..lines.len() - 1].iter().all(|l| l.starts_with("::error ") || l.starts_with("::warning ")), "{run}");
    assert!(run.stdout.contains("%0A"), "{run}");
    assert!(run.stderr.contains(&format!("FAILED {case}")), "the human report goes to stderr: {run}");

    // A number where the model says string, accepted into the snapshot: the shape check
    // fails at the line of the mapping that writes the field.
    let dir = project_copy();
    let mapping = dir.path().join(example.mapping_file());
    let owner = example.str("mapping.owner_id");
    edit_first(&mapping, &format!("\"owner_id\": $s({owner})"), &format!("\"owner_id\": {owner} ? $number({owner}) : null"));
    let (line, col) = place(&mapping, &format!("\"owner_id\": {owner} ? $number"), "\"owner_id\"");
    let accepted = switchyard(&["test", "--filter", &case, "--update"], dir.path());
    assert!(accepted.stdout.contains("updated "), "{accepted}");
    let run = switchyard(&["test", "--format", ANNOTATIONS, "--filter", &case], dir.path());
    assert_eq!(run.code, 1, "{run}");
    let expected = format!("::error file={},line={line},col={col},", example.mapping_file());
    let annotation = run.stdout.lines().find(|l| l.starts_with(&expected)).unwrap_or_else(|| panic!("no {expected}\n{run}"));
    assert!(annotation.contains(&format!("title={case}%3A schema violation::")), "{annotation}");
    assert!(annotation.contains(".results[0].owner_id: 9001 is not of types"), "{annotation}");
    assert!(!run.stdout.contains("snapshot mismatch"), "the snapshot itself matches: {run}");

    // A fixture that does not load: at the diagnostic's place, titled with its code.
    let dir = project_copy();
    let line = break_get_fixture(dir.path());
    let case = example.case(&example.get_case);
    let run = switchyard(&["test", "--format", ANNOTATIONS, "--filter", &case], dir.path());
    assert_eq!(run.code, 1, "{run}");
    let expected = format!(
        "::error file={},line={line},col=1,endLine={line},endColumn=5,title={case}%3A E0201::unknown key `bogus` in the top level%0Ahelp: ",
        example.path(&format!("fixtures/{}.yaml", example.get_case))
    );
    assert!(run.stdout.starts_with(&expected), "expected\n{expected}\n{run}");
}

#[test]
fn check_annotates_a_broken_definition() {
    let dir = project_copy();
    let definition = example().definition();
    let file = dir.path().join(&definition);
    edit_first(&file, "\npagination:", "\npagnation:");
    let (line, _) = place(&file, "pagnation:", "pagnation");
    let run = switchyard(&["check", "--format", ANNOTATIONS], dir.path());
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        run.stdout,
        format!(
            "::error file={definition},line={line},col=1,endLine={line},endColumn=9,title=E0201::unknown key `pagnation` in the top level%0Ahelp: did you mean `pagination`?\n"
        ),
        "{run}"
    );
    assert!(run.stderr.contains("error[E0201]: unknown key `pagnation` in the top level"), "the human report on stderr: {run}");

    // Run from elsewhere, the file is named from the working directory.
    let parent = dir.path().parent().unwrap();
    let name = dir.path().file_name().unwrap().to_string_lossy().into_owned();
    let run = switchyard(&["check", "--format", ANNOTATIONS, &format!("{name}/integrations")], parent);
    assert!(run.stdout.starts_with(&format!("::error file={name}/{definition},line={line},col=1,")), "{run}");

    let clean = switchyard(&["check", "--format", ANNOTATIONS, "integrations"], &repo());
    assert_eq!((clean.code, clean.stdout.as_str()), (0, ""), "{clean}");
}

#[test]
fn json_report_parses_and_has_the_counts() {
    let dir = project_copy();
    let example = example();
    let (line, col) = break_first_name(dir.path());
    let run = switchyard(&["test", "--format", "json", "--filter", &example.case("")], dir.path());
    assert_eq!(run.code, 1, "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"));
    let cases = report["cases"].as_array().unwrap();
    let count = |status: &str| cases.iter().filter(|c| c["status"] == status).count();
    let totals = &report["totals"];
    assert!(cases.len() >= 3, "{run}");
    assert_eq!(totals["cases"], cases.len());
    assert_eq!((totals["passed"].as_u64(), totals["failed"].as_u64()), (Some(count("passed") as u64), Some(count("failed") as u64)));
    assert!(count("failed") >= 1 && count("passed") >= 1, "{run}");
    assert!(totals["duration"].as_f64().is_some() && report["definitions"]["compiled"] == true, "{run}");
    assert_eq!(run.stderr.trim_end().lines().last(), Some(format!("{} passed, {} failed", count("passed"), count("failed")).as_str()));

    let id = example.case(&example.list_case);
    let case = cases.iter().find(|c| c["id"] == id.as_str()).unwrap_or_else(|| panic!("no {id}\n{run}"));
    assert_eq!(
        (case["integration"].as_str(), case["name"].as_str()),
        (Some(example.integration.as_str()), Some(example.list_case.as_str()))
    );
    assert_eq!(case["status"], "failed");
    assert!(case["duration"].as_f64().is_some_and(|d| d >= 0.0));
    assert!(case["failure"].as_str().unwrap().contains("(- snapshot, + now)"), "{case}");
    let failure = &case["failures"][0];
    assert_eq!(failure["kind"], "snapshot");
    assert_eq!(failure["location"]["file"], example.mapping_file());
    assert_eq!((failure["location"]["line"].as_u64(), failure["location"]["column"].as_u64()), (Some(line as u64), Some(col as u64)));
    assert_eq!(case["diagnostics"], serde_json::json!([]));
    let passed = cases.iter().find(|c| c["status"] == "passed").unwrap();
    assert!(passed["failure"].is_null() && passed["failures"] == serde_json::json!([]), "{passed}");
}

#[test]
fn exit_codes_are_unchanged() {
    let missing = switchyard(&["test", "--format", "junit", "no-such-directory"], &repo());
    assert_eq!(missing.code, 2, "{missing}");
    let unknown = switchyard(&["test", "--format", "xml"], &repo());
    assert_eq!(unknown.code, 2, "{unknown}");
    let unknown = switchyard(&["check", "--format", "junit"], &repo());
    assert_eq!(unknown.code, 2, "`check` has no JUnit format: {unknown}");
    let passing = switchyard(&["test", "--format", ANNOTATIONS, "--filter", &example().case(&example().get_case)], &repo());
    assert_eq!((passing.code, passing.stdout.as_str()), (0, "1 passed, 0 failed\n"), "{passing}");
}
