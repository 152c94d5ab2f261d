//! Dedicated clusters with TLS: a test CA, a server certificate it issued, and another CA.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::binaries::Binaries;
use crate::server::{Server, Setup};
use crate::Cluster;

/// The names the server certificate of [`Cluster::dedicated_tls`] is issued for (its subject
/// alternative names): connect to one of these for the host name check to pass.
pub const TLS_SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Whether a cluster of [`Cluster::dedicated_tls`] takes TCP connections without TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainTcp {
    /// Both (`pg_hba.conf` as `initdb` makes it): a client chooses.
    Allowed,
    /// TLS only: `hostssl … trust` and `hostnossl … reject` for 127.0.0.1, so a client that
    /// does not use TLS is refused ("no pg_hba.conf entry … no encryption"). The cluster's own
    /// connections ([`Cluster::client`]) use its Unix socket.
    Refused,
}

/// The CA certificates of a cluster of [`Cluster::dedicated_tls`]: PEM files in the cluster's
/// directory, removed with the cluster.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA that issued the server's certificate (for a client's `ca_file` or
    /// `sslrootcert`): trusting it, a client connecting to one of [`TLS_SERVER_NAMES`] verifies the
    /// server.
    pub ca_pem: PathBuf,
    /// Another CA, unrelated to the server (it issued nothing the server shows): trusting it
    /// alone, a client must refuse the server.
    pub other_ca_pem: PathBuf,
}

impl Cluster {
    /// A dedicated cluster (see [`Cluster::dedicated`]) with TLS on: `ssl = on` with a server
    /// certificate for [`TLS_SERVER_NAMES`] issued by a CA made for this cluster, and the key in the
    /// data directory (mode 0600, owned by the user Postgres runs as). [`Cluster::url`] is still
    /// `sslmode=disable`: a test writes its own URL to use TLS. `None` without Postgres.
    pub fn dedicated_tls(plain_tcp: PlainTcp) -> Option<(Cluster, TlsFiles)> {
        let binaries = Binaries::find_or_skip()?;
        let mut files = None;
        let server = Server::create_with(binaries, "tls", |setup| {
            let (settings, made) = set_up_tls(setup, plain_tcp);
            files = Some(made);
            settings
        });
        let files = files.unwrap_or_else(|| unreachable!("the setup runs before the first start"));
        Some((Cluster { server }, files))
    }
}

/// Writes the certificates and key, and `pg_hba.conf` for [`PlainTcp::Refused`]; returns the
/// settings that turn TLS on.
fn set_up_tls(setup: &Setup<'_>, plain_tcp: PlainTcp) -> (String, TlsFiles) {
    let fail = |what: &str, e: rcgen::Error| -> ! { panic!("making the test cluster's {what}: {e}") };
    let (ca, ca_issuer) = certificate_authority("Switchyard test CA").unwrap_or_else(|e| fail("CA", e));
    let (other_ca, _) = certificate_authority("Switchyard unrelated test CA").unwrap_or_else(|e| fail("other CA", e));
    let server_key = KeyPair::generate().unwrap_or_else(|e| fail("server key", e));
    let server_cert = {
        let mut params = CertificateParams::new(TLS_SERVER_NAMES.map(String::from)).unwrap_or_else(|e| fail("server certificate", e));
        params.distinguished_name.push(DnType::CommonName, TLS_SERVER_NAMES[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.signed_by(&server_key, &ca_issuer).unwrap_or_else(|e| fail("server certificate", e))
    };

    // Postgres reads these as the user it runs as, and refuses a key others can read.
    setup.write(&setup.data.join("server.crt"), server_cert.pem().as_bytes(), 0o644);
    setup.write(&setup.data.join("server.key"), server_key.serialize_pem().as_bytes(), 0o600);
    let files = TlsFiles { ca_pem: setup.dir.join("ca.pem"), other_ca_pem: setup.dir.join("other-ca.pem") };
    setup.write(&files.ca_pem, ca.pem().as_bytes(), 0o644);
    setup.write(&files.other_ca_pem, other_ca.pem().as_bytes(), 0o644);

    if plain_tcp == PlainTcp::Refused {
        // The first matching line decides: these come before initdb's `host … trust` lines.
        let hba_path = setup.data.join("pg_hba.conf");
        let initdb_lines = std::fs::read_to_string(&hba_path).unwrap_or_else(|e| panic!("reading {}: {e}", hba_path.display()));
        let hba =
            format!("local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n\n{initdb_lines}");
        setup.write(&hba_path, hba.as_bytes(), 0o600);
    }
    ("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n".to_string(), files)
}

/// A self-signed CA certificate named `name`, and the issuer that signs with its key.
fn certificate_authority(name: &str) -> Result<(rcgen::Certificate, Issuer<'static, KeyPair>), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert, Issuer::new(params, key)))
}
