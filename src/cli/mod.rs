//! Command-line interface: one module per subcommand.

mod check;
mod eval;
mod explain;
mod keys;
mod record;
mod sandbox;
mod serve;
mod test;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes, as documented in the README.
pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(name = "switchyard", version, about = "A declarative integration engine: provider definitions in YAML, one unified API.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate the definitions under DIR (default ./integrations).
    Check(check::CheckArgs),
    /// Validate and write the compiled registry artifact.
    Compile(check::CompileArgs),
    /// Explain a diagnostic code, e.g. `switchyard explain E0201`.
    Explain(explain::ExplainArgs),
    /// Print the registry embedded in this binary (the bundled integrations).
    Registry,
    /// Evaluate a JSONata file on a JSON file with the runtime's function library and limits.
    Eval(eval::EvalArgs),
    /// Replay the recorded fixtures through the runtime and compare with the snapshots.
    Test(test::TestArgs),
    /// Record a fixture from a live upstream, with secrets replaced by fake values.
    Record(record::RecordArgs),
    /// Run the unified API server (SQLite by default, the bundled integrations).
    Serve(serve::ServeArgs),
    /// Manage environments of a server's database.
    #[command(subcommand)]
    Env(serve::EnvCommand),
    /// Manage an environment's API keys in a server's database: list, create, revoke, rotate.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Serve an integration's recorded fixtures as a mock provider on loopback (for trying the
    /// server without a live account).
    Sandbox(sandbox::SandboxArgs),
}

/// How `check` and `compile` print diagnostics.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// rustc-style, on stderr.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
    /// GitHub Actions workflow commands on stdout (annotations at file:line:col); the
    /// human report on stderr.
    Github,
}

/// The integrations directory's parent, relative to the working directory, ending in `/`
/// (empty for `./integrations`): put in front of the file names diagnostics show (which
/// are relative to that parent), so a GitHub annotation names the file from the
/// repository's root when the command runs there.
pub fn annotation_root(integrations_dir: &std::path::Path) -> String {
    let parent = integrations_dir.parent().unwrap_or(std::path::Path::new(""));
    let cwd = std::env::current_dir().ok();
    let relative = match cwd.as_deref() {
        Some(cwd) if parent.is_absolute() => parent.strip_prefix(cwd).unwrap_or(parent),
        _ => parent,
    };
    if relative.is_absolute() {
        return format!("{}/", relative.to_string_lossy().trim_end_matches('/'));
    }
    let parts: Vec<String> = relative
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{}/", parts.join("/"))
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct ProjectArgs {
    /// The integrations directory.
    #[arg(default_value = "integrations")]
    pub dir: PathBuf,
    /// Directory of unified model schemas (default: DIR/../schemas/models).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Output format of diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check(args) => check::check(&args),
        Command::Compile(args) => check::compile(&args),
        Command::Explain(args) => explain::explain(&args),
        Command::Eval(args) => eval::eval(&args),
        Command::Test(args) => test::test(&args),
        Command::Record(args) => record::record(&args),
        Command::Serve(args) => serve::serve(args),
        Command::Env(command) => serve::env(command),
        Command::Keys(command) => keys::keys(command),
        Command::Sandbox(args) => sandbox::sandbox(&args),
        Command::Registry => {
            print!("{}", crate::bundled::REGISTRY_JSON);
            EXIT_OK
        }
    };
    ExitCode::from(code)
}
