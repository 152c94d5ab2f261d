//! The corpus of broken definitions under `tests/broken/`.
//!
//! Each case is a folder `tests/broken/<case>/` holding the files of one integration
//! folder (`integration.yaml`, optionally `unified/<model>.yaml`) and `expect.txt`, one
//! line: `<CODE> <relative file>:<line>:<col>`, the code and position of the FIRST error
//! the compiler must report (diagnostics are sorted by file, then position).
//!
//! Every case is copied to `<tmp>/integrations/<case>/` and checked with the repository's
//! unified models. All mismatches are collected and reported together, so one run shows
//! everything; a panic inside the compiler fails its case by name.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use switchyard_compiler::project::{self, Options};

/// Fewest cases the corpus may hold.
const MIN_CASES: usize = 45;

/// Cases whose expectation is what a user should get but the compiler does not produce
/// yet. They are run and their actual output printed, but a mismatch does not fail the
/// test. Remove a case from this list as soon as the compiler is fixed (the test fails
/// when a listed case starts to pass, so the list cannot go stale).
const KNOWN_COMPILER_BUGS: &[&str] = &[];

/// What the compiler reported first (or failed to report).
#[derive(Debug)]
enum Actual {
    Error {
        /// `E0201 integration.yaml:12:1`
        location: String,
        message: String,
    },
    NoError,
    Panic(String),
    Usage(String),
}

impl std::fmt::Display for Actual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actual::Error { location, message } => write!(f, "{location} ({message})"),
            Actual::NoError => f.write_str("no error at all"),
            Actual::Panic(message) => write!(f, "PANIC inside check: {message}"),
            Actual::Usage(message) => write!(f, "usage error: {message}"),
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<PathBuf> {
    let dir = repo().join("tests").join("broken");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn valid_case_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `E0201 integration.yaml:12:1`, checked for shape.
fn read_expectation(case: &Path) -> Result<String, String> {
    let path = case.join("expect.txt");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read expect.txt: {e}"))?;
    let line = text.trim();
    if line.lines().count() != 1 {
        return Err(format!("expect.txt must hold one line, found {line:?}"));
    }
    let well_formed = line.split_once(' ').is_some_and(|(code, place)| {
        let mut parts = place.rsplitn(3, ':');
        let col = parts.next().and_then(|c| c.parse::<usize>().ok());
        let row = parts.next().and_then(|l| l.parse::<usize>().ok());
        let file = parts.next().unwrap_or_default();
        code.len() == 5
            && code.starts_with('E')
            && code[1..].chars().all(|c| c.is_ascii_digit())
            && !file.is_empty()
            && row.is_some_and(|r| r > 0)
            && col.is_some_and(|c| c > 0)
    });
    if !well_formed {
        return Err(format!("expect.txt must read `<CODE> <file>:<line>:<col>`, found {line:?}"));
    }
    Ok(line.to_string())
}

/// Copies the case's files (not expect.txt) into `dst`.
fn copy_case(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("create the case folder");
    let mut entries: Vec<PathBuf> =
        fs::read_dir(src).expect("read the case folder").map(|e| e.expect("a directory entry").path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().expect("a file name");
        if path.is_dir() {
            copy_case(&path, &dst.join(name));
        } else if name != "expect.txt" {
            fs::copy(&path, dst.join(name)).expect("copy a case file");
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// Checks one case in a fresh integrations directory and returns its first error.
fn run_case(case: &Path, name: &str) -> Actual {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let integrations = tmp.path().join("integrations");
    copy_case(case, &integrations.join(name));
    let mut options = Options::new(&integrations);
    options.models_dir = Some(repo().join("schemas").join("models"));

    let outcome = match panic::catch_unwind(AssertUnwindSafe(|| project::check(&options))) {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(usage)) => return Actual::Usage(usage.to_string()),
        Err(payload) => return Actual::Panic(panic_message(payload.as_ref())),
    };
    let Some(first) = outcome.diagnostics.items.iter().find(|d| d.is_error()) else {
        return Actual::NoError;
    };
    let prefix = format!("integrations/{name}/");
    let (file, line, col) = match first.file.and_then(|i| outcome.files.get(i)) {
        Some(source) => {
            let (line, col) = source.line_col(first.span.start);
            let file = source.name.strip_prefix(&prefix).unwrap_or(&source.name).to_string();
            (file, line, col)
        }
        None => ("<no file>".to_string(), 0, 0),
    };
    Actual::Error { location: format!("{} {file}:{line}:{col}", first.code.id()), message: first.message.clone() }
}

fn run_corpus() {
    let cases = cases();
    let mut failures: Vec<String> = Vec::new();
    let mut known: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();

    for case in &cases {
        let name = case.file_name().expect("a case folder name").to_string_lossy().to_string();
        names.push(name.clone());
        if !valid_case_name(&name) {
            failures.push(format!("{name}: the case folder name must match ^[a-z][a-z0-9_]*$"));
            continue;
        }
        let expected = match read_expectation(case) {
            Ok(expected) => expected,
            Err(problem) => {
                failures.push(format!("{name}: {problem}"));
                continue;
            }
        };
        let actual = run_case(case, &name);
        let matches = matches!(&actual, Actual::Error { location, .. } if *location == expected);
        let is_known = KNOWN_COMPILER_BUGS.contains(&name.as_str());
        match (matches, is_known, &actual) {
            (true, false, _) => {}
            (true, true, _) => failures.push(format!("{name}: listed in KNOWN_COMPILER_BUGS but now passes; remove it from the list")),
            // A panic is never an accepted outcome, known bug or not.
            (false, true, Actual::Panic(_)) | (false, false, _) => {
                failures.push(format!("{name}:\n      expected {expected}\n      actual   {actual}"))
            }
            (false, true, _) => known.push(format!("{name}:\n      expected {expected}\n      actual   {actual}")),
        }
    }

    for listed in KNOWN_COMPILER_BUGS {
        if !names.iter().any(|n| n == listed) {
            failures.push(format!("KNOWN_COMPILER_BUGS lists `{listed}`, which is not a case"));
        }
    }
    if !known.is_empty() {
        eprintln!("note: {} case(s) skipped as known compiler bugs (KNOWN_COMPILER_BUGS):\n  {}", known.len(), known.join("\n  "));
    }
    assert!(cases.len() >= MIN_CASES, "the corpus holds {} cases, fewer than {MIN_CASES}", cases.len());
    assert!(failures.is_empty(), "{} of {} broken-definition case(s) failed:\n  {}\n", failures.len(), cases.len(), failures.join("\n  "));
    eprintln!("{} broken-definition cases checked", cases.len());
}

#[test]
fn broken_definitions_report_their_first_error() {
    // Hostile inputs (deep nesting, alias bombs) must not need a big stack, but a stack
    // overflow cannot be caught and would abort every case at once: give the checker
    // the stack a CLI main thread has.
    std::thread::Builder::new()
        .name("broken-definitions".into())
        .stack_size(8 * 1024 * 1024)
        .spawn(run_corpus)
        .expect("spawn the corpus thread")
        .join()
        .unwrap_or_else(|payload| panic::resume_unwind(payload));
}
