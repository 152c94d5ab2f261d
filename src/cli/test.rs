//! `switchyard test`: replays every fixture through the runtime, checks the outcomes
//! against the model schemas and the snapshots, and ends with `N passed, M failed`.

use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use switchyard_compiler::fixture::snapshot::Mode;
use switchyard_compiler::fixture::suite::{self, Project};
use switchyard_compiler::project::Options;

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
}

pub fn test(args: &TestArgs) -> u8 {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut options = Options::new(&args.dir);
    options.models_dir = args.models.clone();
    if !args.dir.is_dir() {
        eprintln!("error: cannot read the integrations directory `{}`", args.dir.display());
        return EXIT_USAGE;
    }
    let project = match Project::load(&options, color) {
        Ok(project) => project,
        Err(report) => {
            eprintln!("{report}");
            println!("0 passed, 1 failed");
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
    let (mut passed, mut failed) = (0, 0);
    let mut stdout = std::io::stdout().lock();
    for case in project.cases().iter().filter(|c| suite::selected(c, args.filter.as_deref())) {
        let report = runtime.block_on(suite::run_case(&project, case, mode, color));
        let status = if report.passed { paint(color, "32", "ok") } else { paint(color, "1;31", "FAILED") };
        let _ = writeln!(stdout, "{status} {}", report.id);
        for note in &report.notes {
            let _ = writeln!(stdout, "  {note}");
        }
        if report.passed {
            passed += 1;
        } else {
            failed += 1;
            for line in report.details.lines() {
                let _ = writeln!(stdout, "  {line}");
            }
        }
    }
    let _ = writeln!(stdout, "{passed} passed, {failed} failed");
    if failed > 0 {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
