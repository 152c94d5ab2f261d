//! Embeds the bundled integrations: a broken definition fails `cargo build` with the
//! same diagnostics `switchyard check` prints.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SWITCHYARD_INTEGRATIONS_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // Overridable so a test can prove that a broken definition fails the build.
    let integrations = std::env::var_os("SWITCHYARD_INTEGRATIONS_DIR").map(PathBuf::from).unwrap_or_else(|| manifest.join("integrations"));
    let mut options = switchyard_compiler::project::Options::new(&integrations);
    options.models_dir = Some(integrations.join("..").join("schemas").join("models"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(report) = switchyard_compiler::embed::embed(&options, &out_dir) {
        eprintln!("{report}");
        eprintln!("error: the bundled integrations in {} do not compile (see above)", integrations.display());
        std::process::exit(1);
    }
}
