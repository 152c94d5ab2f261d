//! How [`super::PostgresStore`] connects: the URL, the pool and timeout settings, TLS.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Result, StoreError};

/// Settings of a [`super::PostgresStore`]. The database, user, password, host and port come from
/// the URL given to [`super::PostgresStore::open`]:
/// `postgres://user:password@host:port/database?sslmode=…` (`postgresql://` works too, and so do
/// libpq's `key=value` strings). Where the URL sets a timeout too, these settings win.
///
/// # TLS (`sslmode` in the URL)
///
/// Certificates are verified with rustls against Mozilla's root certificates (webpki-roots) plus
/// the certificates of [`PostgresOptions::ca_file`]; the server's certificate must name the host
/// of the URL. There is no mode that encrypts without verifying.
///
/// - `sslmode=disable`: plain TCP; TLS is never used, even if the server offers it.
/// - `sslmode=prefer` (the default when the URL names none, as with libpq): the client asks for
///   TLS. If the server accepts, the connection uses TLS and the certificate is verified; a
///   certificate that fails verification fails the connection (there is no fallback to plain
///   TCP then). If the server answers that it has no TLS (`ssl = off`), the connection goes on
///   in plain TCP. Someone on the network path can give that answer, so use `require` where the
///   network is not trusted.
/// - `sslmode=require`: TLS with a verified certificate, or no connection. This is stricter than
///   libpq's `require` (which does not verify the certificate) and matches libpq's
///   `verify-full`. `sslmode=verify-full` and `sslmode=verify-ca` are accepted and mean the same
///   as `require` here (`verify-ca` would skip the host name check; it is checked all the same).
///
/// Over a Unix socket (`host=/run/postgresql`) Postgres has no TLS: use `disable` or `prefer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The most connections the store opens (default 8: several per core of a small machine;
    /// each node of a cluster has its own, so the total is nodes × this). Connections are opened
    /// on demand and kept.
    pub pool_size: usize,
    /// How long opening one connection (TCP, TLS and login) may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long a call waits for a connection when all of them are in use (default 2 s). A call
    /// that gets none answers [`StoreError::Unavailable`].
    pub checkout_timeout: Duration,
    /// Postgres's `statement_timeout` for every statement of the store (default 10 s), set on
    /// each connection when it opens. A statement cancelled by it answers
    /// [`StoreError::Unavailable`]: the database is too slow to serve the call now.
    pub statement_timeout: Duration,
    /// A PEM file of further CA certificates to trust (e.g. a cloud provider's or a private CA),
    /// besides Mozilla's roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 8,
            connect_timeout: Duration::from_secs(2),
            checkout_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// How long a session may sit inside a transaction without sending anything: a node that froze
/// mid-transaction releases its row locks after this, not when its TCP connection dies.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(60);

/// The client configuration for `url` under `options`.
pub(super) fn client_config(url: &str, options: &PostgresOptions) -> Result<postgres::Config> {
    if options.pool_size == 0 {
        return Err(StoreError::Invalid("the Postgres pool size must be at least 1".into()));
    }
    for (what, d) in [
        ("connect timeout", options.connect_timeout),
        ("checkout timeout", options.checkout_timeout),
        ("statement timeout", options.statement_timeout),
    ] {
        if d.is_zero() {
            return Err(StoreError::Invalid(format!("the Postgres {what} must be more than zero")));
        }
    }
    let mut config: postgres::Config = normalize_sslmode(url)
        .parse()
        // The parser's message names the bad part, never the password.
        .map_err(|e: postgres::Error| {
            StoreError::Invalid(format!("the Postgres URL does not parse: {}", crate::error::describe_postgres(&e)))
        })?;
    config.connect_timeout(options.connect_timeout);
    // A query sent to a server that vanished (no reset, packets dropped) fails when its data
    // stays unacknowledged this long, instead of waiting for the kernel's 15-minute default.
    config.tcp_user_timeout(options.statement_timeout.max(Duration::from_secs(5)));
    // Idle pooled connections to a vanished server are noticed within about a minute.
    config.keepalives(true).keepalives_idle(Duration::from_secs(30)).keepalives_interval(Duration::from_secs(10)).keepalives_retries(3);
    let mut server_options = config.get_options().map(str::to_owned).unwrap_or_default();
    for (setting, value) in [("statement_timeout", options.statement_timeout), ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]
    {
        if !server_options.is_empty() {
            server_options.push(' ');
        }
        server_options.push_str(&format!("-c {setting}={}", value.as_millis().max(1)));
    }
    config.options(&server_options);
    if config.get_application_name().is_none() {
        config.application_name("switchyard");
    }
    Ok(config)
}

/// libpq's `verify-full` and `verify-ca` as `require`, which verifies as much here (see
/// [`PostgresOptions`]); the client library knows only disable, prefer and require.
fn normalize_sslmode(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require").replace("sslmode=verify-ca", "sslmode=require")
}

/// The TLS connector: rustls with the ring provider (installed here, not process-wide), Mozilla's
/// roots and the extra CA file, if any.
pub(super) fn tls(options: &PostgresOptions) -> Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &options.ca_file {
        let shown = path.display();
        let mut added = 0;
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|e| StoreError::Invalid(format!("CA file {shown}: cannot be read: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| StoreError::Invalid(format!("CA file {shown}: not PEM certificates: {e}")))?;
            roots.add(cert).map_err(|e| StoreError::Invalid(format!("CA file {shown}: a certificate is not usable: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(StoreError::Invalid(format!("CA file {shown}: holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)")));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_every_sslmode_and_the_timeouts_are_applied() {
        let options = PostgresOptions::default();
        for (mode, expected) in [
            ("disable", postgres::config::SslMode::Disable),
            ("prefer", postgres::config::SslMode::Prefer),
            ("require", postgres::config::SslMode::Require),
            ("verify-full", postgres::config::SslMode::Require),
            ("verify-ca", postgres::config::SslMode::Require),
        ] {
            for scheme in ["postgres", "postgresql"] {
                let config = client_config(&format!("{scheme}://u:p@db.example:6543/sy?sslmode={mode}"), &options).unwrap();
                assert_eq!(config.get_ssl_mode(), expected, "{scheme} {mode}");
                assert_eq!(config.get_ports(), [6543]);
                assert_eq!(config.get_dbname(), Some("sy"));
            }
        }
        let config = client_config("postgres://u@h/db?options=-c%20search_path%3Dsy", &options).unwrap();
        assert_eq!(config.get_ssl_mode(), postgres::config::SslMode::Prefer, "libpq's default");
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(config.get_options(), Some("-c search_path=sy -c statement_timeout=10000 -c idle_in_transaction_session_timeout=60000"));
        assert_eq!(config.get_application_name(), Some("switchyard"));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let bad = |url: &str, options: PostgresOptions| match client_config(url, &options) {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        };
        let m = bad("postgres://u:s3cret@h/db?sslmode=sometimes", PostgresOptions::default());
        assert!(m.contains("sslmode") && !m.contains("s3cret"), "{m}");
        assert!(bad("postgres://h/db", PostgresOptions { pool_size: 0, ..Default::default() }).contains("pool size"));
        assert!(bad("postgres://h/db", PostgresOptions { statement_timeout: Duration::ZERO, ..Default::default() }).contains("statement"));
        let dir = std::env::temp_dir().join(format!("sy-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let m = match tls(&PostgresOptions { ca_file: Some(dir.clone()), ..Default::default() }) {
            Err(StoreError::Invalid(m)) => m,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a CA file without certificates was accepted"),
        };
        assert!(m.contains("no certificate"), "{m}");
        let _ = std::fs::remove_file(dir);
        assert!(tls(&PostgresOptions::default()).is_ok());
    }
}
