//! Helpers shared by the pagination tests: names, walking a list, contacts in the shape of
//! the cursor-in-the-body definition.

use serde_json::{json, Value};
use switchyard_runtime::account::Account;
use switchyard_runtime::engine::{Engine, ListRequest, UnifiedPage};
use switchyard_runtime::error::RuntimeError;

use super::{pairs, Recorded, Reply};

pub const NAMES: [(&str, &str); 6] =
    [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), ("Edsger", "Dijkstra"), ("Barbara", "Liskov"), ("Donald", "Knuth")];

pub fn name(i: usize) -> (&'static str, &'static str) {
    NAMES[i % NAMES.len()]
}

pub fn email(i: usize) -> String {
    format!("{}@x.com", name(i).0.to_lowercase())
}

/// Walks a list to its end: the first page with `first`, then each `next_cursor`. Fails after
/// 10 pages (no list here is that long).
pub async fn walk(engine: &Engine, account: &Account, first: ListRequest) -> Vec<UnifiedPage> {
    let mut pages = Vec::new();
    let mut request = first.clone();
    loop {
        let page = engine.list(account, "crm", "contacts", &request).await.unwrap_or_else(|e| panic!("page {}: {e}", pages.len() + 1));
        let next = page.next_cursor.clone();
        pages.push(page);
        match next {
            Some(cursor) => request = ListRequest { cursor: Some(cursor), query: first.query.clone(), ..ListRequest::default() },
            None => return pages,
        }
        assert!(pages.len() < 10, "the list does not end");
    }
}

pub fn ids(pages: &[UnifiedPage]) -> Vec<Vec<String>> {
    pages.iter().map(|p| p.results.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()).collect()
}

pub fn expect_err(result: Result<UnifiedPage, RuntimeError>) -> RuntimeError {
    match result {
        Ok(page) => panic!("expected an error, got a page of {} records (next cursor {:?})", page.results.len(), page.next_cursor),
        Err(e) => e,
    }
}

pub fn q(items: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs(items)
}

pub fn body_cursor_contact(id: usize) -> Value {
    let (first, last) = name(id);
    json!({
        "id": id.to_string(),
        "properties": {
            "createdate": "2024-05-02T14:11:07.517Z",
            "email": email(id),
            "firstname": first,
            "hs_object_id": id.to_string(),
            "lastmodifieddate": "2024-06-01T09:00:00.000Z",
            "lastname": last,
            "phone": if id % 2 == 0 { Value::Null } else { json!("+1 555 0100") }
        },
        "createdAt": "2024-05-02T14:11:07.517Z",
        "updatedAt": "2024-06-01T09:00:00.000Z",
        "archived": false
    })
}

pub fn body_cursor_unified(id: usize) -> Value {
    let (first, last) = name(id);
    json!({
        "id": id.to_string(),
        "first_name": first,
        "last_name": last,
        "emails": [{ "email": email(id), "type": "primary" }],
        "phone_numbers": if id % 2 == 0 { json!([]) } else { json!([{ "number": "+1 555 0100", "type": "work" }]) },
        "created_at": "2024-05-02T14:11:07.517Z",
        "updated_at": "2024-06-01T09:00:00.000Z"
    })
}

pub fn body_cursor_provider(request: &Recorded) -> Reply {
    let (ids, next): (Vec<usize>, Option<&str>) = match request.query("after") {
        None => (vec![51, 52], Some("NTI%3D")),
        Some("NTI%3D") => (vec![53, 54], Some("NTQ%3D")),
        Some("NTQ%3D") => (vec![55], None),
        Some(_) => {
            return Reply::json(
                400,
                json!({ "status": "error", "message": "Invalid input JSON on line 1", "correlationId": "5e8b1c2d-0000-4000-8000-000000000001", "category": "VALIDATION_ERROR" }),
            )
        }
    };
    let mut body = json!({ "results": ids.iter().map(|&i| body_cursor_contact(i)).collect::<Vec<_>>() });
    if let Some(after) = next {
        body["paging"] =
            json!({ "next": { "after": after, "link": format!("{}/crm/v3/objects/contacts?after={after}&limit=2", request.origin()) } });
    }
    Reply::json(200, body)
}
