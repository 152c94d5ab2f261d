//! Versioned schema migrations, recorded in `schema_migrations`. Each runs once, in its own transaction.

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// (version, name, SQL). Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        r#"
CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE TABLE api_keys (
    hash            BLOB PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL
);
CREATE INDEX api_keys_environment ON api_keys(environment_id);
CREATE TABLE installs (
    environment_id       TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    integration          TEXT NOT NULL,
    oauth_client_id      TEXT,
    oauth_client_secret  BLOB,
    settings             TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (environment_id, integration)
);
CREATE TABLE accounts (
    id                    TEXT PRIMARY KEY,
    environment_id        TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    integration           TEXT NOT NULL,
    external_id           TEXT,
    connection            TEXT NOT NULL,
    credentials           BLOB NOT NULL,
    expires_at            INTEGER,
    status                TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    status_reason         TEXT,
    last_refresh_at       INTEGER,
    last_refresh_error    TEXT,
    refresh_failures      INTEGER NOT NULL DEFAULT 0,
    refresh_count         INTEGER NOT NULL DEFAULT 0,
    refresh_fence         INTEGER NOT NULL DEFAULT 0,
    lease_owner           TEXT,
    lease_expires_at      INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    UNIQUE (environment_id, external_id)
);
CREATE INDEX accounts_environment ON accounts(environment_id, integration);
CREATE TABLE exchanges (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id    TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    account_id        TEXT,
    integration       TEXT NOT NULL,
    at                INTEGER NOT NULL,
    method            TEXT NOT NULL,
    url               TEXT NOT NULL,
    status            INTEGER,
    latency_ms        INTEGER NOT NULL,
    request_headers   TEXT NOT NULL,
    request_body      TEXT,
    response_headers  TEXT NOT NULL,
    response_body     TEXT,
    error             TEXT
);
CREATE INDEX exchanges_environment ON exchanges(environment_id, account_id, id);
CREATE INDEX exchanges_at ON exchanges(at);
"#,
    ),
    // A page of an environment's whole log (no account) walks this index in `id DESC` order; with
    // only (environment_id, account_id, id) it sorted every entry of the environment. Building it
    // reads the table once, on the first start after the upgrade.
    (2, "exchanges_environment_id", "CREATE INDEX exchanges_environment_id ON exchanges(environment_id, id);"),
];

/// Brings the schema up to date. Safe to run from several processes at once: the first takes the write
/// lock, the others then find nothing left to do.
pub fn migrate(conn: &mut Connection) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > latest {
        return Err(StoreError::Invalid(format!(
            "the database schema is version {current}, newer than this build knows ({latest}); upgrade switchyard"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, chrono::Utc::now().timestamp_millis()],
        )?;
    }
    tx.commit()?;
    Ok(latest)
}
