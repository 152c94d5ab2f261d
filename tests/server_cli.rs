//! `switchyard serve` and `switchyard env create` refuse bad settings with a clear message and
//! exit code 2 (1 for a failure while running), before serving anything.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn run(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    let output =
        Command::new(BIN).args(args).current_dir(dir).env_remove("SWITCHYARD_DB").env_remove("SWITCHYARD_LISTEN").output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("typo.toml"), "listen = \"127.0.0.1:0\"\nlisten_port = 3\n").unwrap();
    std::fs::write(dir.path().join("bad_upstream.toml"), "[upstream]\nno_such_integration = \"http://127.0.0.1:9\"\n").unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["serve", "--listen", "localhost-ish"], 2, "is not an address"),
        (&["serve", "--db", "postgres://u@h", "--listen", "127.0.0.1:0"], 2, "the Postgres URL names no database"),
        (&["serve", "--db", "postgres://u@h/db?sslmode=allow", "--listen", "127.0.0.1:0"], 2, "use sslmode=disable, prefer or require"),
        // Nothing listens on port 9: refused at once, and said so.
        (&["serve", "--db", "postgres://u@127.0.0.1:9/db?sslmode=disable", "--listen", "127.0.0.1:0"], 1, "the database is unavailable"),
        (&["serve", "--db", "sqlite://", "--listen", "127.0.0.1:0"], 2, "names no file"),
        (&["serve", "--db", "mysql://h/db", "--listen", "127.0.0.1:0"], 2, "unknown database scheme"),
        (&["serve", "--upstream", "crm", "--listen", "127.0.0.1:0"], 2, "expected NAME=ORIGIN"),
        (&["serve", "--upstream", "crm=http://h/with/path", "--listen", "127.0.0.1:0"], 2, "give only scheme://host:port"),
        (&["serve", "--config", "typo.toml"], 2, "unknown field `listen_port`"),
        (&["serve", "--config", "missing.toml"], 2, "missing.toml"),
        (&["serve", "--config", "bad_upstream.toml", "--db", "x.db"], 1, "no integration `no_such_integration`"),
        (&["serve", "--log-format", "xml", "--listen", "127.0.0.1:0"], 2, "expected text or json"),
        (&["serve", "--registry", "nope.json", "--listen", "127.0.0.1:0"], 2, "--registry nope.json"),
        (&["serve", "--db", "no/such/dir/x.db", "--listen", "127.0.0.1:0"], 1, "does not exist"),
        (&["env", "create", "bad name!", "--db", "x.db"], 2, "an environment name is"),
    ];
    for (args, code, message) in cases {
        let (status, stderr) = run(args, dir.path());
        assert_eq!(status, *code, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: expected `{message}` in {stderr}");
    }
    let (status, _) = run(&["env", "create", "production", "--db", "x.db"], dir.path());
    assert_eq!(status, 0);
    let (status, stderr) = run(&["env", "create", "production", "--db", "x.db"], dir.path());
    assert_eq!(status, 2, "a taken name: {stderr}");
    assert!(stderr.contains("production"), "{stderr}");
}
