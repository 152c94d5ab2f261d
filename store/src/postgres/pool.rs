//! A small pool of Postgres connections, and [`Db`]: one connection (or its open transaction)
//! with its cache of prepared statements.
//!
//! Why not r2d2: when the database is down, r2d2 makes every checkout wait its whole timeout for
//! a background thread to connect, and keeps three threads per pool. Here a checkout that needs a
//! new connection opens it itself: a refused connection fails the call at once, an unanswered one
//! within the connect timeout, and only a pool whose connections are all in use makes a call wait
//! (the checkout timeout). A connection that broke is discarded when it comes back, and an idle
//! one is checked before reuse, so the store recovers by itself when the database returns.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{describe_postgres, Result, StoreError};

/// A connection idle longer than this is checked (one round trip) before it is lent: after a
/// database restart, idle connections are dead, and the check keeps a call from failing on one.
/// A connection used more recently is trusted (a call on one that broke since fails once, and
/// the connection is discarded).
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

pub(super) struct Pool {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    max: usize,
    checkout_timeout: Duration,
    connect_timeout: Duration,
    state: Mutex<PoolState>,
    changed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<PgConn>,
    /// Connections open or being opened (idle or lent).
    open: usize,
}

/// A pooled connection and what the pool knows of it.
pub(super) struct PgConn {
    client: Option<Client>,
    /// Prepared statements by SQL text: a statement is parsed once per connection.
    statements: HashMap<String, Statement>,
    /// Set when an error said the connection itself failed: it is discarded, not reused.
    broken: bool,
    last_used: Instant,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            close(client);
        }
    }
}

/// Closes a client. The postgres crate closes a connection by blocking on its own runtime, which
/// panics on a thread that drives a Tokio runtime (the server drops its store on one when it
/// stops), and can wait for a network timeout when the server vanished: such closes happen on a
/// thread of their own.
fn close(client: Client) {
    if tokio::runtime::Handle::try_current().is_ok() || !client.is_closed() {
        let spawned = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(client));
        // No thread to be had: leak the connection rather than panic; the server closes it
        // when this process exits.
        if let Err(e) = spawned {
            drop(e);
        }
    } else {
        drop(client);
    }
}

impl Pool {
    pub(super) fn new(config: postgres::Config, tls: MakeRustlsConnect, options: &super::PostgresOptions) -> Pool {
        Pool {
            config,
            tls,
            max: options.pool_size.max(1),
            checkout_timeout: options.checkout_timeout,
            connect_timeout: options.connect_timeout,
            state: Mutex::new(PoolState::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock leaves the state consistent (no half-done update).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a connection outside the pool (migrations, and the first check of `open`).
    pub(super) fn connect(&self) -> Result<PgConn> {
        let client = self.config.connect(self.tls.clone()).map_err(connect_error)?;
        Ok(PgConn { client: Some(client), statements: HashMap::new(), broken: false, last_used: Instant::now() })
    }

    /// A connection: an idle one (checked if it idled long), a new one if fewer than the maximum
    /// are open, or the first one returned within the checkout timeout.
    pub(super) fn get(&self) -> Result<Lease<'_>> {
        let deadline = Instant::now() + self.checkout_timeout;
        let mut state = self.lock();
        loop {
            if let Some(mut conn) = state.idle.pop() {
                drop(state);
                if conn.last_used.elapsed() < CHECK_AFTER_IDLE || conn.ping(self.connect_timeout) {
                    return Ok(Lease { pool: self, conn: Some(conn) });
                }
                self.forget(conn);
                state = self.lock();
                continue;
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Lease { pool: self, conn: Some(conn) }),
                    Err(e) => {
                        self.forget_slot();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "no database connection came free within {} ms (all {} are in use)",
                    self.checkout_timeout.as_millis(),
                    self.max
                )));
            }
            state = self.changed.wait_timeout(state, deadline - now).map(|(s, _)| s).unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn put_back(&self, mut conn: PgConn) {
        let usable = !conn.broken && conn.client.as_ref().is_some_and(|c| !c.is_closed());
        if !usable {
            return self.forget(conn);
        }
        conn.last_used = Instant::now();
        self.lock().idle.push(conn);
        self.changed.notify_one();
    }

    /// Closes a connection that will not be reused and frees its place.
    fn forget(&self, conn: PgConn) {
        drop(conn);
        self.forget_slot();
    }

    fn forget_slot(&self) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.changed.notify_one();
    }
}

impl PgConn {
    /// Whether the connection answers a trivial query within `timeout`.
    fn ping(&mut self, timeout: Duration) -> bool {
        self.client.as_mut().is_some_and(|c| c.is_valid(timeout).is_ok())
    }

    /// The connection as a [`Db`] outside a transaction.
    pub(super) fn db(&mut self) -> Result<Db<'_>> {
        let PgConn { client, statements, broken, .. } = self;
        let client = client.as_mut().ok_or_else(|| StoreError::Unavailable("the connection is closed".into()))?;
        Ok(Db { target: Target::Client(client), statements, broken })
    }

    /// A transaction on the connection, as a [`Db`]; it rolls back unless [`Db::commit`] is called.
    pub(super) fn transaction(&mut self) -> Result<Db<'_>> {
        let PgConn { client, statements, broken, .. } = self;
        let client = client.as_mut().ok_or_else(|| StoreError::Unavailable("the connection is closed".into()))?;
        match client.transaction() {
            Ok(tx) => Ok(Db { target: Target::Tx(tx), statements, broken }),
            Err(e) => Err(classify(e, broken)),
        }
    }
}

/// A connection lent by the pool; returned (or discarded, if it broke) when dropped.
pub(super) struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<PgConn>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = PgConn;

    fn deref(&self) -> &PgConn {
        // Set from creation until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut PgConn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}

enum Target<'a> {
    Client(&'a mut Client),
    Tx(Transaction<'a>),
}

/// One connection, or a transaction on it, with the connection's prepared statements. Every
/// error goes through [`classify`], which marks the connection broken when the error says so.
pub(super) struct Db<'a> {
    target: Target<'a>,
    statements: &'a mut HashMap<String, Statement>,
    broken: &'a mut bool,
}

pub(super) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Db<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let prepared = match &mut self.target {
            Target::Client(c) => c.prepare(sql),
            Target::Tx(t) => t.prepare(sql),
        };
        let statement = prepared.map_err(|e| classify(e, self.broken))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        let rows = match &mut self.target {
            Target::Client(c) => c.query(&statement, params),
            Target::Tx(t) => t.query(&statement, params),
        };
        rows.map_err(|e| classify(e, self.broken))
    }

    /// The first row, if any (the statements this is used for return at most one).
    pub(super) fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The row a statement always returns (an aggregate, a `RETURNING` of a row known to exist).
    pub(super) fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row> {
        self.query_opt(sql, params)?.ok_or_else(|| StoreError::Corrupt(format!("no row from `{sql}`")))
    }

    pub(super) fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64> {
        let statement = self.statement(sql)?;
        let n = match &mut self.target {
            Target::Client(c) => c.execute(&statement, params),
            Target::Tx(t) => t.execute(&statement, params),
        };
        n.map_err(|e| classify(e, self.broken))
    }

    /// Runs SQL text without parameters (several statements allowed), unprepared.
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        let done = match &mut self.target {
            Target::Client(c) => c.batch_execute(sql),
            Target::Tx(t) => t.batch_execute(sql),
        };
        done.map_err(|e| classify(e, self.broken))
    }

    /// Commits the transaction (a no-op outside one).
    pub(super) fn commit(self) -> Result<()> {
        match self.target {
            Target::Client(_) => Ok(()),
            Target::Tx(t) => t.commit().map_err(|e| classify(e, self.broken)),
        }
    }
}

/// The error of a failed connection attempt: the database cannot be reached (refused, timed
/// out, the connection broke during the TLS handshake) is [`StoreError::Unavailable`]; a refusal
/// that will not pass by itself (a wrong password, an unknown database, TLS refused: see
/// [`tls_refused`]) stays a database error with its reason.
pub(super) fn connect_error(e: postgres::Error) -> StoreError {
    let unavailable = match e.code() {
        Some(code) => unavailable_code(code.code()),
        None => connection_level(&e) && !tls_refused(&e),
    };
    if unavailable {
        StoreError::Unavailable(describe_postgres(&e))
    } else {
        StoreError::Postgres(e)
    }
}

/// Whether the TLS handshake failed by rule rather than by the network: the server's certificate
/// did not verify (an unknown CA, another host's name, expired) or the two sides have no TLS
/// version or cipher in common (rustls's own errors), or the server has no TLS under
/// `sslmode=require`. Someone must change a certificate or a setting. (A connection that breaks
/// or times out during the handshake is a plain I/O error, and stays unavailable.)
fn tls_refused(e: &postgres::Error) -> bool {
    // The client library's words for its TLS errors; the cause says which.
    if e.to_string() != "error performing TLS handshake" {
        return false;
    }
    let Some(cause) = std::error::Error::source(e) else { return false };
    match cause.downcast_ref::<std::io::Error>() {
        // tokio-rustls wraps rustls's error in an I/O error, whose `source` skips it.
        Some(io) => io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()),
        None => cause.to_string() == "server does not support TLS",
    }
}

/// Sorts an error of a statement: [`StoreError::Unavailable`] when the database or the
/// connection failed (and then the connection is marked broken, unless the failure was the
/// statement's alone, like a timeout), [`StoreError::Postgres`] otherwise.
pub(super) fn classify(e: postgres::Error, broken: &mut bool) -> StoreError {
    if let Some(code) = e.code() {
        let code = code.code();
        // Connection exceptions, shutdown or recovery of the server, a read-only server (a
        // failover in progress): this connection is done for.
        if code.starts_with("08") || code.starts_with("57P") || code == "25006" {
            *broken = true;
        }
        // Text Postgres cannot store (a NUL character): bad input, as SQLite would store it.
        if matches!(code, "22021" | "22P05") {
            return StoreError::Invalid(format!("text Postgres cannot store (e.g. a NUL character): {}", describe_postgres(&e)));
        }
        return if unavailable_code(code) { StoreError::Unavailable(describe_postgres(&e)) } else { StoreError::Postgres(e) };
    }
    if connection_level(&e) {
        *broken = true;
        return StoreError::Unavailable(describe_postgres(&e));
    }
    StoreError::Postgres(e)
}

/// SQLSTATEs that mean "not now" rather than "never": the server is unreachable, shutting down,
/// starting, out of connections or resources, read-only, or the statement was cancelled (its
/// timeout) or lost a deadlock or serialization race. A retry later may succeed.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57") || matches!(code, "25006" | "40001" | "40P01" | "55P03")
}

/// Whether an error without a SQLSTATE is the connection's: closed, an I/O error, a timeout
/// waiting for the server, a TLS failure.
fn connection_level(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // The client library's own words for the failures that carry no I/O error: a connect
    // timeout ("timeout waiting for server"), a TLS handshake refused.
    let text = e.to_string();
    text.starts_with("timeout waiting for server") || text.starts_with("error performing TLS handshake")
}

impl From<postgres::Error> for StoreError {
    /// For errors that did not go through a [`Db`] (row conversions): classified the same way.
    fn from(e: postgres::Error) -> StoreError {
        classify(e, &mut false)
    }
}
