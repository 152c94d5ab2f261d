//! Realistic exchange-log entries, for the tenant-isolation test and benchmark: a GET of a JSON
//! page of six contacts, with the headers a provider sends, about 2 KB as the store keeps it.
//! Entry `i` has its number in the URL (`after={1000 + 6i}`), so a test can tell which were kept.
#![allow(dead_code)]

use std::time::Duration;
use switchyard_store::{NewExchange, SqliteStore, Store};

pub fn realistic_exchange(i: usize, account_id: Option<&str>) -> NewExchange {
    let records: Vec<String> = (0..6)
        .map(|r| {
            let id = 1000 + i * 6 + r;
            format!(
                r#"{{"id":"{id}","properties":{{"email":"person{id}@example.com","firstname":"Ada","lastname":"Lovelace","createdate":"2024-05-01T10:00:00.000Z","lastmodifieddate":"2024-05-02T11:30:00.000Z"}},"archived":false}}"#
            )
        })
        .collect();
    let body = format!(r#"{{"results":[{}],"paging":{{"next":{{"after":"{}"}}}}}}"#, records.join(","), 1000 + i * 6 + 6);
    NewExchange {
        account_id: account_id.map(str::to_owned),
        integration: "cursor_body".into(),
        method: "GET".into(),
        url: format!("https://api.crm.example/crm/v3/objects/contacts?limit=6&after={}", 1000 + i * 6),
        status: Some(200),
        latency: Duration::from_millis(40 + (i % 50) as u64),
        request_headers: vec![
            ("accept".into(), "application/json".into()),
            ("authorization".into(), "Bearer pat-na1-0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a".into()),
            ("user-agent".into(), "switchyard/0.1".into()),
        ],
        request_body: None,
        response_headers: vec![
            ("content-type".into(), "application/json;charset=utf-8".into()),
            ("date".into(), "Sat, 01 Jun 2024 09:00:00 GMT".into()),
            ("x-request-id".into(), format!("0c1d2e3f-0000-4000-8000-{i:012}")),
            ("x-ratelimit-limit".into(), "190".into()),
            ("x-ratelimit-remaining".into(), "189".into()),
            ("x-ratelimit-interval-milliseconds".into(), "10000".into()),
            ("vary".into(), "Accept-Encoding".into()),
            ("cache-control".into(), "no-cache, no-store, must-revalidate".into()),
            ("strict-transport-security".into(), "max-age=31536000; includeSubDomains; preload".into()),
        ],
        response_body: Some(body),
        error: None,
    }
}

/// Writes entries `0..n` into the named environment's log in the SQLite database at `db` (its own
/// connection to the file, as a second process would have), a thousand per transaction.
pub fn fill_log(db: &std::path::Path, environment: &str, n: usize) {
    fill_store(&SqliteStore::open(db).unwrap(), environment, n);
}

/// [`fill_log`] through any store (a test server's database on either backend).
pub fn fill_store(store: &dyn Store, environment: &str, n: usize) {
    let env = store.environment_by_name(environment).unwrap();
    for start in (0..n).step_by(1000) {
        let batch = (start..n.min(start + 1000)).map(|i| realistic_exchange(i, None)).collect();
        store.append_exchanges(&env.id, batch, &[]).unwrap();
    }
}
