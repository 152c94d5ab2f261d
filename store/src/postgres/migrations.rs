//! Versioned schema migrations of the Postgres store, recorded in `schema_migrations` like
//! SQLite's. Version numbers mean the same schema in both backends: Postgres starts at version 3
//! (one migration creating what SQLite's migrations 1 to 3 built), and a later change is added
//! to both lists under the same number.
//!
//! Differences from the SQLite schema, each for the same answers: timestamps are `BIGINT` Unix
//! milliseconds (SQLite's `INTEGER`), so both backends answer with the same precision; the text
//! columns that order a listing or a page (names, integrations, ids) use the `"C"` collation, so
//! they sort byte by byte as SQLite's `BINARY` does whatever the database's locale; API keys have
//! an identity column to order keys created in the same millisecond (SQLite's `rowid`).

use super::pool::Db;
use crate::error::Result;
use crate::rows::{newer_schema, now_ms};

/// The key of the advisory lock held while migrating: processes starting at once on an empty
/// database take turns, and the later ones find nothing left to do.
const MIGRATION_LOCK: i64 = 0x5357_5944_4d49_4752; // "SWYDMIGR"

/// (version, name, SQL). Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(
    3,
    "initial (the schema of SQLite's migrations 1 to 3)",
    r#"
CREATE TABLE environments (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    hash            BYTEA NOT NULL UNIQUE,
    environment_id  TEXT COLLATE "C" NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT,
    prefix          TEXT,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX api_keys_environment ON api_keys(environment_id, created_at, seq);
-- The revocation generation: bumped by triggers whenever a key's revoked_at (or hash, or
-- environment) changes or a key is deleted, by the store or by hand, so a process caching
-- verified keys learns of any revocation by reading one row.
CREATE TABLE api_key_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO api_key_generation (id, generation) VALUES (1, 0);
CREATE FUNCTION api_key_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, hash, environment_id ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_key_generation_bump();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_key_generation_bump();
CREATE TABLE installs (
    environment_id       TEXT COLLATE "C" NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    integration          TEXT COLLATE "C" NOT NULL,
    oauth_client_id      TEXT,
    oauth_client_secret  BYTEA,
    settings             TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (environment_id, integration)
);
CREATE TABLE accounts (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    environment_id        TEXT COLLATE "C" NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    integration           TEXT COLLATE "C" NOT NULL,
    external_id           TEXT COLLATE "C",
    connection            TEXT NOT NULL,
    credentials           BYTEA NOT NULL,
    expires_at            BIGINT,
    status                TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    status_reason         TEXT,
    last_refresh_at       BIGINT,
    last_refresh_error    TEXT,
    refresh_failures      BIGINT NOT NULL DEFAULT 0,
    refresh_count         BIGINT NOT NULL DEFAULT 0,
    refresh_fence         BIGINT NOT NULL DEFAULT 0,
    lease_owner           TEXT,
    lease_expires_at      BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    UNIQUE (environment_id, external_id)
);
CREATE INDEX accounts_environment_created ON accounts(environment_id, created_at, id);
CREATE INDEX accounts_environment_integration ON accounts(environment_id, integration, created_at, id);
CREATE TABLE exchanges (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment_id    TEXT COLLATE "C" NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    account_id        TEXT COLLATE "C",
    integration       TEXT NOT NULL,
    at                BIGINT NOT NULL,
    method            TEXT NOT NULL,
    url               TEXT NOT NULL,
    status            INTEGER,
    latency_ms        BIGINT NOT NULL,
    request_headers   TEXT NOT NULL,
    request_body      TEXT,
    response_headers  TEXT NOT NULL,
    response_body     TEXT,
    error             TEXT
);
CREATE INDEX exchanges_environment ON exchanges(environment_id, account_id, id);
CREATE INDEX exchanges_environment_id ON exchanges(environment_id, id);
CREATE INDEX exchanges_at ON exchanges(at);
"#,
)];

/// The newest schema version this binary knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Brings the schema up to date, in one transaction under an advisory lock (several processes
/// may start at once on an empty database). Refuses a database migrated by a newer binary.
pub(super) fn migrate(mut tx: Db<'_>) -> Result<i64> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")?;
    let current: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.try_get(0)?;
    let latest = latest();
    if current > latest {
        return Err(newer_schema(current, latest));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch(sql)?;
        tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", &[version, name, &now_ms()])?;
    }
    tx.commit()?;
    Ok(latest)
}
