//! `switchyard sandbox`: an integration's recorded fixtures served as a mock provider.
//!
//! The CLI only: arguments, the listener, the banner on stdout, exit codes. What the sandbox
//! serves and how it chooses (the fixtures and `fixtures/sandbox/*.yaml` it reads, the matching,
//! the rewriting of the provider's URLs to the sandbox's origin, the HTTP handler, the banner)
//! is `switchyard_fixtures::sandbox`.

use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use std::io::Write;
use std::path::PathBuf;
use switchyard_fixtures::sandbox::Sandbox;

#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// The integration whose fixtures to serve.
    pub integration: String,
    /// The integrations directory.
    #[arg(long, default_value = "integrations")]
    pub dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the origin is printed).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: String,
}

pub fn sandbox(args: &SandboxArgs) -> u8 {
    if !args.dir.is_dir() {
        eprintln!("error: cannot read the integrations directory `{}`", args.dir.display());
        return EXIT_USAGE;
    }
    let mut sandbox = match Sandbox::load(&args.dir, &args.integration) {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("{e}");
            return if e.is_usage() { EXIT_USAGE } else { EXIT_INVALID };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return EXIT_USAGE;
            }
        };
        let origin = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => {
                eprintln!("error: cannot read the listening address: {e}");
                return EXIT_USAGE;
            }
        };
        if let Ok(url) = url::Url::parse(&origin) {
            sandbox.set_origin(url);
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(sandbox.banner(&origin).as_bytes());
        let _ = out.flush();
        drop(out);
        match sandbox.serve(listener).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error: the sandbox stopped: {e}");
                EXIT_USAGE
            }
        }
    })
}
