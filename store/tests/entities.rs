//! Round trips of every entity, idempotent import, tenant isolation, the exchange log and the
//! schema versions, on both backends (a real SQLite file, a real Postgres database).

#[macro_use]
mod common;

use std::sync::Barrier;
use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_store::postgres::migrations as postgres_migrations;
use switchyard_store::sqlite::MIGRATIONS;
use switchyard_store::{
    Account, AccountPatch, AccountStatus, ApiKey, ApiKeyHash, Install, InstallInput, NewExchange, Store, StoreError, UpsertOutcome,
};

fn environments_and_api_keys_round_trip(f: &Fixture) {
    let store = f.open();
    let prod = store.create_environment("production").unwrap();
    assert!(prod.id.starts_with("env_"));
    assert_eq!(store.get_environment(&prod.id).unwrap(), prod);
    assert_eq!(store.environment_by_name("production").unwrap(), prod);
    assert!(matches!(store.create_environment("production"), Err(StoreError::Conflict(_))));
    assert!(matches!(store.create_environment(" "), Err(StoreError::Invalid(_))));
    let staging = store.create_environment("staging").unwrap();
    assert_eq!(store.list_environments().unwrap(), vec![prod.clone(), staging.clone()]);

    let key = ApiKey::generate();
    store.add_api_key(&prod.id, &key.hash()).unwrap();
    assert_eq!(store.environment_by_api_key(&ApiKeyHash::of(key.expose())).unwrap(), prod);
    assert!(matches!(store.environment_by_api_key(&ApiKeyHash::of("sy_wrong")), Err(StoreError::NotFound(_))));
    assert!(matches!(store.add_api_key("env_missing", &ApiKey::generate().hash()), Err(StoreError::NotFound(_))));

    // Only the hash is on disk.
    drop(store);
    assert_eq!(files_contain(&f.stored_files(), key.expose()), None);

    let store = f.open();
    assert_eq!(store.environment_by_api_key(&key.hash()).unwrap(), prod);
    store.revoke_api_key(&key.hash()).unwrap();
    assert!(matches!(store.environment_by_api_key(&key.hash()), Err(StoreError::NotFound(_))));
}

fn installs_round_trip(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let row = Install::seal_row(&env.id, "acme_crm");
    let secret = f.keyring.seal(&row, Install::CLIENT_SECRET_FIELD, b"client-secret-1").unwrap();
    let input = InstallInput {
        integration: "acme_crm".into(),
        oauth_client_id: Some("client-1".into()),
        oauth_client_secret: Some(secret.clone()),
        settings: json!({ "scopes": ["crm.objects.contacts.read"] }),
    };
    let created = store.upsert_install(&env.id, input.clone()).unwrap();
    assert_eq!(created.oauth_client_id.as_deref(), Some("client-1"));
    assert_eq!(created.oauth_client_secret.as_ref(), Some(&secret));
    assert_eq!(
        f.keyring.open(&row, Install::CLIENT_SECRET_FIELD, created.oauth_client_secret.as_ref().unwrap()).unwrap(),
        b"client-secret-1"
    );
    assert_eq!(store.get_install(&env.id, "acme_crm").unwrap(), created);

    let replaced = store.upsert_install(&env.id, InstallInput { oauth_client_id: Some("client-2".into()), ..input.clone() }).unwrap();
    assert_eq!(replaced.oauth_client_id.as_deref(), Some("client-2"));
    assert_eq!(replaced.created_at, created.created_at);
    assert_eq!(store.list_installs(&env.id).unwrap(), vec![replaced]);

    assert!(matches!(store.upsert_install(&env.id, InstallInput { settings: json!([1]), ..input.clone() }), Err(StoreError::Invalid(_))));
    assert!(matches!(store.upsert_install("env_missing", input), Err(StoreError::NotFound(_))));
    store.delete_install(&env.id, "acme_crm").unwrap();
    assert!(matches!(store.get_install(&env.id, "acme_crm"), Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete_install(&env.id, "acme_crm"), Err(StoreError::NotFound(_))));
}

fn accounts_round_trip_and_survive_reopen(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let new = new_account(&f.keyring, "acme_crm", Some("legacy-1"), "at-1", "rt-1");
    let created = store.create_account(&env.id, new.clone()).unwrap();
    assert_eq!(created.id, new.id);
    assert_eq!(created.environment_id, env.id);
    assert_eq!(created.integration, "acme_crm");
    assert_eq!(created.external_id.as_deref(), Some("legacy-1"));
    assert_eq!(created.connection, json!({ "subdomain": "acme" }));
    assert_eq!(created.credentials, new.credentials);
    assert_eq!(created.expires_at, new.expires_at);
    assert_eq!(created.status, AccountStatus::Active);
    assert_eq!(created.refresh.fence, 0);
    assert_eq!(open_creds(&f.keyring, &created)["refresh_token"], "rt-1");
    drop(store);

    let store = f.open();
    assert_eq!(store.get_account(&env.id, &created.id).unwrap(), created);
    assert_eq!(store.account_by_external_id(&env.id, "legacy-1").unwrap(), created);
    let other = store.create_account(&env.id, new_account(&f.keyring, "acme_desk", None, "at-2", "rt-2")).unwrap();
    assert_eq!(store.list_accounts(&env.id, None).unwrap().len(), 2);
    assert_eq!(store.list_accounts(&env.id, Some("acme_desk")).unwrap(), vec![other.clone()]);

    let patched = store
        .update_account(
            &env.id,
            &created.id,
            AccountPatch { status: Some(AccountStatus::Disabled), status_reason: Some("paused by admin".into()), ..Default::default() },
        )
        .unwrap();
    assert_eq!(patched.status, AccountStatus::Disabled);
    assert_eq!(patched.status_reason.as_deref(), Some("paused by admin"));
    assert_eq!(patched.connection, created.connection);
    let patched = store
        .update_account(&env.id, &created.id, AccountPatch { connection: Some(json!({"subdomain": "beta"})), ..Default::default() })
        .unwrap();
    assert_eq!(patched.status, AccountStatus::Disabled);
    assert_eq!(patched.connection, json!({"subdomain": "beta"}));

    // A duplicate external id is a conflict and writes nothing.
    let dup = new_account(&f.keyring, "acme_crm", Some("legacy-1"), "x", "y");
    assert!(matches!(store.create_account(&env.id, dup.clone()), Err(StoreError::Conflict(_))));
    assert!(matches!(store.get_account(&env.id, &dup.id), Err(StoreError::NotFound(_))));

    // Replacing credentials keeps a disabled account disabled, and reactivates one that needed reauth.
    let fresh = switchyard_store::SealedCredentials::seal(&f.keyring, &created.id, &creds(&[("access_token", "at-new")])).unwrap();
    let replaced = store.replace_credentials(&env.id, &created.id, fresh.clone(), None).unwrap();
    assert_eq!(replaced.credentials, fresh);
    assert_eq!(replaced.status, AccountStatus::Disabled);
    assert_eq!(replaced.expires_at, None);
    store
        .update_account(
            &env.id,
            &created.id,
            AccountPatch { status: Some(AccountStatus::NeedsReauth), status_reason: Some("invalid_grant".into()), ..Default::default() },
        )
        .unwrap();
    let reconnected = store.replace_credentials(&env.id, &created.id, fresh, None).unwrap();
    assert_eq!((reconnected.status, reconnected.status_reason), (AccountStatus::Active, None));

    store.delete_account(&env.id, &other.id).unwrap();
    assert!(matches!(store.get_account(&env.id, &other.id), Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete_account(&env.id, &other.id), Err(StoreError::NotFound(_))));
}

fn import_is_idempotent_on_external_id(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let first = new_account(&f.keyring, "acme_crm", Some("merge-acc-42"), "at-1", "rt-1");
    let (a, outcome) = store.import_account(&env.id, first.clone()).unwrap();
    assert_eq!(outcome, UpsertOutcome::Created);

    // A re-run (e.g. after a partial failure) returns the existing account untouched: its refresh token
    // may have rotated since the export, so the import's older credentials must not overwrite it.
    let rerun = new_account(&f.keyring, "acme_crm", Some("merge-acc-42"), "at-old", "rt-old");
    let (b, outcome) = store.import_account(&env.id, rerun.clone()).unwrap();
    assert_eq!(outcome, UpsertOutcome::AlreadyExists);
    assert_eq!(b, a);
    assert_eq!(open_creds(&f.keyring, &b)["refresh_token"], "rt-1");
    assert!(matches!(store.get_account(&env.id, &rerun.id), Err(StoreError::NotFound(_))));
    assert_eq!(store.list_accounts(&env.id, None).unwrap().len(), 1);

    // The same external id in another environment is another account.
    let env2 = store.create_environment("staging").unwrap();
    let (_, outcome) = store.import_account(&env2.id, rerun).unwrap();
    assert_eq!(outcome, UpsertOutcome::Created);

    let mut no_ext = first;
    no_ext.external_id = None;
    assert!(matches!(store.import_account(&env.id, no_ext), Err(StoreError::Invalid(_))));
}

/// Eight processes (a store each) import the same account at once, from a barrier, in rounds.
fn concurrent_imports_of_one_external_id_create_one_account(f: &Fixture) {
    let env = f.open().create_environment("production").unwrap();
    let stores: Vec<Box<dyn Store>> = (0..8).map(|_| f.open()).collect();
    for round in 0..5 {
        let external = format!("ext-{round}");
        let barrier = Barrier::new(stores.len());
        let outcomes: Vec<(Account, UpsertOutcome)> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    let acct = new_account(&f.keyring, "acme_crm", Some(&external), "at", "rt");
                    let (barrier, env) = (&barrier, &env.id);
                    s.spawn(move || {
                        barrier.wait();
                        store.import_account(env, acct).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(outcomes.iter().filter(|(_, o)| *o == UpsertOutcome::Created).count(), 1, "round {round}");
        let created = &outcomes.iter().find(|(_, o)| *o == UpsertOutcome::Created).unwrap().0;
        assert!(outcomes.iter().all(|(a, _)| a == created), "every import answers the one account");
    }
    assert_eq!(f.open().list_accounts(&env.id, None).unwrap().len(), 5);
}

fn every_read_and_write_is_scoped_by_environment(f: &Fixture) {
    let store = f.open();
    let a = store.create_environment("tenant-a").unwrap();
    let b = store.create_environment("tenant-b").unwrap();
    let acct = store.create_account(&a.id, new_account(&f.keyring, "acme_crm", Some("ext"), "at", "rt")).unwrap();
    store
        .upsert_install(
            &a.id,
            InstallInput { integration: "acme_crm".into(), oauth_client_id: None, oauth_client_secret: None, settings: json!({}) },
        )
        .unwrap();
    store.append_exchange(&a.id, exchange(Some(&acct.id), "body"), &[]).unwrap();

    let nf = |r: Result<_, StoreError>| matches!(r, Err(StoreError::NotFound(_)));
    assert!(nf(store.get_account(&b.id, &acct.id).map(|_| ())));
    assert!(nf(store.account_by_external_id(&b.id, "ext").map(|_| ())));
    assert!(store.list_accounts(&b.id, None).unwrap().is_empty());
    assert!(nf(store
        .update_account(&b.id, &acct.id, AccountPatch { status: Some(AccountStatus::Disabled), ..Default::default() })
        .map(|_| ())));
    assert!(nf(store.replace_credentials(&b.id, &acct.id, Default::default(), None).map(|_| ())));
    assert!(nf(store.acquire_refresh_lease(&b.id, &acct.id, "p", Duration::from_secs(5)).map(|_| ())));
    assert!(nf(store.complete_refresh(&b.id, &acct.id, 1, Default::default(), None).map(|_| ())));
    assert!(nf(store.fail_refresh(&b.id, &acct.id, 1, "x", true).map(|_| ())));
    assert!(nf(store.delete_account(&b.id, &acct.id)));
    assert!(nf(store.get_install(&b.id, "acme_crm").map(|_| ())));
    assert!(store.list_installs(&b.id).unwrap().is_empty());
    assert!(store.list_exchanges(&b.id, None, 10).unwrap().is_empty());
    assert!(store.list_exchanges(&b.id, Some(&acct.id), 10).unwrap().is_empty());
    assert!(nf(store.append_exchange(&b.id, exchange(Some(&acct.id), "x"), &[]).map(|_| ())));

    // Tenant A still sees everything, untouched.
    let again = store.get_account(&a.id, &acct.id).unwrap();
    assert_eq!(again, acct);
    assert_eq!(store.list_exchanges(&a.id, Some(&acct.id), 10).unwrap().len(), 1);
}

fn exchange(account: Option<&str>, body: &str) -> NewExchange {
    NewExchange {
        account_id: account.map(str::to_owned),
        integration: "acme_crm".into(),
        method: "GET".into(),
        url: "https://api.acme-crm.example/crm/v3/objects/contacts?limit=1".into(),
        status: Some(200),
        latency: Duration::from_millis(42),
        request_headers: vec![("accept".into(), "application/json".into())],
        request_body: None,
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: Some(body.into()),
        error: None,
    }
}

fn exchange_log_redacts_and_truncates(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-SECRET-1", "rt/SECRET+2")).unwrap();
    let secrets = ["at-SECRET-1", "rt/SECRET+2", "client-SECRET-3"];
    let ex = NewExchange {
        account_id: Some(acct.id.clone()),
        integration: "acme_crm".into(),
        method: "POST".into(),
        url: "https://api.acme-crm.example/oauth/v1/token?hapikey=at-SECRET-1".into(),
        status: Some(200),
        latency: Duration::from_millis(87),
        request_headers: vec![
            ("Authorization".into(), "Basic Y2xpZW50OnNlY3JldA==".into()),
            ("X-Echo".into(), "token at-SECRET-1 here".into()),
        ],
        request_body: Some("grant_type=refresh_token&refresh_token=rt%2FSECRET%2B2&client_secret=client-SECRET-3".into()),
        response_headers: vec![("Set-Cookie".into(), "session=abc".into())],
        response_body: Some(format!(r#"{{"access_token":"at-SECRET-1","refresh_token":"rt/SECRET+2","pad":"{}"}}"#, "x".repeat(40_000))),
        error: None,
    };
    let id = store.append_exchange(&env.id, ex, &secrets).unwrap();
    let logged = store.list_exchanges(&env.id, Some(&acct.id), 10).unwrap();
    assert_eq!(logged.len(), 1);
    let e = &logged[0];
    assert_eq!(e.id, id);
    assert_eq!((e.method.as_str(), e.status, e.latency_ms), ("POST", Some(200), 87));
    assert_eq!(e.url, "https://api.acme-crm.example/oauth/v1/token?hapikey=[REDACTED]");
    assert_eq!(e.request_headers[0], ("Authorization".into(), "[REDACTED]".into()));
    assert_eq!(e.request_headers[1].1, "token [REDACTED] here");
    assert_eq!(e.response_headers[0].1, "[REDACTED]");
    assert_eq!(e.request_body.as_deref(), Some("grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]"));
    let body = e.response_body.as_deref().unwrap();
    assert!(body.starts_with(r#"{"access_token":"[REDACTED]","refresh_token":"[REDACTED]""#));
    assert!(body.contains("[truncated") && body.len() < 17_000);
    let all = format!("{e:?}");
    for s in secrets {
        assert!(!all.contains(s), "{s} leaked into the log");
    }
    drop(store);
    let files = f.stored_files();
    for s in secrets {
        assert_eq!(files_contain(&files, s), None, "{s} is stored in plaintext");
    }

    let store = f.open();
    // Newest first, limit, per account filter, pruning.
    store.append_exchange(&env.id, exchange(None, "second"), &[]).unwrap();
    let recent = store.list_exchanges(&env.id, None, 1).unwrap();
    assert_eq!(recent[0].response_body.as_deref(), Some("second"));
    assert_eq!(store.list_exchanges(&env.id, Some(&acct.id), 10).unwrap().len(), 1);
    assert_eq!(store.prune_exchanges(chrono::Utc::now() + chrono::Duration::seconds(1)).unwrap(), 2);
    assert!(store.list_exchanges(&env.id, None, 10).unwrap().is_empty());
}

fn migrations_are_versioned_and_rerunnable(f: &Fixture) {
    let latest = if f.is_postgres() { postgres_migrations::latest() } else { MIGRATIONS.last().unwrap().0 };
    let store = f.open();
    assert_eq!(f.schema_version(), latest);
    let second = f.open(); // a second process on the same database migrates nothing
    drop((store, second));
    assert_eq!(f.schema_version(), latest);
    let expected = if f.is_postgres() { postgres_migrations::MIGRATIONS.len() } else { MIGRATIONS.len() };
    assert_eq!(f.raw_i64("SELECT COUNT(*) FROM schema_migrations"), expected as i64);
    if !f.is_postgres() {
        let conn = rusqlite::Connection::open(f.path()).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    // A database migrated by a newer build is refused with a clear error, not misread.
    f.raw_execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
    match f.open_error() {
        StoreError::Schema(m) => {
            assert!(m.contains("newer Switchyard") && m.contains("schema version 999"), "{m}");
            assert!(m.contains(&format!("knows up to {latest}")) && m.contains("restore a backup"), "{m}");
        }
        other => panic!("expected a schema version error, got {other:?}"),
    }
}

/// One schema version means the same schema on both backends.
#[test]
fn both_backends_know_the_same_schema_version() {
    assert_eq!(MIGRATIONS.last().unwrap().0, postgres_migrations::latest());
}

on_both_backends!(
    environments_and_api_keys_round_trip,
    installs_round_trip,
    accounts_round_trip_and_survive_reopen,
    import_is_idempotent_on_external_id,
    concurrent_imports_of_one_external_id_create_one_account,
    every_read_and_write_is_scoped_by_environment,
    exchange_log_redacts_and_truncates,
    migrations_are_versioned_and_rerunnable,
);
