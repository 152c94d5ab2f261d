//! `switchyard check` and `switchyard compile`.

use super::{annotation_root, Format, ProjectArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use switchyard_compiler::project::{self, Options, Outcome};
use switchyard_compiler::render;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
}

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Where to write the registry artifact.
    #[arg(long, short)]
    pub out: PathBuf,
}

fn run_checker(args: &ProjectArgs) -> Result<Outcome, u8> {
    let mut options = Options::new(&args.dir);
    options.models_dir = args.models.clone();
    project::check(&options).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}

/// Prints the diagnostics; returns whether the run passed.
fn report(args: &ProjectArgs, outcome: &Outcome) -> bool {
    let errors = outcome.diagnostics.error_count();
    let warnings = outcome.diagnostics.warning_count();
    match args.format {
        Format::Json => print!("{}", render::render_json(&outcome.diagnostics.items, &outcome.files)),
        // Human, or annotations on stdout with the human report on stderr.
        format => {
            if format != Format::Human {
                let root = annotation_root(&args.dir);
                print!("{}", render::render_annotations(&outcome.diagnostics.items, &outcome.files, &root));
            }
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "{}", render::render_human(&outcome.diagnostics.items, &outcome.files, color));
            let _ = writeln!(stderr, "{}", render::summary(errors, warnings, outcome.files.len()));
        }
    }
    errors == 0 && !(args.deny_warnings && warnings > 0)
}

pub fn check(args: &CheckArgs) -> u8 {
    match run_checker(&args.project) {
        Ok(outcome) if report(&args.project, &outcome) => EXIT_OK,
        Ok(_) => EXIT_INVALID,
        Err(code) => code,
    }
}

pub fn compile(args: &CompileArgs) -> u8 {
    let outcome = match run_checker(&args.project) {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    if !report(&args.project, &outcome) {
        return EXIT_INVALID;
    }
    let Some(registry) = outcome.registry else {
        return EXIT_INVALID;
    };
    match write_atomically(&args.out, registry.to_json().as_bytes()) {
        Ok(()) => {
            if args.project.format != Format::Json {
                eprintln!("wrote {} ({} integrations)", args.out.display(), registry.integrations.len());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.out.display());
            EXIT_USAGE
        }
    }
}

/// Writes beside the target and renames, so a failed write never leaves a half artifact.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| std::io::Error::other("the output path names no file"))?;
    let temp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let result = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
