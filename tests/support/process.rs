//! `switchyard serve` as a process of its own (a "node"), for tests of several processes sharing
//! one database: started on a free port, stopped with SIGTERM or killed with SIGKILL.

use super::database::TestDatabase;
use super::server::{answer, client, test_key_env, Answer};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

pub struct ServeProcess {
    child: Child,
    pub url: String,
}

impl ServeProcess {
    /// `switchyard serve --listen 127.0.0.1:0 --db DB ARGS…` with the test secret key; returns once
    /// it prints the address it listens on.
    pub fn start(db: &TestDatabase, args: &[String]) -> ServeProcess {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db.arg())
            .args(args)
            .env("SWITCHYARD_SECRET_KEY", test_key_env())
            .env("SWITCHYARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line: {line:?}")).to_string();
        ServeProcess { child, url }
    }

    pub async fn call(&self, key: &str, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> Answer {
        let mut request = client().request(method, format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        answer(request.send().await.expect("the node answers")).await
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }

    /// SIGKILL (kill -9): the process ends at once, without cleaning anything up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    /// A failing test must not leave servers behind (they hold the test's stderr open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `switchyard ARGS… --db DB` (e.g. `keys create --env production`): the JSON it printed, or its
/// stderr when it failed.
pub fn cli(db: &TestDatabase, args: &[&str]) -> Result<serde_json::Value, String> {
    let out = Command::new(BIN).args(args).arg("--db").arg(db.arg()).env("SWITCHYARD_SECRET_KEY", test_key_env()).output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("the command prints JSON"))
    } else {
        assert_eq!(out.status.code(), Some(2), "a refused command exits 2");
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
