//! API key management in the store: ids, names and display prefixes, revocation by id (the last
//! working key is kept unless forced), rotation with and without an overlap, the revocation
//! generation (bumped by triggers, also for a key deleted by hand), the upgrade of keys stored
//! before migration 3 (SQLite only: Postgres databases start at schema 3); concurrent
//! revocations never leave an environment without a key; and the indexed account pages. On both
//! backends.

#[macro_use]
mod common;

use std::sync::Barrier;
use std::time::Duration;

use common::*;
use switchyard_store::sqlite::MIGRATIONS;
use switchyard_store::{AccountCursor, ApiKey, ApiKeyHash, NewApiKey, PostgresOptions, PostgresStore, SqliteStore, StoreError};

fn keys_are_created_listed_revoked_and_rotated(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let other = store.create_environment("staging").unwrap();

    let first = ApiKey::generate();
    let created = store.create_api_key(&env.id, NewApiKey::of(&first, Some("ci".into()))).unwrap();
    assert!(created.id.starts_with("key_"));
    assert_eq!(created.name.as_deref(), Some("ci"));
    assert_eq!(created.prefix.as_deref(), Some(first.display_prefix()));
    assert!(created.revoked_at.is_none() && created.last_used_at.is_none());
    let second = ApiKey::generate();
    let two = store.create_api_key(&env.id, NewApiKey::of(&second, None)).unwrap();
    store.create_api_key(&other.id, NewApiKey::of(&ApiKey::generate(), None)).unwrap();

    let listed = store.list_api_keys(&env.id).unwrap();
    assert_eq!(listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), vec![created.id.as_str(), two.id.as_str()]);
    // Another environment's key is not found, like a missing one.
    assert!(matches!(store.get_api_key(&other.id, &created.id), Err(StoreError::NotFound(_))));
    assert!(matches!(store.revoke_api_key_by_id(&other.id, &created.id, true), Err(StoreError::NotFound(_))));

    let grant = store.api_key_grant(&first.hash()).unwrap();
    assert_eq!((grant.environment.id.as_str(), grant.key_id.as_str(), grant.revoked_at), (env.id.as_str(), created.id.as_str(), None));

    // Revoke: refused at once, kept in the list with its revocation time.
    let g0 = store.api_key_generation().unwrap();
    let revoked = store.revoke_api_key_by_id(&env.id, &created.id, false).unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(store.api_key_generation().unwrap() > g0);
    assert!(matches!(store.api_key_grant(&first.hash()), Err(StoreError::NotFound(_))));
    assert!(matches!(store.environment_by_api_key(&first.hash()), Err(StoreError::NotFound(_))));
    assert_eq!(store.list_api_keys(&env.id).unwrap().len(), 2);
    // Revoking again changes nothing.
    let again = store.revoke_api_key_by_id(&env.id, &created.id, false).unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);

    // The last working key is kept unless forced.
    match store.revoke_api_key_by_id(&env.id, &two.id, false) {
        Err(StoreError::Conflict(m)) => assert!(m.contains("last"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(store.api_key_grant(&second.hash()).is_ok());

    // Rotate at once: the new key works, the old one not; the name carries over.
    let third = ApiKey::generate();
    let (new, old) = store.rotate_api_key(&env.id, &two.id, NewApiKey::of(&third, Some("deploy".into())), Duration::ZERO).unwrap();
    assert_eq!(new.name.as_deref(), Some("deploy"));
    assert!(old.revoked_at.is_some());
    assert!(store.api_key_grant(&second.hash()).is_err());
    assert_eq!(store.api_key_grant(&third.hash()).unwrap().key_id, new.id);
    // A revoked key cannot be rotated.
    assert!(matches!(
        store.rotate_api_key(&env.id, &two.id, NewApiKey::of(&ApiKey::generate(), None), Duration::ZERO),
        Err(StoreError::Conflict(_))
    ));

    // Rotate with an overlap: the old key works until its revocation time, which the grant carries.
    let fourth = ApiKey::generate();
    let (newest, overlapping) = store.rotate_api_key(&env.id, &new.id, NewApiKey::of(&fourth, None), Duration::from_millis(400)).unwrap();
    assert_eq!(newest.name.as_deref(), Some("deploy"), "the name carries over");
    let until = overlapping.revoked_at.expect("a revocation time ahead");
    assert!(until > chrono::Utc::now());
    assert_eq!(store.api_key_grant(&third.hash()).unwrap().revoked_at, Some(until));
    // Already rotated: not again.
    assert!(matches!(
        store.rotate_api_key(&env.id, &new.id, NewApiKey::of(&ApiKey::generate(), None), Duration::ZERO),
        Err(StoreError::Conflict(_))
    ));
    std::thread::sleep(Duration::from_millis(450));
    assert!(matches!(store.api_key_grant(&third.hash()), Err(StoreError::NotFound(_))));
    assert!(store.api_key_grant(&fourth.hash()).is_ok());

    // A key in its overlap can be revoked at once (another key is working).
    let fifth = ApiKey::generate();
    let (_, in_overlap) = store.rotate_api_key(&env.id, &newest.id, NewApiKey::of(&fifth, None), Duration::from_secs(3600)).unwrap();
    assert!(store.api_key_grant(&fourth.hash()).is_ok());
    let stopped = store.revoke_api_key_by_id(&env.id, &in_overlap.id, false).unwrap();
    assert!(stopped.revoked_at.unwrap() <= chrono::Utc::now());
    assert!(store.api_key_grant(&fourth.hash()).is_err());

    // Forced, the last key goes too.
    let last = store.list_api_keys(&env.id).unwrap().into_iter().find(|k| k.revoked_at.is_none()).unwrap();
    store.revoke_api_key_by_id(&env.id, &last.id, true).unwrap();
    assert!(store.api_key_grant(&fifth.hash()).is_err());

    // Names are checked.
    assert!(matches!(store.create_api_key(&env.id, NewApiKey::of(&ApiKey::generate(), Some(" ".into()))), Err(StoreError::Invalid(_))));
    assert!(matches!(
        store.create_api_key(&env.id, NewApiKey::of(&ApiKey::generate(), Some("x".repeat(129)))),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(store.create_api_key("env_missing", NewApiKey::of(&ApiKey::generate(), None)), Err(StoreError::NotFound(_))));

    // No key is on disk: only its hash.
    drop(store);
    let files = f.stored_files();
    for key in [&first, &second, &third, &fourth, &fifth] {
        assert_eq!(files_contain(&files, key.expose()), None);
    }
}

fn the_generation_moves_on_every_revocation_and_only_then(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let a = ApiKey::generate();
    let b = ApiKey::generate();
    let ka = store.create_api_key(&env.id, NewApiKey::of(&a, None)).unwrap();
    store.create_api_key(&env.id, NewApiKey::of(&b, None)).unwrap();
    let g0 = store.api_key_generation().unwrap();
    // Creating and using keys do not move it.
    store.create_api_key(&env.id, NewApiKey::of(&ApiKey::generate(), None)).unwrap();
    let used = chrono::Utc::now();
    store.touch_api_key(&ka.id, used, None).unwrap();
    assert_eq!(store.api_key_generation().unwrap(), g0);
    assert_eq!(store.get_api_key(&env.id, &ka.id).unwrap().last_used_at.map(|t| t.timestamp_millis()), Some(used.timestamp_millis()));
    // Only forward.
    store.touch_api_key(&ka.id, used - chrono::Duration::seconds(60), None).unwrap();
    assert_eq!(store.get_api_key(&env.id, &ka.id).unwrap().last_used_at.map(|t| t.timestamp_millis()), Some(used.timestamp_millis()));
    // A revocation by hash moves it.
    store.revoke_api_key(&a.hash()).unwrap();
    let g1 = store.api_key_generation().unwrap();
    assert!(g1 > g0);
    assert!(matches!(store.revoke_api_key(&a.hash()), Err(StoreError::NotFound(_))));
    // A key deleted by hand, outside the store, moves it too (a trigger).
    f.delete_key_by_hand(&b.hash().0);
    let g2 = store.api_key_generation().unwrap();
    assert!(g2 > g1);
    assert!(store.api_key_grant(&b.hash()).is_err());
    // A second process on the database reads the same generation.
    assert_eq!(f.open().api_key_generation().unwrap(), g2);
}

fn keys_stored_before_migration_3(f: &Fixture) {
    let key = ApiKey::generate();
    {
        // A database at schema version 2, with a key stored the old way (hash only).
        let mut conn = rusqlite::Connection::open(f.path()).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
            .unwrap();
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 2) {
            tx.execute_batch(sql).unwrap();
            tx.execute("INSERT INTO schema_migrations VALUES (?1, ?2, 0)", rusqlite::params![version, name]).unwrap();
        }
        tx.execute("INSERT INTO environments (id, name, created_at) VALUES ('env_old', 'legacy', 1000)", []).unwrap();
        tx.execute("INSERT INTO api_keys (hash, environment_id, created_at) VALUES (?1, 'env_old', 2000)", [&key.hash().0[..]]).unwrap();
        tx.commit().unwrap();
    }
    let store = f.open();
    assert_eq!(f.schema_version(), MIGRATIONS.last().unwrap().0);
    let keys = store.list_api_keys("env_old").unwrap();
    assert_eq!(keys.len(), 1);
    let old = &keys[0];
    assert!(old.id.starts_with("key_") && old.id.len() == 4 + 32, "{}", old.id);
    assert_eq!((old.name.as_deref(), old.prefix.as_deref(), old.revoked_at), (None, None, None));
    assert_eq!(old.created_at.timestamp_millis(), 2000);
    assert_eq!(store.environment_by_api_key(&ApiKeyHash::of(key.expose())).unwrap().id, "env_old");
    // Its prefix is learnt from the key when it is used (the server passes it), never replaced.
    store.touch_api_key(&old.id, chrono::Utc::now(), Some(key.display_prefix())).unwrap();
    assert_eq!(store.get_api_key("env_old", &old.id).unwrap().prefix.as_deref(), Some(key.display_prefix()));
    store.touch_api_key(&old.id, chrono::Utc::now(), Some("sy_AAAAAAAA")).unwrap();
    assert_eq!(store.get_api_key("env_old", &old.id).unwrap().prefix.as_deref(), Some(key.display_prefix()));
    assert!(matches!(store.touch_api_key(&old.id, chrono::Utc::now(), Some(key.expose())), Err(StoreError::Invalid(_))));
    // It is managed like any other.
    let (new, _) = store.rotate_api_key("env_old", &old.id, NewApiKey::of(&ApiKey::generate(), None), Duration::ZERO).unwrap();
    assert!(new.prefix.is_some());
    assert!(store.api_key_grant(&key.hash()).is_err());
}

fn account_pages_walk_an_index_in_creation_order(f: &Fixture) {
    for (with_integration, with_cursor) in [(false, false), (false, true), (true, false), (true, true)] {
        let index = if with_integration { "accounts_environment_integration" } else { "accounts_environment_created" };
        match &f.backend {
            Backend::Sqlite { path, .. } => {
                let plan = SqliteStore::open(path).unwrap().account_page_plan(with_integration, with_cursor).unwrap().join("\n");
                assert!(plan.contains(index), "integration {with_integration}, cursor {with_cursor}: {plan}");
                assert!(!plan.contains("TEMP B-TREE"), "a page must not sort: {plan}");
            }
            Backend::Postgres { db } => {
                let store = PostgresStore::open(&db.url, PostgresOptions::default()).unwrap();
                let plan = store.account_page_plan(with_integration, with_cursor).unwrap().join("\n");
                assert!(
                    plan.contains(&format!("Index Scan using {index} ")),
                    "integration {with_integration}, cursor {with_cursor}: {plan}"
                );
                assert!(!plan.contains("Sort"), "a page must not sort: {plan}");
            }
        }
    }
    let store = f.open();

    let env = store.create_environment("production").unwrap();
    let other = store.create_environment("staging").unwrap();
    let mut ids = Vec::new();
    for i in 0..25 {
        let integration = if i % 5 == 0 { "acme_desk" } else { "acme_crm" };
        let account = new_account(&f.keyring, integration, Some(&format!("ext-{i}")), "at", "rt");
        ids.push((integration, store.create_account(&env.id, account).unwrap().id));
    }
    store.create_account(&other.id, new_account(&f.keyring, "acme_crm", Some("x"), "at", "rt")).unwrap();
    let everything: Vec<String> = store.list_accounts(&env.id, None).unwrap().into_iter().map(|a| a.id).collect();

    let walk = |integration: Option<&str>, limit: usize| -> (Vec<String>, usize) {
        let (mut seen, mut pages, mut after): (Vec<String>, usize, Option<AccountCursor>) = (Vec::new(), 0, None);
        loop {
            let page = store.list_accounts_page(&env.id, integration, after.as_ref(), limit).unwrap();
            assert!(page.accounts.len() <= limit);
            pages += 1;
            seen.extend(page.accounts.into_iter().map(|a| a.id));
            match page.next_after {
                Some(next) => after = Some(next),
                None => return (seen, pages),
            }
        }
    };
    let (seen, pages) = walk(None, 10);
    assert_eq!(seen, everything, "the same accounts, in the same order, none twice");
    assert_eq!(pages, 3);
    let (seen, pages) = walk(None, 25);
    assert_eq!((seen.len(), pages), (25, 1), "an exactly full page says nothing follows");
    let (seen, _) = walk(Some("acme_desk"), 2);
    let desk: Vec<String> = ids.iter().filter(|(i, _)| *i == "acme_desk").map(|(_, id)| id.clone()).collect();
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_desk = desk.clone();
    sorted_desk.sort();
    assert_eq!(sorted_seen, sorted_desk);
    assert!(store.list_accounts_page(&other.id, Some("acme_desk"), None, 10).unwrap().accounts.is_empty());

    // A page after a deleted account's cursor still continues where it was.
    let first = store.list_accounts_page(&env.id, None, None, 5).unwrap();
    let cursor = first.next_after.clone().unwrap();
    store.delete_account(&env.id, &cursor.id).unwrap();
    let next = store.list_accounts_page(&env.id, None, Some(&cursor), 5).unwrap();
    assert_eq!(next.accounts[0].id, everything[5]);
}

on_both_backends!(
    keys_are_created_listed_revoked_and_rotated,
    the_generation_moves_on_every_revocation_and_only_then,
    account_pages_walk_an_index_in_creation_order,
    concurrent_revocations_never_revoke_the_last_working_key,
);

/// The upgrade of an SQLite database made before migration 3; Postgres databases start at 3.
#[test]
fn keys_stored_before_migration_3_get_ids_and_keep_working() {
    keys_stored_before_migration_3(&Fixture::sqlite())
}

/// Two nodes revoke an environment's last two working keys at the same moment (without force):
/// one revocation passes, the other is refused, in every round.
fn concurrent_revocations_never_revoke_the_last_working_key(f: &Fixture) {
    let (a, b) = (f.open(), f.open());
    for round in 0..10 {
        let env = a.create_environment(&format!("env-{round}")).unwrap();
        let k1 = a.create_api_key(&env.id, NewApiKey::of(&ApiKey::generate(), None)).unwrap();
        let k2 = a.create_api_key(&env.id, NewApiKey::of(&ApiKey::generate(), None)).unwrap();
        let barrier = Barrier::new(2);
        let results = std::thread::scope(|s| {
            let one = s.spawn(|| {
                barrier.wait();
                a.revoke_api_key_by_id(&env.id, &k1.id, false)
            });
            let two = s.spawn(|| {
                barrier.wait();
                b.revoke_api_key_by_id(&env.id, &k2.id, false)
            });
            [one.join().unwrap(), two.join().unwrap()]
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(StoreError::Conflict(_)))), "round {round}: {results:?}");
        let working = a.list_api_keys(&env.id).unwrap().into_iter().filter(|k| k.revoked_at.is_none()).count();
        assert_eq!(working, 1, "round {round}");
    }
}
