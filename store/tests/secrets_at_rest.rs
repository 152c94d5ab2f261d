//! Secrets at rest: sealed values open only for their own account and field, and the database's
//! files never hold a plaintext token: SQLite's main file, `-wal` and `-shm`; Postgres's files of
//! the database and its write-ahead log, after a checkpoint. On both backends.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_store::{CryptoError, Install, InstallInput, LeaseOutcome, NewExchange, SealedCredentials};

fn a_sealed_credential_opens_only_for_its_account_and_field(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let a = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-A", "rt-A")).unwrap();
    let b = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-B", "rt-B")).unwrap();
    assert_eq!(open_creds(&f.keyring, &a)["access_token"], "at-A");

    let a_access = a.credentials.get("access_token").unwrap();
    assert_eq!(a_access.key_version(), 1);
    // Moved to another row: fails.
    assert!(matches!(f.keyring.open("access_token", &b.id, a_access), Err(CryptoError::OpenFailed)));
    assert!(matches!(f.keyring.open(&b.id, "access_token", a_access), Err(CryptoError::OpenFailed)));
    // Moved to another field of the same row: fails.
    assert!(matches!(f.keyring.open(&a.id, "refresh_token", a_access), Err(CryptoError::OpenFailed)));

    // Swapping ciphertexts between rows in the database is detected when opening.
    let mut swapped = b.credentials.clone();
    swapped.0.insert("access_token".into(), a_access.clone());
    let tampered = store.replace_credentials(&env.id, &b.id, swapped, None).unwrap();
    assert!(tampered.credentials.open(&f.keyring, &b.id).is_err());
    // Another key cannot open anything.
    assert!(a.credentials.open(&switchyard_store::Keyring::generate(1), &a.id).is_err());
}

fn the_database_files_hold_no_plaintext_token(f: &Fixture) {
    let tokens = [
        "PLAINTEXT-ACCESS-TOKEN-7f3a9c",
        "PLAINTEXT-REFRESH-TOKEN-1b2e4d",
        "PLAINTEXT-ROTATED-REFRESH-TOKEN-88aa",
        "PLAINTEXT-CLIENT-SECRET-55cc",
        "PLAINTEXT-API-KEY-0099",
    ];
    let marker = "connection-marker-not-secret-31337";
    let store = f.open();
    let env = store.create_environment("production").unwrap();

    let row = Install::seal_row(&env.id, "acme_crm");
    let secret = f.keyring.seal(&row, Install::CLIENT_SECRET_FIELD, tokens[3].as_bytes()).unwrap();
    store
        .upsert_install(
            &env.id,
            InstallInput {
                integration: "acme_crm".into(),
                oauth_client_id: Some("cid".into()),
                oauth_client_secret: Some(secret),
                settings: json!({}),
            },
        )
        .unwrap();

    let mut new = new_account(&f.keyring, "acme_crm", Some("ext-1"), tokens[0], tokens[1]);
    new.connection = json!({ "subdomain": marker });
    let acct = store.create_account(&env.id, new).unwrap();
    let api = switchyard_store::ids::account_id();
    let api_creds = SealedCredentials::seal(&f.keyring, &api, &creds(&[("api_key", tokens[4])])).unwrap();
    let mut api_account = new_account(&f.keyring, "beta_crm", None, "a", "b");
    api_account.id = api.clone();
    api_account.credentials = api_creds;
    store.create_account(&env.id, api_account).unwrap();

    // A refresh that rotates the refresh token, through a second store instance.
    let other = f.open();
    let LeaseOutcome::Acquired(lease) = other.acquire_refresh_lease(&env.id, &acct.id, "p2", Duration::from_secs(30)).unwrap() else {
        panic!("lease not acquired")
    };
    let rotated =
        SealedCredentials::seal(&f.keyring, &acct.id, &creds(&[("access_token", tokens[0]), ("refresh_token", tokens[2])])).unwrap();
    other.complete_refresh(&env.id, &acct.id, lease.token, rotated, None).unwrap();

    // The exchange log of that refresh, redacted by the caller's list of secrets.
    store
        .append_exchange(
            &env.id,
            NewExchange {
                account_id: Some(acct.id.clone()),
                integration: "acme_crm".into(),
                method: "POST".into(),
                url: format!("https://api.acme-crm.example/oauth/v1/token?client_secret={}", tokens[3]),
                status: Some(200),
                request_body: Some(format!("grant_type=refresh_token&refresh_token={}", tokens[1])),
                response_body: Some(format!(r#"{{"access_token":"{}","refresh_token":"{}"}}"#, tokens[0], tokens[2])),
                ..Default::default()
            },
            &tokens,
        )
        .unwrap();

    // While both stores are open (for SQLite, the recent writes live in the -wal file): every file.
    let files = f.stored_files();
    if !f.is_postgres() {
        assert!(files.iter().any(|(p, b)| p.ends_with("-wal") && !b.is_empty()), "expected a non-empty -wal file");
    }
    assert!(
        files_contain(&files, marker).is_some(),
        "control: the non-secret connection field must be found, or the search proves nothing"
    );
    for t in tokens {
        assert_eq!(files_contain(&files, t), None, "{t} found in plaintext");
    }

    // After both closed (SQLite checkpoints its WAL into the main file).
    drop(store);
    drop(other);
    let files = f.stored_files();
    assert!(files_contain(&files, marker).is_some(), "control");
    for t in tokens {
        assert_eq!(files_contain(&files, t), None, "{t} found in plaintext");
    }

    // And the values are all still there for whoever holds the key.
    let store = f.open();
    let acct = store.get_account(&env.id, &acct.id).unwrap();
    assert_eq!(open_creds(&f.keyring, &acct)["refresh_token"], tokens[2]);
    assert_eq!(open_creds(&f.keyring, &store.get_account(&env.id, &api).unwrap())["api_key"], tokens[4]);
    let install = store.get_install(&env.id, "acme_crm").unwrap();
    assert_eq!(
        f.keyring.open(&row, Install::CLIENT_SECRET_FIELD, install.oauth_client_secret.as_ref().unwrap()).unwrap(),
        tokens[3].as_bytes()
    );
}

fn secrets_never_print(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "PRINT-ME-NOT-1", "PRINT-ME-NOT-2")).unwrap();
    let opened = acct.credentials.open(&f.keyring, &acct.id).unwrap();
    let printed = format!("{acct:?} {opened:?} {:?}", f.keyring);
    assert!(!printed.contains("PRINT-ME-NOT"), "{printed}");
    assert!(printed.contains("REDACTED"));
}

on_both_backends!(
    a_sealed_credential_opens_only_for_its_account_and_field,
    the_database_files_hold_no_plaintext_token,
    secrets_never_print
);
