//! Versioned schema migrations, recorded in `schema_migrations`. Each runs once, in its own transaction.

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::Result;

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
    // API keys get an id (the existing ones a random one), a name and a display prefix (null for
    // the existing ones: only their hash was kept), a last use, and a revocation time instead of
    // deletion. `api_key_generation` counts revocations: the triggers bump it whenever a key's
    // `revoked_at` (or hash, or environment) changes or a key is deleted, by this store or by
    // hand, so a process caching verified keys learns of any revocation by reading one row.
    // Accounts are listed a page at a time in creation order: (environment_id, created_at, id),
    // and the same after the integration, serve every page without a sort.
    (
        3,
        "api_key_management_and_account_pages",
        r#"
CREATE TABLE api_keys_v3 (
    id              TEXT NOT NULL PRIMARY KEY,
    hash            BLOB NOT NULL UNIQUE,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT,
    prefix          TEXT,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    revoked_at      INTEGER
);
INSERT INTO api_keys_v3 (id, hash, environment_id, created_at)
    SELECT 'key_' || lower(hex(randomblob(16))), hash, environment_id, created_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v3 RENAME TO api_keys;
CREATE INDEX api_keys_environment ON api_keys(environment_id, created_at);
CREATE TABLE api_key_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO api_key_generation (id, generation) VALUES (1, 0);
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, hash, environment_id ON api_keys
BEGIN
    UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN
    UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1;
END;
DROP INDEX accounts_environment;
CREATE INDEX accounts_environment_created ON accounts(environment_id, created_at, id);
CREATE INDEX accounts_environment_integration ON accounts(environment_id, integration, created_at, id);
"#,
    ),
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
        return Err(crate::rows::newer_schema(current, latest));
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
