#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;
use switchyard_store::ids;
use switchyard_store::{AccountStatus, Keyring, NewAccount, SealedCredentials, SecretString, SqliteStore};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub keyring: Keyring,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.db");
    Fixture { dir, path, keyring: Keyring::generate(1) }
}

impl Fixture {
    pub fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).unwrap()
    }
}

pub fn creds(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
    pairs.iter().map(|(k, v)| (k.to_string(), SecretString::new(*v))).collect()
}

/// A new OAuth account with the given tokens, sealed for its own id.
pub fn new_account(keyring: &Keyring, integration: &str, external_id: Option<&str>, access: &str, refresh: &str) -> NewAccount {
    let id = ids::account_id();
    let credentials = SealedCredentials::seal(keyring, &id, &creds(&[("access_token", access), ("refresh_token", refresh)])).unwrap();
    NewAccount {
        id,
        integration: integration.into(),
        external_id: external_id.map(str::to_owned),
        connection: json!({ "subdomain": "acme" }),
        credentials,
        expires_at: Some(chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap()),
        status: AccountStatus::Active,
    }
}

pub fn open_creds(keyring: &Keyring, account: &switchyard_store::Account) -> BTreeMap<String, String> {
    account.credentials.open(keyring, &account.id).unwrap().into_iter().map(|(k, v)| (k, v.expose().to_owned())).collect()
}
