//! `switchyard test`: replays every fixture through the runtime, checks the outcomes
//! against the model schemas and the snapshots, and reports in one of four formats:
//! human (`ok`/`FAILED` lines, ending with `N passed, M failed`), JSON, JUnit XML, or
//! GitHub workflow commands (docs/ci.md).

use super::{annotation_root, EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};
use switchyard_compiler::project::Options;
use switchyard_fixtures::report;
use switchyard_fixtures::snapshot::Mode;
use switchyard_fixtures::suite::{self, Project, RunReport};

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The integrations directory.
    #[arg(default_value = "integrations")]
    pub dir: PathBuf,
    /// Directory of unified model schemas (default: DIR/../schemas/models).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Run only the cases whose `integration/case` name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Accept the outcomes: write every snapshot that differs or is missing.
    #[arg(long)]
    pub update: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
}

/// How `switchyard test` reports.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TestFormat {
    /// `ok`/`FAILED` lines with the reasons, then `N passed, M failed`, on stdout.
    #[default]
    Human,
    /// One JSON document on stdout (cases, failures, diagnostics, totals); the human report on stderr.
    Json,
    /// JUnit XML on stdout; the human report on stderr.
    Junit,
    /// GitHub Actions workflow commands and `N passed, M failed` on stdout; the human report on stderr.
    Github,
}

pub fn test(args: &TestArgs) -> u8 {
    let human = args.format == TestFormat::Human;
    // The human report goes to stdout, or to stderr beside another format.
    let terminal = if human { std::io::stdout().is_terminal() } else { std::io::stderr().is_terminal() };
    let color = terminal && std::env::var_os("NO_COLOR").is_none();
    let mut options = Options::new(&args.dir);
    options.models_dir = args.models.clone();
    if !args.dir.is_dir() {
        eprintln!("error: cannot read the integrations directory `{}`", args.dir.display());
        return EXIT_USAGE;
    }
    let (started, clock) = (SystemTime::now(), Instant::now());
    let project = match Project::compile(&options) {
        Ok(project) => project,
        Err(failure) => {
            eprintln!("{}", failure.render_human(color));
            let run = RunReport {
                cases: Vec::new(),
                not_compiled: Some(failure.message.clone()),
                definitions: failure.diagnostics(),
                started,
                duration: clock.elapsed(),
            };
            report(args, &run);
            return EXIT_INVALID;
        }
    };
    let mode = if args.update { Mode::Update } else { Mode::Compare };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let mut cases = Vec::new();
    for case in project.cases().iter().filter(|c| suite::selected(c, args.filter.as_deref())) {
        let report = runtime.block_on(suite::run_case(&project, case, mode, color));
        let text = report::render_human_case(&report, color);
        if human {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        } else {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
        cases.push(report);
    }
    let run = RunReport { cases, not_compiled: None, definitions: project.warnings.clone(), started, duration: clock.elapsed() };
    report(args, &run);
    if run.failed() > 0 {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

/// The report after the cases: the summary line (human), or the document (JSON, JUnit;
/// the summary then goes to stderr), or the annotations and the summary (GitHub).
fn report(args: &TestArgs, run: &RunReport) {
    let document = match args.format {
        TestFormat::Human => format!("{}\n", run.summary()),
        TestFormat::Json => report::render_test_json(run),
        TestFormat::Junit => report::render_junit(run, &report::hostname()),
        TestFormat::Github => report::render_test_annotations(run, &annotation_root(&args.dir)),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(document.as_bytes());
    let _ = stdout.flush();
    if matches!(args.format, TestFormat::Json | TestFormat::Junit) {
        eprintln!("{}", run.summary());
    }
}
