//! Every bundled integration's fixtures, one test per case, named `integration/case`:
//! each replays through the runtime and is checked against its model schema and its
//! insta snapshot (`cargo insta review` reviews the `.snap.new` files a mismatch writes;
//! `INSTA_UPDATE=always` accepts). Then the tests of `switchyard test` and
//! `switchyard record` themselves (tests/fixtures/*.rs).
//!
//! Run with `cargo test --test fixtures`; `cargo test --test fixtures -- hubspot/` selects.

#[path = "common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

#[path = "fixtures/cli.rs"]
mod cli;
#[path = "fixtures/record.rs"]
mod record;

use libtest_mimic::{Arguments, Failed, Trial};
use std::sync::Arc;
use switchyard_compiler::project::Options;
use switchyard_fixtures::snapshot::Mode;
use switchyard_fixtures::suite::{self, Project};

fn bundled_cases() -> Vec<Trial> {
    let repo = common::repo();
    let mut options = Options::new(repo.join("integrations"));
    options.models_dir = Some(repo.join("schemas/models"));
    let project = match Project::load(&options, false) {
        Ok(project) => Arc::new(project),
        Err(report) => return vec![Trial::test("bundled integrations compile", move || Err(Failed::from(report.clone())))],
    };
    let cases = project.cases();
    assert!(!cases.is_empty(), "no fixture found under integrations/*/fixtures");
    cases
        .into_iter()
        .map(|case| {
            let project = project.clone();
            Trial::test(case.id(), move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Failed::from(e.to_string()))?;
                let report = runtime.block_on(suite::run_case(&project, &case, Mode::from_insta_env(), false));
                if report.passed {
                    Ok(())
                } else {
                    Err(Failed::from(report.details))
                }
            })
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = bundled_cases();
    trials.extend(cli::trials());
    trials.extend(record::trials());
    libtest_mimic::run(&args, trials).exit();
}
