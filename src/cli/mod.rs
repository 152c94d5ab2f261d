//! Command-line interface: one module per subcommand.

mod check;
mod eval;
mod explain;
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
    /// Serve an integration's recorded fixtures as a mock provider on loopback (for trying the
    /// server without a live account).
    Sandbox(sandbox::SandboxArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
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
        Command::Sandbox(args) => sandbox::sandbox(&args),
        Command::Registry => {
            print!("{}", crate::bundled::REGISTRY_JSON);
            EXIT_OK
        }
    };
    ExitCode::from(code)
}
