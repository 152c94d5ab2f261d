//! The refresh lease with fencing, with two `Store` instances on one database (as two server
//! processes, or nodes, sharing it would have), 50-way races on one account, and rounds of races
//! between 8 stores, on both backends.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use chrono::Utc;
use common::*;
use switchyard_store::{AccountStatus, LeaseOutcome, RefreshLease, SealedCredentials, Store, StoreError};

const LONG: Duration = Duration::from_secs(60);

fn acquired(outcome: LeaseOutcome) -> RefreshLease {
    match outcome {
        LeaseOutcome::Acquired(lease) => lease,
        other => panic!("expected the lease, got {other:?}"),
    }
}

fn rotated(f: &Fixture, account_id: &str, n: &str) -> SealedCredentials {
    SealedCredentials::seal(&f.keyring, account_id, &creds(&[("access_token", &format!("at-{n}")), ("refresh_token", &format!("rt-{n}"))]))
        .unwrap()
}

fn only_one_process_holds_the_lease(f: &Fixture) {
    let (p1, p2) = (f.open(), f.open());
    let env = p1.create_environment("production").unwrap();
    let acct = p1.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0")).unwrap();

    let lease = acquired(p1.acquire_refresh_lease(&env.id, &acct.id, "process-1", LONG).unwrap());
    assert_eq!(lease.owner, "process-1");
    assert!(lease.expires_at > Utc::now());
    match p2.acquire_refresh_lease(&env.id, &acct.id, "process-2", LONG).unwrap() {
        LeaseOutcome::HeldByAnother { owner, expires_at } => {
            assert_eq!(owner, "process-1");
            assert_eq!(expires_at, lease.expires_at);
        }
        other => panic!("process-2 got {other:?}"),
    }
    // The holder completes; the lease is released and the other process re-reads the new credentials.
    let done = p1
        .complete_refresh(&env.id, &acct.id, lease.token, rotated(f, &acct.id, "1"), Some(Utc::now() + chrono::Duration::hours(1)))
        .unwrap();
    assert_eq!(done.refresh.refresh_count, 1);
    assert!(done.refresh.last_refresh_at.is_some());
    assert_eq!(done.refresh.lease_owner, None);
    let next = acquired(p2.acquire_refresh_lease(&env.id, &acct.id, "process-2", LONG).unwrap());
    assert!(next.token > lease.token);
    assert_eq!(open_creds(&f.keyring, &next.account)["refresh_token"], "rt-1", "credentials must be re-read after acquiring");
    // Completing twice with one token is refused.
    assert!(matches!(
        p1.complete_refresh(&env.id, &acct.id, lease.token, rotated(f, &acct.id, "x"), None),
        Err(StoreError::LeaseLost { .. })
    ));
    p2.release_refresh_lease(&env.id, &acct.id, next.token).unwrap();
    assert!(matches!(p2.release_refresh_lease(&env.id, &acct.id, next.token), Err(StoreError::LeaseLost { .. })));
}

fn an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off(f: &Fixture) {
    let (p1, p2) = (f.open(), f.open());
    let env = p1.create_environment("production").unwrap();
    let acct = p1.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0")).unwrap();

    let slow = acquired(p1.acquire_refresh_lease(&env.id, &acct.id, "slow", Duration::from_millis(50)).unwrap());
    std::thread::sleep(Duration::from_millis(120));
    let fast = acquired(p2.acquire_refresh_lease(&env.id, &acct.id, "fast", LONG).unwrap());
    assert!(fast.token > slow.token);
    p2.complete_refresh(&env.id, &acct.id, fast.token, rotated(f, &acct.id, "fast"), None).unwrap();

    // The slow holder finally answers: its write is rejected and nothing changes.
    let before = p1.get_account(&env.id, &acct.id).unwrap();
    let err = p1.complete_refresh(&env.id, &acct.id, slow.token, rotated(f, &acct.id, "slow"), None).unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { token } if token == slow.token), "{err:?}");
    assert!(matches!(p1.fail_refresh(&env.id, &acct.id, slow.token, "boom", true), Err(StoreError::LeaseLost { .. })));
    let after = p1.get_account(&env.id, &acct.id).unwrap();
    assert_eq!(after, before);
    assert_eq!(open_creds(&f.keyring, &after)["refresh_token"], "rt-fast");
    assert_eq!(after.status, AccountStatus::Active);

    // The slow holder is also rejected while the new holder still holds the lease.
    let third = acquired(p2.acquire_refresh_lease(&env.id, &acct.id, "fast", LONG).unwrap());
    assert!(matches!(
        p1.complete_refresh(&env.id, &acct.id, slow.token, rotated(f, &acct.id, "slow"), None),
        Err(StoreError::LeaseLost { .. })
    ));
    p2.release_refresh_lease(&env.id, &acct.id, third.token).unwrap();
}

fn an_expired_lease_nobody_took_over_may_still_complete(f: &Fixture) {
    // Nobody else can have refreshed in between, and the provider may already have rotated the refresh
    // token: dropping this result would lose the only valid one.
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0")).unwrap();
    let lease = acquired(store.acquire_refresh_lease(&env.id, &acct.id, "p", Duration::from_millis(20)).unwrap());
    std::thread::sleep(Duration::from_millis(60));
    let done = store.complete_refresh(&env.id, &acct.id, lease.token, rotated(f, &acct.id, "1"), None).unwrap();
    assert_eq!(open_creds(&f.keyring, &done)["refresh_token"], "rt-1");
}

fn replacing_credentials_fences_off_a_refresh_in_flight(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0")).unwrap();
    let lease = acquired(store.acquire_refresh_lease(&env.id, &acct.id, "p", LONG).unwrap());
    store.replace_credentials(&env.id, &acct.id, rotated(f, &acct.id, "reconnect"), None).unwrap();
    assert!(matches!(
        store.complete_refresh(&env.id, &acct.id, lease.token, rotated(f, &acct.id, "stale"), None),
        Err(StoreError::LeaseLost { .. })
    ));
    let acct = store.get_account(&env.id, &acct.id).unwrap();
    assert_eq!(open_creds(&f.keyring, &acct)["refresh_token"], "rt-reconnect");
    assert_eq!(acct.refresh.lease_owner, None);
}

fn a_failed_refresh_records_the_error_and_invalid_grant_needs_reauth(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0")).unwrap();

    let lease = acquired(store.acquire_refresh_lease(&env.id, &acct.id, "p", LONG).unwrap());
    let a = store.fail_refresh(&env.id, &acct.id, lease.token, "upstream 503", false).unwrap();
    assert_eq!(
        (a.status, a.refresh.consecutive_failures, a.refresh.last_error.as_deref()),
        (AccountStatus::Active, 1, Some("upstream 503"))
    );
    assert_eq!(a.refresh.lease_owner, None);

    let lease = acquired(store.acquire_refresh_lease(&env.id, &acct.id, "p", LONG).unwrap());
    let a = store.fail_refresh(&env.id, &acct.id, lease.token, "invalid_grant", true).unwrap();
    assert_eq!(a.status, AccountStatus::NeedsReauth);
    assert_eq!(a.status_reason.as_deref(), Some("invalid_grant"));
    assert_eq!(a.refresh.consecutive_failures, 2);
    // The credentials are untouched.
    assert_eq!(a.credentials, acct.credentials);
}

/// One simulated refresher, as the server runs it: take the lease, look at the re-read account, call the
/// token endpoint only if the token is still expired, then complete (or release).
fn refresher(
    store: &dyn Store,
    f_keyring: &switchyard_store::Keyring,
    env: &str,
    account: &str,
    me: usize,
    token_calls: &AtomicUsize,
) -> bool {
    match store.acquire_refresh_lease(env, account, &format!("worker-{me}"), LONG).unwrap() {
        LeaseOutcome::HeldByAnother { .. } => false,
        LeaseOutcome::Acquired(lease) => {
            let still_expired = lease.account.expires_at.is_none_or(|t| t <= Utc::now());
            if !still_expired {
                store.release_refresh_lease(env, account, lease.token).unwrap();
                return false;
            }
            token_calls.fetch_add(1, Ordering::SeqCst);
            let old = lease.account.credentials.open(f_keyring, account).unwrap();
            assert_eq!(old["refresh_token"].expose(), "rt-0", "a refresher used a stale refresh token");
            let new = SealedCredentials::seal(
                f_keyring,
                account,
                &creds(&[("access_token", &format!("at-{me}")), ("refresh_token", &format!("rt-{me}"))]),
            )
            .unwrap();
            store.complete_refresh(env, account, lease.token, new, Some(Utc::now() + chrono::Duration::hours(1))).unwrap();
            true
        }
    }
}

fn expired_account(f: &Fixture, store: &dyn Store) -> (String, String) {
    let env = store.create_environment("production").unwrap();
    let mut new = new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0");
    new.expires_at = Some(Utc::now() - chrono::Duration::minutes(5));
    let acct = store.create_account(&env.id, new).unwrap();
    (env.id, acct.id)
}

/// Fifty processes (a store each: its own connections) race for one expired account.
fn fifty_processes_race_and_exactly_one_refreshes(f: &Fixture) {
    let (env, account) = expired_account(f, &*f.open());
    // Opened first: the race is between the refreshers, not with the stores' start.
    let stores: Vec<Box<dyn Store>> = (0..50).map(|_| f.open()).collect();
    let barrier = Barrier::new(stores.len());
    let token_calls = AtomicUsize::new(0);
    let winners: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (barrier, token_calls, env, account) = (&barrier, &token_calls, &env, &account);
                s.spawn(move || {
                    barrier.wait();
                    refresher(&**store, &f.keyring, env, account, i, token_calls)
                })
            })
            .collect();
        handles.into_iter().enumerate().filter_map(|(i, h)| h.join().unwrap().then_some(i)).collect()
    });
    assert_eq!(token_calls.load(Ordering::SeqCst), 1);
    assert_eq!(winners.len(), 1);
    let acct = f.open().get_account(&env, &account).unwrap();
    assert_eq!(open_creds(&f.keyring, &acct)["refresh_token"], format!("rt-{}", winners[0]));
    assert_eq!(acct.refresh.refresh_count, 1);
    assert_eq!(acct.refresh.lease_owner, None);
}

fn fifty_threads_on_one_store_race_and_exactly_one_refreshes(f: &Fixture) {
    let store = f.open();
    let (env, account) = expired_account(f, &*store);
    let barrier = Barrier::new(50);
    let token_calls = AtomicUsize::new(0);
    let winners = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (store, barrier, token_calls, env, account) = (&store, &barrier, &token_calls, &env, &account);
                s.spawn(move || {
                    barrier.wait();
                    refresher(&**store, &f.keyring, env, account, i, token_calls)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).filter(|w| *w).count()
    });
    assert_eq!((winners, token_calls.load(Ordering::SeqCst)), (1, 1));
}

/// Rounds of a race between 8 stores for the lease of an account whose lease keeps expiring:
/// each round exactly one wins, its token is above every earlier one, and the holders of earlier
/// tokens are fenced off (their completions are refused and change nothing).
fn every_round_of_a_lease_race_has_one_winner_and_fencing_holds(f: &Fixture) {
    let stores: Vec<Box<dyn Store>> = (0..8).map(|_| f.open()).collect();
    let env = stores[0].create_environment("production").unwrap();
    let acct = stores[0].create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-0", "rt-0")).unwrap();
    let mut earlier: Vec<i64> = Vec::new();
    for round in 0..10 {
        let barrier = Barrier::new(stores.len());
        let leases: Vec<RefreshLease> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    let (barrier, env, acct) = (&barrier, &env.id, &acct.id);
                    s.spawn(move || {
                        barrier.wait();
                        // Short: the lease has expired by the next round.
                        match store.acquire_refresh_lease(env, acct, &format!("node-{i}"), Duration::from_millis(30)).unwrap() {
                            LeaseOutcome::Acquired(lease) => Some(lease),
                            LeaseOutcome::HeldByAnother { .. } => None,
                        }
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(leases.len(), 1, "round {round}: {} winners", leases.len());
        let lease = &leases[0];
        assert!(earlier.iter().all(|t| *t < lease.token), "round {round}: token {} not above {earlier:?}", lease.token);
        let before = stores[1].get_account(&env.id, &acct.id).unwrap();
        for stale in &earlier {
            let err = stores[2].complete_refresh(&env.id, &acct.id, *stale, rotated(f, &acct.id, "stale"), None).unwrap_err();
            assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
        }
        assert_eq!(stores[3].get_account(&env.id, &acct.id).unwrap(), before, "a fenced-off write changed the account");
        earlier.push(lease.token);
        std::thread::sleep(Duration::from_millis(40));
    }
    let last = *earlier.last().unwrap();
    let done = stores[0].complete_refresh(&env.id, &acct.id, last, rotated(f, &acct.id, "last"), None).unwrap();
    assert_eq!(open_creds(&f.keyring, &done)["refresh_token"], "rt-last");
}

on_both_backends!(
    only_one_process_holds_the_lease,
    an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off,
    replacing_credentials_fences_off_a_refresh_in_flight,
    a_failed_refresh_records_the_error_and_invalid_grant_needs_reauth,
    an_expired_lease_nobody_took_over_may_still_complete,
    fifty_processes_race_and_exactly_one_refreshes,
    fifty_threads_on_one_store_race_and_exactly_one_refreshes,
    every_round_of_a_lease_race_has_one_winner_and_fencing_holds,
);
