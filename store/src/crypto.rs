//! Sealing of secret fields with AES-256-GCM.
//!
//! Every sealed value is bound to its place: the associated data is the row id (an account or install id)
//! plus the field name, so a ciphertext copied to another row or field fails to open. Every sealed value
//! records the version of the key that sealed it, so keys can rotate: a [`Keyring`] seals with its current
//! key and opens with any key it holds.
//!
//! Encoding of a sealed value: `[format 0x01][key version u32 BE][nonce 12 bytes][ciphertext + tag]`.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::error::CryptoError;
use crate::secret::SecretString;

/// The environment variable holding the current key (32 bytes, base64).
pub const KEY_ENV: &str = "SWITCHYARD_SECRET_KEY";
/// Optional: the version number of the key in [`KEY_ENV`] (default 1). Bump it when rotating.
pub const KEY_VERSION_ENV: &str = "SWITCHYARD_SECRET_KEY_VERSION";
/// Optional: older keys still needed to open values, as `VERSION:BASE64[,VERSION:BASE64…]`.
pub const PREVIOUS_KEYS_ENV: &str = "SWITCHYARD_SECRET_KEY_PREVIOUS";

const FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const AAD_DOMAIN: &[u8] = b"switchyard.sealed.v1";

/// A secret value sealed for one row and field.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    bytes: Vec<u8>,
}

impl SealedValue {
    /// The version of the key that sealed this value.
    pub fn key_version(&self) -> u32 {
        u32::from_be_bytes([self.bytes[1], self.bytes[2], self.bytes[3], self.bytes[4]])
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses a stored value; checks the framing only (authenticity is checked when opening).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CryptoError> {
        if bytes.len() < HEADER_LEN + 16 {
            return Err(CryptoError::Malformed("too short"));
        }
        if bytes[0] != FORMAT {
            return Err(CryptoError::Malformed("unknown format byte"));
        }
        Ok(SealedValue { bytes })
    }
}

impl fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedValue(key v{}, {} bytes)", self.key_version(), self.bytes.len())
    }
}

/// The keys that seal and open secrets: one current key (used to seal) and older ones (to open only).
#[derive(Clone)]
pub struct Keyring {
    current: u32,
    keys: BTreeMap<u32, Aes256Gcm>,
    /// Seed of [`Keyring::derive`]: a hash of the current key, so the key itself is not kept
    /// twice and a derived key reveals nothing of it.
    subkey_seed: [u8; 32],
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring(current v{}, versions {:?}, keys [REDACTED])", self.current, self.keys.keys().collect::<Vec<_>>())
    }
}

/// Where the current key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    KeyFile(PathBuf),
    /// No key was configured: one was generated into this file.
    Generated(PathBuf),
}

/// The result of [`Keyring::load`]: the keyring, where its key came from, and warnings for the operator.
#[derive(Debug)]
pub struct LoadedKeyring {
    pub keyring: Keyring,
    pub source: KeySource,
    pub warnings: Vec<String>,
}

impl Keyring {
    /// A keyring with one key.
    pub fn new(version: u32, key: &[u8; 32]) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(version, Aes256Gcm::new(key.into()));
        let mut seed = Sha256::new();
        seed.update(b"switchyard keyring subkeys\0");
        seed.update(key);
        Keyring { current: version, keys, subkey_seed: seed.finalize().into() }
    }

    /// A 32-byte key for another purpose (signing cursors), derived from the current key and
    /// `purpose`: every process with the same secret key derives the same one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.subkey_seed);
        hash.update(purpose.as_bytes());
        hash.finalize().into()
    }

    /// Adds an older key, used only to open values sealed with it.
    pub fn with_previous(mut self, version: u32, key: &[u8; 32]) -> Self {
        self.keys.entry(version).or_insert_with(|| Aes256Gcm::new(key.into()));
        self
    }

    /// A keyring with a fresh random key (tests, first runs).
    pub fn generate(version: u32) -> Self {
        Keyring::new(version, &random_key())
    }

    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Seals `plaintext` for `field` of row `row_id`.
    pub fn seal(&self, row_id: &str, field: &str, plaintext: &[u8]) -> Result<SealedValue, CryptoError> {
        let cipher = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(row_id, field);
        let ciphertext =
            cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad }).map_err(|_| CryptoError::SealFailed)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(&self.current.to_be_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(SealedValue { bytes })
    }

    pub fn seal_str(&self, row_id: &str, field: &str, secret: &SecretString) -> Result<SealedValue, CryptoError> {
        self.seal(row_id, field, secret.expose().as_bytes())
    }

    /// Opens a value sealed for `field` of row `row_id`; fails if it was sealed for another row or field.
    pub fn open(&self, row_id: &str, field: &str, sealed: &SealedValue) -> Result<Vec<u8>, CryptoError> {
        let version = sealed.key_version();
        let cipher = self.keys.get(&version).ok_or(CryptoError::UnknownKeyVersion(version))?;
        let nonce = &sealed.bytes[5..HEADER_LEN];
        let aad = associated_data(row_id, field);
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: &sealed.bytes[HEADER_LEN..], aad: &aad })
            .map_err(|_| CryptoError::OpenFailed)
    }

    pub fn open_str(&self, row_id: &str, field: &str, sealed: &SealedValue) -> Result<SecretString, CryptoError> {
        let bytes = self.open(row_id, field, sealed)?;
        String::from_utf8(bytes).map(SecretString::from).map_err(|_| CryptoError::Malformed("not UTF-8"))
    }

    /// Loads the keyring the way `switchyard serve` does, from the process environment:
    /// [`KEY_ENV`] if set; else the key file beside the database; else a new key generated into that file
    /// (permissions 0600) with a warning.
    pub fn load(database: &Path) -> Result<LoadedKeyring, CryptoError> {
        Self::load_with(database, |name| std::env::var(name).ok())
    }

    /// [`Keyring::load`] with an explicit environment lookup (tests do not mutate the process environment).
    pub fn load_with(database: &Path, env: impl Fn(&str) -> Option<String>) -> Result<LoadedKeyring, CryptoError> {
        Self::load_from(Some(&key_file_path(database)), env)
    }

    /// Loads the keyring of a database several server nodes share (Postgres) from the process
    /// environment: only from [`KEY_ENV`] (and [`PREVIOUS_KEYS_ENV`]), never a key file, since a
    /// key generated on one node would not open what another node sealed.
    pub fn load_shared() -> Result<LoadedKeyring, CryptoError> {
        Self::load_shared_with(|name| std::env::var(name).ok())
    }

    /// [`Keyring::load_shared`] with an explicit environment lookup.
    pub fn load_shared_with(env: impl Fn(&str) -> Option<String>) -> Result<LoadedKeyring, CryptoError> {
        Self::load_from(None, env)
    }

    /// From [`KEY_ENV`]; else, when there is a `key_file`, from it or a key generated into it.
    fn load_from(key_file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<LoadedKeyring, CryptoError> {
        let mut warnings = Vec::new();
        let version = match env(KEY_VERSION_ENV).filter(|v| !v.trim().is_empty()) {
            Some(v) => v.trim().parse::<u32>().map_err(|_| CryptoError::BadKey(format!("{KEY_VERSION_ENV} must be a whole number")))?,
            None => 1,
        };
        let (keyring, source) = if let Some(encoded) = env(KEY_ENV).filter(|v| !v.trim().is_empty()) {
            let key = decode_key(&encoded)?;
            if let Some(key_file) = key_file.filter(|file| file.exists()) {
                warnings.push(format!(
                    "{KEY_ENV} is set, so the key file {} is ignored; values sealed with that file's key will not open",
                    key_file.display()
                ));
            }
            (Keyring::new(version, &key), KeySource::Environment)
        } else if let Some(key_file) = key_file.filter(|file| file.exists()) {
            let key = read_key_file(key_file)?;
            if let Some(w) = loose_permissions_warning(key_file) {
                warnings.push(w);
            }
            (Keyring::new(version, &key), KeySource::KeyFile(key_file.to_path_buf()))
        } else if let Some(key_file) = key_file {
            let key = random_key();
            if write_key_file(key_file, &key)? {
                warnings.push(format!(
                    "{KEY_ENV} is not set: generated a new secret key into {} (permissions 0600). Back it up: \
                     without it the stored credentials cannot be decrypted. In production set {KEY_ENV} instead.",
                    key_file.display()
                ));
                (Keyring::new(version, &key), KeySource::Generated(key_file.to_path_buf()))
            } else {
                // Another process generated it a moment ago: use that one.
                (Keyring::new(version, &read_key_file(key_file)?), KeySource::KeyFile(key_file.to_path_buf()))
            }
        } else {
            return Err(CryptoError::BadKey(format!(
                "{KEY_ENV} is not set: every node sharing a Postgres database must seal and open credentials with \
                 the same key. Set {KEY_ENV} on every node (32 random bytes in base64: `openssl rand -base64 32`)"
            )));
        };
        let keyring = match env(PREVIOUS_KEYS_ENV).filter(|v| !v.trim().is_empty()) {
            Some(list) => add_previous_keys(keyring, &list)?,
            None => keyring,
        };
        Ok(LoadedKeyring { keyring, source, warnings })
    }
}

/// The key file of a database: its path with `.key` appended (`switchyard.db` → `switchyard.db.key`).
pub fn key_file_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "switchyard".into());
    name.push(".key");
    database.with_file_name(name)
}

fn associated_data(row_id: &str, field: &str) -> Vec<u8> {
    // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 8 + row_id.len() + field.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(&(row_id.len() as u32).to_be_bytes());
    aad.extend_from_slice(row_id.as_bytes());
    aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

fn decode_key(encoded: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = STANDARD.decode(encoded.trim()).map_err(|e| CryptoError::BadKey(format!("not base64 ({e})")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::BadKey(format!("decodes to {} bytes", bytes.len())))
}

fn add_previous_keys(mut keyring: Keyring, list: &str) -> Result<Keyring, CryptoError> {
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (version, key) =
            item.split_once(':').ok_or_else(|| CryptoError::BadKey(format!("{PREVIOUS_KEYS_ENV} entries are VERSION:BASE64")))?;
        let version =
            version.trim().parse::<u32>().map_err(|_| CryptoError::BadKey(format!("{PREVIOUS_KEYS_ENV}: bad version `{version}`")))?;
        keyring = keyring.with_previous(version, &decode_key(key)?);
    }
    Ok(keyring)
}

fn key_file_error(path: &Path, e: std::io::Error) -> CryptoError {
    CryptoError::KeyFile { path: path.display().to_string(), message: e.to_string() }
}

/// Writes a new key file atomically: the key goes to a private temporary file that is then hard-linked
/// into place, so a concurrent starter never reads a half-written key. Returns `false` if another process
/// created the key file first (then use theirs).
fn write_key_file(path: &Path, key: &[u8; 32]) -> Result<bool, CryptoError> {
    let mut suffix = [0u8; 8];
    rand::rng().fill_bytes(&mut suffix);
    let tmp = path.with_extension(format!("key.tmp-{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        let mut text = STANDARD.encode(key);
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|_| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(key_file_error(path, e)),
    }
}

fn read_key_file(path: &Path) -> Result<[u8; 32], CryptoError> {
    let text = fs::read_to_string(path).map_err(|e| key_file_error(path, e))?;
    decode_key(&text).map_err(|e| CryptoError::KeyFile { path: path.display().to_string(), message: e.to_string() })
}

#[cfg(unix)]
fn loose_permissions_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| format!("key file {} has permissions {mode:o}; it should be 0600", path.display()))
}

#[cfg(not(unix))]
fn loose_permissions_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_its_own_row_and_field() {
        let k = Keyring::generate(1);
        let sealed = k.seal("acc_1", "access_token", b"tok").unwrap();
        assert_eq!(k.open("acc_1", "access_token", &sealed).unwrap(), b"tok");
        assert!(matches!(k.open("acc_2", "access_token", &sealed), Err(CryptoError::OpenFailed)));
        assert!(matches!(k.open("acc_1", "refresh_token", &sealed), Err(CryptoError::OpenFailed)));
        // Length prefixing: moving characters between id and field does not collide.
        let s2 = k.seal("ab", "c", b"x").unwrap();
        assert!(k.open("a", "bc", &s2).is_err());
    }

    #[test]
    fn tampering_and_other_keys_fail() {
        let k = Keyring::generate(1);
        let sealed = k.seal("acc_1", "f", b"secret").unwrap();
        let mut bytes = sealed.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(k.open("acc_1", "f", &SealedValue::from_bytes(bytes).unwrap()).is_err());
        assert!(Keyring::generate(1).open("acc_1", "f", &sealed).is_err());
        assert!(matches!(Keyring::generate(2).open("acc_1", "f", &sealed), Err(CryptoError::UnknownKeyVersion(1))));
        assert!(SealedValue::from_bytes(vec![1, 2, 3]).is_err());
    }

    #[test]
    fn key_version_is_stored_and_rotation_opens_old_values() {
        let old = [7u8; 32];
        let new = [9u8; 32];
        let v1 = Keyring::new(1, &old).seal("acc", "f", b"a").unwrap();
        assert_eq!(v1.key_version(), 1);
        let rotated = Keyring::new(2, &new).with_previous(1, &old);
        let v2 = rotated.seal("acc", "f", b"b").unwrap();
        assert_eq!(v2.key_version(), 2);
        assert_eq!(rotated.open("acc", "f", &v1).unwrap(), b"a");
        assert_eq!(rotated.open("acc", "f", &v2).unwrap(), b"b");
    }

    #[test]
    fn nonces_differ() {
        let k = Keyring::generate(1);
        assert_ne!(k.seal("a", "f", b"same").unwrap(), k.seal("a", "f", b"same").unwrap());
    }

    #[test]
    fn concurrent_first_runs_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("race.db");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || Keyring::load_with(&db, |_| None).unwrap())
            })
            .collect();
        let loaded: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(loaded.iter().filter(|l| matches!(l.source, KeySource::Generated(_))).count(), 1);
        let sealed = loaded[0].keyring.seal("acc", "f", b"v").unwrap();
        for l in &loaded {
            assert_eq!(l.keyring.open("acc", "f", &sealed).unwrap(), b"v");
        }
        let leftovers =
            fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("tmp")).count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn debug_never_prints_keys() {
        let k = Keyring::new(3, &[0x41; 32]);
        let d = format!("{k:?}");
        assert!(d.contains("REDACTED") && !d.contains(&STANDARD.encode([0x41u8; 32])));
    }

    #[test]
    fn load_from_env_generated_file_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchyard.db");
        let key = STANDARD.encode([5u8; 32]);

        let from_env = Keyring::load_with(&db, |n| (n == KEY_ENV).then(|| key.clone())).unwrap();
        assert_eq!(from_env.source, KeySource::Environment);
        assert!(from_env.warnings.is_empty());
        assert!(!key_file_path(&db).exists());

        let first = Keyring::load_with(&db, |_| None).unwrap();
        let path = key_file_path(&db);
        assert_eq!(first.source, KeySource::Generated(path.clone()));
        assert_eq!(first.warnings.len(), 1);
        assert!(first.warnings[0].contains(KEY_ENV));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let sealed = first.keyring.seal("acc", "f", b"v").unwrap();
        let second = Keyring::load_with(&db, |_| None).unwrap();
        assert_eq!(second.source, KeySource::KeyFile(path));
        assert!(second.warnings.is_empty());
        assert_eq!(second.keyring.open("acc", "f", &sealed).unwrap(), b"v");

        assert!(matches!(Keyring::load_with(&db, |n| (n == KEY_ENV).then(|| "short".into())), Err(CryptoError::BadKey(_))));
        let short = STANDARD.encode([1u8; 16]);
        assert!(matches!(Keyring::load_with(&db, |n| (n == KEY_ENV).then(|| short.clone())), Err(CryptoError::BadKey(_))));

        let prev = format!("1:{}", STANDARD.encode([5u8; 32]));
        let other = STANDARD.encode([6u8; 32]);
        let rotated = Keyring::load_with(&db, |n| match n {
            KEY_ENV => Some(other.clone()),
            KEY_VERSION_ENV => Some("2".into()),
            PREVIOUS_KEYS_ENV => Some(prev.clone()),
            _ => None,
        })
        .unwrap();
        assert_eq!(rotated.keyring.current_version(), 2);
        let old = from_env.keyring.seal("acc", "f", b"old").unwrap();
        assert_eq!(rotated.keyring.open("acc", "f", &old).unwrap(), b"old");
    }
}
