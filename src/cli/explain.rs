//! `switchyard explain CODE`: the long explanation of a diagnostic code.

use super::{EXIT_OK, EXIT_USAGE};
use switchyard_compiler::codes::Code;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A diagnostic code such as E0201.
    pub code: String,
}

pub fn explain(args: &ExplainArgs) -> u8 {
    let wanted = args.code.trim().to_uppercase();
    match Code::ALL.iter().find(|c| c.id() == wanted) {
        Some(code) => {
            println!("{} ({}): {}\n\n{}", code.id(), code.severity().as_str(), code.title(), code.explanation());
            EXIT_OK
        }
        None => {
            eprintln!("error: no diagnostic code `{}`; codes are listed in docs/diagnostics.md", args.code);
            EXIT_USAGE
        }
    }
}
