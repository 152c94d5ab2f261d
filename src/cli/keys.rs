//! `switchyard keys list|create|revoke|rotate --env NAME [--db URL]`: an environment's API keys,
//! for operators, on the database directly (like `env create`; no server needed, and a running
//! server sees a revocation within a second). Every command prints one JSON document, the API's
//! answer; a new key appears there once.

use super::{EXIT_OK, EXIT_USAGE};
use std::time::Duration;
use switchyard_server::keys::admin;
use switchyard_server::DatabaseUrl;

const DEFAULT_DB: &str = "./switchyard.db";

#[derive(clap::Args, Debug)]
pub struct Target {
    /// The environment's name.
    #[arg(long = "env", value_name = "NAME")]
    pub env: String,
    /// Database: an SQLite file path or sqlite:// URL, or a postgres:// URL [default: ./switchyard.db].
    #[arg(long, env = "SWITCHYARD_DB")]
    pub db: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// List the environment's keys (id, name, prefix, created_at, last_used_at, revoked_at):
    /// never a key.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Create a key and print it (shown once).
    Create {
        #[command(flatten)]
        target: Target,
        /// A name to recognise the key by (e.g. the service that uses it).
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a key now; every server sharing the database refuses it within a second.
    Revoke {
        /// The key's id (`key_…`, from `keys list`).
        id: String,
        #[command(flatten)]
        target: Target,
        /// Revoke even the environment's last working key (locking the environment out).
        #[arg(long)]
        force: bool,
    },
    /// Create a key replacing ID and print it (shown once); ID stops working at once, or after
    /// the overlap.
    Rotate {
        /// The key's id (`key_…`, from `keys list`).
        id: String,
        #[command(flatten)]
        target: Target,
        /// Keep the old key working this many seconds (at most 604800, 7 days) [default: 0].
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        overlap_seconds: u64,
    },
}

fn database(target: &Target) -> Result<DatabaseUrl, String> {
    DatabaseUrl::parse(target.db.as_deref().unwrap_or(DEFAULT_DB))
}

pub fn keys(command: KeysCommand) -> u8 {
    let result = match &command {
        KeysCommand::List { target } => database(target).and_then(|db| admin::list(&db, &target.env).map_err(|e| e.to_string())),
        KeysCommand::Create { target, name } => {
            database(target).and_then(|db| admin::create(&db, &target.env, name.clone()).map_err(|e| e.to_string()))
        }
        KeysCommand::Revoke { id, target, force } => {
            database(target).and_then(|db| admin::revoke(&db, &target.env, id, *force).map_err(|e| e.to_string()))
        }
        KeysCommand::Rotate { id, target, overlap_seconds } => database(target)
            .and_then(|db| admin::rotate(&db, &target.env, id, Duration::from_secs(*overlap_seconds)).map_err(|e| e.to_string())),
    };
    match result {
        Ok(value) => {
            println!("{value}");
            EXIT_OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}
