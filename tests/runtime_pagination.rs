//! Pagination against loopback mock providers that page the way the providers each test
//! definition imitates do (see the comment at the top of each definition): every kind walked
//! to its real end with the returned `next_cursor`, and every way a list can go wrong.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::pages::{body_cursor_contact, body_cursor_provider, body_cursor_unified, email, expect_err, ids, name, q, walk};
use support::{account, basic, engine, fact, limit_headers, now, pairs, registry, Mock, Reply};
use switchyard_runtime::account::Account;
use switchyard_runtime::engine::ListRequest;
use switchyard_runtime::error::ErrorKind;

// ---------------------------------------------------------------------------------------
// cursor from the body

/// Three pages of two, then one: `after` is opaque, the last page has no `paging` key.

#[tokio::test]
async fn cursor_from_the_body_walks_to_the_page_without_paging() {
    let mock = Mock::start(|request, _| body_cursor_provider(request)).await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-na1-11111111-2222-3333-4444-555555555555")]);
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0].results, vec![body_cursor_unified(51), body_cursor_unified(52)]);
    assert_eq!(pages[1].results, vec![body_cursor_unified(53), body_cursor_unified(54)]);
    assert_eq!(pages[2].results, vec![body_cursor_unified(55)]);
    assert!(pages[0].next_cursor.is_some() && pages[1].next_cursor.is_some());
    assert_eq!(pages[2].next_cursor, None);

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let base = [("archived", "false"), ("properties", "firstname,lastname,email,phone"), ("limit", "2")];
    for (i, after) in [None, Some("NTI%3D"), Some("NTQ%3D")].into_iter().enumerate() {
        assert_eq!(requests[i].method, "GET");
        assert_eq!(requests[i].path, "/crm/v3/objects/contacts");
        let mut expected = q(&base);
        expected.extend(after.map(|a| ("after".to_string(), a.to_string())));
        assert_eq!(requests[i].query, expected, "request {i}");
        assert_eq!(
            requests[i].app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", "Bearer pat-na1-11111111-2222-3333-4444-555555555555")])
        );
        assert!(requests[i].body.is_empty());
    }
    // The opaque cursor is sent back exactly, percent sign included.
    assert_eq!(
        requests[1].raw_query.as_deref(),
        Some("archived=false&properties=firstname%2Clastname%2Cemail%2Cphone&limit=2&after=NTI%253D")
    );
}

/// A page large enough to be read from its text and mapped in two halves: every record comes
/// out as it does from a page parsed whole, in order, and the same page sent again (the cursor
/// ignored) is still recognized as the same page.
#[tokio::test]
async fn a_large_page_read_from_its_text_maps_like_a_parsed_one() {
    let mock = Mock::start(|request, _| {
        let mut records: Vec<Value> = (1..=64).map(body_cursor_contact).collect();
        // Text the scan must step over: escapes, brackets and commas inside strings, non-ASCII.
        records[10]["properties"]["firstname"] = json!("Zoë \"]},{\" \\ \u{1F600}");
        records[11]["properties"]["lastname"] = json!("[{,}]");
        let paging = json!({ "next": { "after": "NjQ=", "link": format!("{}/crm/v3/objects/contacts?after=NjQ=", request.origin()) } });
        // Pretty-printed: whitespace between and inside the records.
        Reply::raw(200, "application/json", serde_json::to_string_pretty(&json!({ "results": records, "paging": paging })).unwrap())
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-na1-11111111-2222-3333-4444-555555555555")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(64), ..ListRequest::default() }).await.unwrap();
    let mut expected: Vec<Value> = (1..=64).map(body_cursor_unified).collect();
    expected[10]["first_name"] = json!("Zoë \"]},{\" \\ \u{1F600}");
    expected[11]["last_name"] = json!("[{,}]");
    assert_eq!(first.results, expected);

    let again = ListRequest { cursor: first.next_cursor.clone(), ..ListRequest::default() };
    let error = expect_err(engine.list(&account, "crm", "contacts", &again).await);
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert!(error.message.contains("same page of records"), "{}", error.message);
}

// ---------------------------------------------------------------------------------------
// cursor from a header

#[tokio::test]
async fn cursor_from_a_header_walks_until_the_header_is_gone() {
    let mock = Mock::start(|request, _| {
        let record = |id: usize| json!({ "id": id, "first_name": name(id).0, "last_name": name(id).1, "email": email(id) });
        let (ids, next) = match request.query("cursor") {
            None => (vec![1, 2], Some("b2Zmc2V0PTI")),
            Some("b2Zmc2V0PTI") => (vec![3, 4], Some("b2Zmc2V0PTQ")),
            Some("b2Zmc2V0PTQ") => (vec![5], None),
            Some(_) => return Reply::json(400, json!({ "error": "invalid cursor" })),
        };
        let reply = Reply::json(200, Value::Array(ids.into_iter().map(record).collect()));
        match next {
            Some(cursor) => reply.header("X-Next-Cursor", cursor),
            None => reply,
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_header", &[], &[("api_key", "k-123")]);
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(ids(&pages), vec![vec!["1", "2"], vec!["3", "4"], vec!["5"]]);
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "1", "first_name": "Grace", "last_name": "Hopper", "emails": [{ "email": "grace@x.com", "type": "primary" }] })
    );
    assert_eq!(pages[2].next_cursor, None);

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let fields = [("fields", "id"), ("fields", "first_name"), ("fields", "last_name"), ("fields", "email"), ("limit", "2")];
    for (i, cursor) in [None, Some("b2Zmc2V0PTI"), Some("b2Zmc2V0PTQ")].into_iter().enumerate() {
        assert_eq!(requests[i].path, "/v1/contacts");
        let mut expected = q(&fields);
        expected.extend(cursor.map(|c| ("cursor".to_string(), c.to_string())));
        expected.push(("api_key".into(), "k-123".into()));
        assert_eq!(requests[i].query, expected, "request {i}");
        assert_eq!(requests[i].app_headers(), pairs(&[("accept", "application/json")]));
    }
}

// ---------------------------------------------------------------------------------------
// cursor from the last record

fn last_record_customer(id: &str, i: usize) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": 1680893993 + i as i64,
        "currency": null,
        "delinquent": false,
        "email": email(i),
        "invoice_prefix": "0759376C",
        "livemode": false,
        "metadata": { "crm_id": i.to_string() },
        "name": format!("{} {}", name(i).0, name(i).1),
        "phone": null,
        "preferred_locales": [],
        "tax": { "automatic_tax": "unrecognized_location", "ip_address": null, "location": null },
        "tax_exempt": "none"
    })
}

#[tokio::test]
async fn cursor_from_the_last_record_walks_until_has_more_is_false() {
    let mock = Mock::start(|request, _| {
        let ids: &[(&str, usize)] = match request.query("starting_after") {
            None => &[("cus_NffrFeUfNV2Hib", 0), ("cus_NffrFeUfNV2Hic", 1)],
            Some("cus_NffrFeUfNV2Hic") => &[("cus_NffrFeUfNV2Hid", 2), ("cus_NffrFeUfNV2Hie", 3)],
            Some("cus_NffrFeUfNV2Hie") => &[("cus_NffrFeUfNV2Hif", 4)],
            Some(other) => {
                return Reply::json(
                    400,
                    json!({ "error": { "code": "resource_missing", "message": format!("No such customer: '{other}'"), "param": "starting_after", "type": "invalid_request_error" } }),
                )
            }
        };
        let has_more = ids.len() == 2 && request.query("starting_after") != Some("cus_NffrFeUfNV2Hie");
        Reply::json(200, json!({ "object": "list", "url": "/v1/customers", "has_more": has_more, "data": ids.iter().map(|(id, i)| last_record_customer(id, *i)).collect::<Vec<_>>() }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_last_record", &[], &[("token", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")]);
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(
        ids(&pages),
        vec![
            vec!["cus_NffrFeUfNV2Hib", "cus_NffrFeUfNV2Hic"],
            vec!["cus_NffrFeUfNV2Hid", "cus_NffrFeUfNV2Hie"],
            vec!["cus_NffrFeUfNV2Hif"]
        ]
    );
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "cus_NffrFeUfNV2Hib", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "phone_numbers": [], "created_at": "2023-04-07T18:59:53.000Z", "custom_fields": { "crm_id": "0" } })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    for (i, after) in [None, Some("cus_NffrFeUfNV2Hic"), Some("cus_NffrFeUfNV2Hie")].into_iter().enumerate() {
        assert_eq!(requests[i].path, "/v1/customers");
        let mut expected = q(&[("expand[0]", "data.tax"), ("limit", "2")]);
        expected.extend(after.map(|a| ("starting_after".to_string(), a.to_string())));
        assert_eq!(requests[i].query, expected, "request {i}");
        assert_eq!(
            requests[i].app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")])
        );
    }
}

// ---------------------------------------------------------------------------------------
// page numbers

fn page_number_contact(i: usize) -> Value {
    json!({
        "id": format!("48768760000003270{i:02}"),
        "First_Name": name(i).0,
        "Last_Name": name(i).1,
        "Email": email(i),
        "Phone": null,
        "Title": null,
        "Owner": { "name": "Pat Boyle", "id": "4876876000000225013", "email": "p@x.com" },
        "Account_Name": { "name": "Acme", "id": "4876876000000624001" },
        "Created_Time": "2024-05-02T14:11:07+05:30",
        "Modified_Time": "2024-06-01T14:30:00+05:30",
        "$currency_symbol": "$"
    })
}

fn page_number_page(page: u64, per_page: u64, records: Vec<Value>, more: bool) -> Value {
    json!({
        "data": records.clone(),
        "info": { "per_page": per_page, "next_page_token": if more { json!("c8582xx9e7c7") } else { Value::Null }, "count": records.len(), "sort_by": "id", "page": page, "previous_page_token": null, "page_token_expiry": "2024-06-02T14:30:00+05:30", "sort_order": "desc", "more_records": more }
    })
}

fn oauth_account(integration: &str, connection: &[(&str, &str)], access: &str, refresh: &str, expires_in: Option<u64>) -> Account {
    let mut account = account(integration, connection, &[("access_token", access), ("refresh_token", refresh)]);
    account.credentials.expires_at = expires_in.map(|s| now() + Duration::from_secs(s));
    account
}

#[tokio::test]
async fn page_numbers_walk_until_a_short_last_page() {
    let mock = Mock::start(|request, _| {
        let per_page: u64 = request.query("per_page").unwrap().parse().unwrap();
        match request.query("page") {
            Some("1") => Reply::json(200, page_number_page(1, per_page, vec![page_number_contact(0), page_number_contact(1)], true)),
            Some("2") => Reply::json(200, page_number_page(2, per_page, vec![page_number_contact(2), page_number_contact(3)], true)),
            Some("3") => Reply::json(200, page_number_page(3, per_page, vec![page_number_contact(4)], false)),
            _ => Reply::raw(204, "application/json", ""),
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let facts = support::facts("page_number");
    let account = oauth_account(
        "page_number",
        &[("api_domain", facts["api_domain"].as_str().unwrap())],
        "1000.a1b2c3.d4e5f6",
        "1000.r1.r2",
        Some(3600),
    );
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(
        ids(&pages),
        vec![
            vec!["4876876000000327000", "4876876000000327001"],
            vec!["4876876000000327002", "4876876000000327003"],
            vec!["4876876000000327004"]
        ]
    );
    assert_eq!(
        pages[0].results[1],
        json!({ "id": "4876876000000327001", "first_name": "Grace", "last_name": "Hopper", "title": null, "emails": [{ "email": "grace@x.com", "type": "primary" }], "phone_numbers": [], "owner_id": "4876876000000225013", "company_id": "4876876000000624001", "created_at": "2024-05-02T08:41:07.000Z", "updated_at": "2024-06-01T09:00:00.000Z" })
    );
    assert!(pages.iter().all(|p| p.refreshed.is_none()));
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let scheme = facts["auth_scheme"].as_str().unwrap();
    for (i, page) in ["1", "2", "3"].into_iter().enumerate() {
        assert_eq!(requests[i].path, "/crm/v8/Contacts");
        assert_eq!(
            requests[i].query,
            q(&[
                ("fields", "First_Name,Last_Name,Email,Phone,Title,Owner,Account_Name,Created_Time,Modified_Time"),
                ("per_page", "2"),
                ("page", page)
            ])
        );
        assert_eq!(
            requests[i].app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", &format!("{scheme} 1000.a1b2c3.d4e5f6"))])
        );
    }
}

#[tokio::test]
async fn a_page_number_provider_that_ignores_the_page_gives_the_loop_error() {
    // Every page is page 1 again, with `more_records: true` forever.
    let mock =
        Mock::start(|_, _| Reply::json(200, page_number_page(1, 2, vec![page_number_contact(0), page_number_contact(1)], true))).await;
    let engine = engine(registry(), &mock);
    let account =
        oauth_account("page_number", &[("api_domain", "https://crm.example.com")], "1000.a1b2c3.d4e5f6", "1000.r1.r2", Some(3600));
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(2), ..ListRequest::default() }).await.unwrap();
    let second =
        engine.list(&account, "crm", "contacts", &ListRequest { cursor: first.next_cursor.clone(), ..ListRequest::default() }).await;
    let error = expect_err(second);
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert_eq!(error.kind.code(), "pagination_failed");
    assert!(error.message.contains("same page of records"), "{}", error.message);
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(mock.requests()[1].query("page"), Some("2"));
}

// ---------------------------------------------------------------------------------------
// Link header

fn link_candidate(i: usize) -> Value {
    json!({
        "id": 53883394 + i,
        "first_name": name(i).0,
        "last_name": name(i).1,
        "company": "AE Ltd",
        "title": "Engineer",
        "created_at": "2024-05-02T14:11:07.012Z",
        "updated_at": "2024-06-01T09:00:00.000Z",
        "last_activity": "2024-06-01T09:00:00.000Z",
        "is_private": false,
        "application_ids": [69306314 + i],
        "email_addresses": [{ "value": email(i), "type": "personal" }],
        "phone_numbers": [{ "value": "555-0100", "type": "mobile" }],
        "tags": ["Python"],
        "custom_fields": { "desired_salary": "120000" }
    })
}

#[tokio::test]
async fn link_header_walks_until_no_rel_next() {
    let mock = Mock::start(|request, _| {
        let page: usize = request.query("page").unwrap_or("1").parse().unwrap();
        let per_page = request.query("per_page").unwrap();
        let updated_after = request.query("updated_after").unwrap();
        let link = |p: usize, rel: &str| {
            format!("<{}/v1/candidates?page={p}&per_page={per_page}&updated_after={updated_after}>; rel=\"{rel}\"", request.origin())
        };
        let (records, links) = match page {
            1 => (vec![0, 1], vec![link(2, "next"), link(3, "last")]),
            2 => (vec![2, 3], vec![link(3, "next"), link(1, "prev"), link(3, "last")]),
            3 => (vec![4], vec![link(2, "prev"), link(3, "last")]),
            _ => (vec![], vec![]),
        };
        Reply::json(200, Value::Array(records.into_iter().map(link_candidate).collect())).header("Link", &links.join(", "))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("link_paged", &[], &[("api_key", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")]);
    let query = json!({ "updated_after": "2024-01-01T00:00:00Z" }).as_object().unwrap().clone();
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), query, ..ListRequest::default() }).await;

    assert_eq!(ids(&pages), vec![vec!["53883394", "53883395"], vec!["53883396", "53883397"], vec!["53883398"]]);
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "53883394", "first_name": "Ada", "last_name": "Lovelace", "title": "Engineer", "emails": [{ "email": "ada@x.com", "type": "personal" }], "phone_numbers": [{ "number": "555-0100", "type": "mobile" }], "last_activity_at": "2024-06-01T09:00:00.000Z", "created_at": "2024-05-02T14:11:07.012Z", "custom_fields": { "desired_salary": "120000" } })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].query, q(&[("updated_after", "2024-01-01T00:00:00Z"), ("per_page", "2")]));
    assert_eq!(requests[1].query, q(&[("page", "2"), ("per_page", "2"), ("updated_after", "2024-01-01T00:00:00Z")]));
    assert_eq!(requests[2].query, q(&[("page", "3"), ("per_page", "2"), ("updated_after", "2024-01-01T00:00:00Z")]));
    for request in &requests {
        assert_eq!(request.path, "/v1/candidates");
        assert_eq!(
            request.app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", &basic("0f1e2d3c4b5a69788796a5b4c3d2e1f0", ""))])
        );
    }
}

// ---------------------------------------------------------------------------------------
// offset and limit in the query

fn offset_contact(i: usize) -> Value {
    json!({
        "id": format!("cont_qpjDKx{i}"),
        "lead_id": "lead_IIDHIStmFDLS7IbAbIcSmgMkzvGj10brDBt8sRmyiPU",
        "organization_id": "orga_bwwWG475zqWiQGur0thQshwVXo8rIYecQHDWFanqhen",
        "name": format!("{} {}", name(i).0, name(i).1),
        "title": "sr. vice president",
        "emails": [{ "type": "office", "email": email(i), "email_lower": email(i) }],
        "phones": [{ "type": "office", "phone": "+18004445555", "phone_formatted": "+1 800-444-5555" }],
        "urls": [],
        "date_created": "2013-02-20T05:30:24.844000+00:00",
        "date_updated": "2024-06-01T09:00:00.123456+00:00",
        "created_by": "user_MvDoJcqUjXXRgEvqmuUNUfKs2RskZVwspaEbuj8msNg"
    })
}

#[tokio::test]
async fn offset_and_limit_walk_until_has_more_is_false() {
    let mock = Mock::start(|request, _| {
        let skip: usize = request.query("_skip").unwrap().parse().unwrap();
        let limit: usize = request.query("_limit").unwrap().parse().unwrap();
        let total = 5;
        let records: Vec<Value> = (skip..(skip + limit).min(total)).map(offset_contact).collect();
        Reply::json(200, json!({ "has_more": skip + limit < total, "data": records }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("offset_query", &[], &[("api_key", "api_6fqWHbd8Q7nPkY4")]);
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(ids(&pages), vec![vec!["cont_qpjDKx0", "cont_qpjDKx1"], vec!["cont_qpjDKx2", "cont_qpjDKx3"], vec!["cont_qpjDKx4"]]);
    assert_eq!(
        pages[1].results[1],
        json!({ "id": "cont_qpjDKx3", "first_name": "Edsger", "last_name": "Dijkstra", "title": "sr. vice president", "emails": [{ "email": "edsger@x.com", "type": "work" }], "phone_numbers": [{ "number": "+18004445555", "type": "work" }], "company_id": "lead_IIDHIStmFDLS7IbAbIcSmgMkzvGj10brDBt8sRmyiPU", "created_at": "2013-02-20T05:30:24.844Z", "updated_at": "2024-06-01T09:00:00.123Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    for (i, skip) in ["0", "2", "4"].into_iter().enumerate() {
        assert_eq!(requests[i].path, "/api/v1/contact/");
        assert_eq!(
            requests[i].query,
            q(&[("_fields", "id,lead_id,name,title,emails,phones,date_created,date_updated"), ("_limit", "2"), ("_skip", skip)])
        );
        assert_eq!(
            requests[i].app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", &basic("api_6fqWHbd8Q7nPkY4", ""))])
        );
    }
}

// ---------------------------------------------------------------------------------------
// offset in a POST body

fn body_offset_person(i: usize) -> Value {
    json!({
        "id": { "workspace_id": "14beef7a-99f7-4534-a87e-70b564330a4c", "object_id": "97052eb9-e65e-443f-a297-f2d9a4a7f795", "record_id": format!("bf071e1f-6035-429d-b874-d83ea64ea1{i:02}") },
        "created_at": "2022-11-21T13:22:49.061281000Z",
        "web_url": format!("https://app.example.com/acme/person/bf071e1f-6035-429d-b874-d83ea64ea1{i:02}"),
        "values": {
            "name": [{ "active_from": "2023-04-03T15:21:06.447000000Z", "active_until": null, "created_by_actor": { "type": "workspace-member", "id": "50cf242c-7fa3-4cad-87d0-75b1af71c57b" }, "first_name": name(i).0, "last_name": name(i).1, "full_name": format!("{} {}", name(i).0, name(i).1), "attribute_type": "personal-name" }],
            "email_addresses": [{ "active_from": "2023-04-03T15:21:06.447000000Z", "active_until": null, "created_by_actor": { "type": "workspace-member", "id": "50cf242c-7fa3-4cad-87d0-75b1af71c57b" }, "original_email_address": email(i), "email_address": email(i), "email_domain": "x.com", "email_root_domain": "x.com", "email_local_specifier": name(i).0.to_lowercase(), "attribute_type": "email-address" }],
            "job_title": []
        }
    })
}

#[tokio::test]
async fn offset_in_a_post_body_walks_until_a_short_page() {
    let mock = Mock::start(|request, _| {
        if request.method != "POST" {
            return Reply::json(405, json!({ "status_code": 405, "type": "invalid_request_error", "code": "method_not_allowed", "message": "Method not allowed" }));
        }
        let body = request.json();
        let offset = body["offset"].as_u64().unwrap() as usize;
        let limit = body["limit"].as_u64().unwrap() as usize;
        let records: Vec<Value> = (offset..(offset + limit).min(5)).map(body_offset_person).collect();
        Reply::json(200, json!({ "data": records }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("offset_body", &[], &[("token", "3f6b2a9c8e7d4c1b0a9f8e7d6c5b4a39")]);
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(
        ids(&pages),
        vec![
            vec!["bf071e1f-6035-429d-b874-d83ea64ea100", "bf071e1f-6035-429d-b874-d83ea64ea101"],
            vec!["bf071e1f-6035-429d-b874-d83ea64ea102", "bf071e1f-6035-429d-b874-d83ea64ea103"],
            vec!["bf071e1f-6035-429d-b874-d83ea64ea104"]
        ]
    );
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "bf071e1f-6035-429d-b874-d83ea64ea100", "first_name": "Ada", "last_name": "Lovelace", "title": null, "emails": [{ "email": "ada@x.com", "type": null }], "created_at": "2022-11-21T13:22:49.061Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    for (i, offset) in [0, 2, 4].into_iter().enumerate() {
        assert_eq!(requests[i].method, "POST");
        assert_eq!(requests[i].path, "/v2/objects/people/records/query");
        assert_eq!(requests[i].raw_query, None);
        assert_eq!(
            String::from_utf8_lossy(&requests[i].body),
            format!(r#"{{"sorts":[{{"direction":"asc","attribute":"created_at"}}],"limit":2,"offset":{offset}}}"#)
        );
        assert_eq!(
            requests[i].app_headers(),
            pairs(&[
                ("accept", "application/json"),
                ("authorization", "Bearer 3f6b2a9c8e7d4c1b0a9f8e7d6c5b4a39"),
                ("content-type", "application/json")
            ])
        );
    }
}

// ---------------------------------------------------------------------------------------
// relative next URL in the body

fn relative_contact(i: usize) -> Value {
    let id = format!("003D000000QV9n{i}IAD");
    json!({
        "attributes": { "type": "Contact", "url": format!("/services/data/v62.0/sobjects/Contact/{id}") },
        "Id": id,
        "FirstName": name(i).0,
        "LastName": name(i).1,
        "Email": email(i),
        "Phone": null,
        "Title": null,
        "AccountId": "001D000000IRFmaIAH",
        "OwnerId": "005D0000001AamRIAS",
        "CreatedDate": "2024-05-02T14:11:07.000+0000",
        "LastModifiedDate": "2024-06-01T09:00:00.000+0000"
    })
}

#[tokio::test]
async fn relative_next_url_walks_until_done() {
    let mock = Mock::start(|request, index| {
        let usage = format!("api-usage={}/100000", 10018 + index);
        let (records, next) = match request.path.as_str() {
            "/services/data/v62.0/query" => (vec![0, 1], Some("/services/data/v62.0/query/01gRO0000016PIAYA2-2")),
            "/services/data/v62.0/query/01gRO0000016PIAYA2-2" => (vec![2, 3], Some("/services/data/v62.0/query/01gRO0000016PIAYA2-4")),
            "/services/data/v62.0/query/01gRO0000016PIAYA2-4" => (vec![4], None),
            _ => return Reply::json(404, json!([{ "message": "The requested resource does not exist", "errorCode": "NOT_FOUND" }])),
        };
        let mut body =
            json!({ "totalSize": 5, "done": next.is_none(), "records": records.into_iter().map(relative_contact).collect::<Vec<_>>() });
        if let Some(next) = next {
            body["nextRecordsUrl"] = json!(next);
        }
        Reply::json(200, body).header(&fact("next_url_relative", "usage_header"), &usage)
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = oauth_account(
        "next_url_relative",
        &[("instance_url", "https://acme.my.example.com")],
        "00D5g000004xyz!AQ8AQJ.token",
        "5Aep861.refresh",
        None,
    );
    let pages = walk(&engine, &account, ListRequest::default()).await;

    assert_eq!(
        ids(&pages),
        vec![
            vec!["003D000000QV9n0IAD", "003D000000QV9n1IAD"],
            vec!["003D000000QV9n2IAD", "003D000000QV9n3IAD"],
            vec!["003D000000QV9n4IAD"]
        ]
    );
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "003D000000QV9n0IAD", "first_name": "Ada", "last_name": "Lovelace", "title": null, "emails": [{ "email": "ada@x.com", "type": "primary" }], "phone_numbers": [], "owner_id": "005D0000001AamRIAS", "company_id": "001D000000IRFmaIAH", "created_at": "2024-05-02T14:11:07.000Z", "updated_at": "2024-06-01T09:00:00.000Z" })
    );
    assert_eq!(
        pages[2].rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "100000"),
            ("ratelimit-remaining", "89980"),
            ("RateLimit-Policy", "\"default\";q=100000;w=86400"),
            ("RateLimit", "\"default\";r=89980")
        ])
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].path, "/services/data/v62.0/query");
    assert_eq!(
        requests[0].query,
        q(&[("q", "SELECT Id, FirstName, LastName, Email, Phone, Title, AccountId, OwnerId, CreatedDate, LastModifiedDate FROM Contact")])
    );
    assert_eq!(requests[1].path, "/services/data/v62.0/query/01gRO0000016PIAYA2-2");
    assert_eq!(requests[1].raw_query, None);
    assert_eq!(requests[2].path, "/services/data/v62.0/query/01gRO0000016PIAYA2-4");
    assert_eq!(requests[2].raw_query, None);
    for request in &requests {
        assert_eq!(
            request.app_headers(),
            pairs(&[
                ("accept", "application/json"),
                ("authorization", "Bearer 00D5g000004xyz!AQ8AQJ.token"),
                (&fact("next_url_relative", "call_options_header").to_lowercase(), "client=switchyard")
            ])
        );
    }
}

// ---------------------------------------------------------------------------------------
// absolute next URL in the body

fn absolute_user(i: usize) -> Value {
    json!({
        "id": 35436 + i,
        "url": format!("https://acme.example.com/api/v2/users/{}.json", 35436 + i),
        "name": format!("{} {}", name(i).0, name(i).1),
        "email": email(i),
        "phone": null,
        "role": "end-user",
        "organization_id": 57542,
        "created_at": "2009-07-20T22:55:29Z",
        "updated_at": "2011-05-05T10:38:52Z",
        "active": true,
        "verified": true
    })
}

#[tokio::test]
async fn absolute_next_url_walks_until_has_more_is_false() {
    let mock = Mock::start(|request, _| {
        let size: usize = request.query("page[size]").unwrap().parse().unwrap();
        let (records, after, has_more) = match request.query("page[after]") {
            None => (vec![0, 1], "eyJvIjoibmljZV9pZCIsInYiOiJhUUVBQUFBQUFBQUEifQ==", true),
            Some("eyJvIjoibmljZV9pZCIsInYiOiJhUUVBQUFBQUFBQUEifQ==") => (vec![2, 3], "eyJvIjoibmljZV9pZCIsInYiOiJhUU1BQUFBQUFBQUEifQ==", true),
            Some("eyJvIjoibmljZV9pZCIsInYiOiJhUU1BQUFBQUFBQUEifQ==") => (vec![4], "eyJvIjoibmljZV9pZCIsInYiOiJhUVVBQUFBQUFBQUEifQ==", false),
            Some(_) => return Reply::json(400, json!({ "error": "InvalidPaginationParameter", "description": "page[after] is invalid" })),
        };
        let next = format!("{}/api/v2/users.json?page%5Bafter%5D={}&page%5Bsize%5D={size}&role%5B%5D=end-user", request.origin(), after.replace('=', "%3D"));
        // As the provider does, the last page still carries a next link: only has_more ends it.
        Reply::json(
            200,
            json!({
                "users": records.into_iter().map(absolute_user).collect::<Vec<_>>(),
                "meta": { "has_more": has_more, "after_cursor": after, "before_cursor": "eyJvIjoibmljZV9pZCIsInYiOiJhUUFBIn0=" },
                "links": { "next": next, "prev": format!("{}/api/v2/users.json?page%5Bbefore%5D=x&page%5Bsize%5D={size}&role%5B%5D=end-user", request.origin()) }
            }),
        )
        .header("X-Rate-Limit", "700")
        .header("X-Rate-Limit-Remaining", "699")
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account(
        "next_url_absolute",
        &[("subdomain", "acme")],
        &[("email", "agent@acme.example"), ("api_token", "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv")],
    );
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;

    assert_eq!(ids(&pages), vec![vec!["35436", "35437"], vec!["35438", "35439"], vec!["35440"]]);
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "35436", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "phone_numbers": [], "company_id": "57542", "created_at": "2009-07-20T22:55:29Z", "updated_at": "2011-05-05T10:38:52Z" })
    );
    assert_eq!(
        pages[0].rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "700"),
            ("ratelimit-remaining", "699"),
            ("RateLimit-Policy", "\"default\";q=700;w=60"),
            ("RateLimit", "\"default\";r=699")
        ])
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].query, q(&[("role[]", "end-user"), ("page[size]", "2")]));
    assert_eq!(
        requests[1].query,
        q(&[("page[after]", "eyJvIjoibmljZV9pZCIsInYiOiJhUUVBQUFBQUFBQUEifQ=="), ("page[size]", "2"), ("role[]", "end-user")])
    );
    assert_eq!(
        requests[2].query,
        q(&[("page[after]", "eyJvIjoibmljZV9pZCIsInYiOiJhUU1BQUFBQUFBQUEifQ=="), ("page[size]", "2"), ("role[]", "end-user")])
    );
    for request in &requests {
        assert_eq!(request.path, "/api/v2/users.json");
        assert_eq!(
            request.app_headers(),
            pairs(&[
                ("accept", "application/json"),
                ("authorization", &basic("agent@acme.example/token", "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"))
            ])
        );
    }
}

#[tokio::test]
async fn a_next_url_on_another_origin_is_refused() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            200,
            json!({
                "users": [absolute_user(0)],
                "meta": { "has_more": true, "after_cursor": "x", "before_cursor": null },
                "links": { "next": "https://collector.example.net/api/v2/users.json?page%5Bafter%5D=x&page%5Bsize%5D=1", "prev": null }
            }),
        )
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("next_url_absolute", &[("subdomain", "acme")], &[("email", "agent@acme.example"), ("api_token", "secret")]);
    let error = expect_err(engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(1), ..ListRequest::default() }).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.contains("https://collector.example.net") && error.message.contains("refusing to follow"), "{}", error.message);
    assert_eq!(mock.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// dynamic: the position inside the query text

fn dynamic_customer(i: usize) -> Value {
    json!({
        "Id": (i + 1).to_string(),
        "SyncToken": "0",
        "sparse": false,
        "Active": true,
        "DisplayName": format!("{} {}", name(i).0, name(i).1),
        "GivenName": name(i).0,
        "FamilyName": name(i).1,
        "PrimaryEmailAddr": { "Address": email(i) },
        "PrimaryPhone": { "FreeFormNumber": "(555) 555-1234" },
        "Balance": 0,
        "CurrencyRef": { "value": "USD", "name": "United States Dollar" },
        "MetaData": { "CreateTime": "2024-05-02T07:11:07-07:00", "LastUpdatedTime": "2024-06-01T02:00:00-07:00" }
    })
}

#[tokio::test]
async fn dynamic_pagination_moves_the_start_position_inside_the_query_text() {
    let mock = Mock::start(|request, _| {
        let query = request.query("query").unwrap_or_default().to_string();
        let words: Vec<&str> = query.split(' ').collect();
        let (Some(start), Some(max)) = (
            words.iter().position(|w| *w == "STARTPOSITION").and_then(|p| words.get(p + 1)).and_then(|n| n.parse::<usize>().ok()),
            words.iter().position(|w| *w == "MAXRESULTS").and_then(|p| words.get(p + 1)).and_then(|n| n.parse::<usize>().ok()),
        ) else {
            return Reply::json(400, json!({ "Fault": { "Error": [{ "Message": "Error parsing query", "Detail": "QueryParserError: Encountered \" <EOF>\"", "code": "4000" }], "type": "ValidationFault" }, "time": "2024-06-01T02:00:00.000-07:00" }));
        };
        let total = 2003;
        let records: Vec<Value> = ((start - 1)..(start - 1 + max).min(total)).map(dynamic_customer).collect();
        let mut response = json!({ "QueryResponse": {}, "time": "2024-06-01T02:00:00.000-07:00" });
        if !records.is_empty() {
            response["QueryResponse"] = json!({ "Customer": records.clone(), "startPosition": start, "maxResults": records.len() });
        }
        Reply::json(200, response).header(&fact("dynamic_query", "trace_header"), "1-66e0a1b2-3c4d5e6f7a8b9c0d1e2f3a4b")
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = oauth_account(
        "dynamic_query",
        &[("realm_id", "9130357766900456")],
        "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..access",
        "AB11726842370MvYC7hmM0jGvZcjnNRdTJPgoDxWKxTIUfsxmp",
        Some(3600),
    );
    let pages = walk(&engine, &account, ListRequest::default()).await;

    assert_eq!(pages.iter().map(|p| p.results.len()).collect::<Vec<_>>(), vec![1000, 1000, 3]);
    let all: Vec<String> = pages.iter().flat_map(|p| p.results.iter().map(|r| r["id"].as_str().unwrap().to_string())).collect();
    assert_eq!(all, (1..=2003).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(
        pages[2].results[2],
        json!({ "id": "2003", "first_name": name(2002).0, "last_name": name(2002).1, "emails": [{ "email": email(2002), "type": "primary" }], "phone_numbers": [{ "number": "(555) 555-1234", "type": "primary" }], "created_at": "2024-05-02T14:11:07.000Z", "updated_at": "2024-06-01T09:00:00.000Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    for (i, start) in ["1", "1001", "2001"].into_iter().enumerate() {
        assert_eq!(requests[i].path, "/v3/company/9130357766900456/query");
        assert_eq!(
            requests[i].query,
            q(&[("minorversion", "75"), ("query", &format!("select * from Customer STARTPOSITION {start} MAXRESULTS 1000"))])
        );
        assert_eq!(
            requests[i].app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", "Bearer eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..access")])
        );
    }
}

// ---------------------------------------------------------------------------------------
// none

#[tokio::test]
async fn no_pagination_is_one_call_and_no_cursor() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            200,
            json!({
                "fields": [{ "id": "displayName", "type": "text", "name": "Display name" }, { "id": "firstName", "type": "text", "name": "First name" }, { "id": "workEmail", "type": "email", "name": "Work Email" }],
                "employees": [
                    { "id": "123", "displayName": "Ada Lovelace", "firstName": "Ada", "lastName": "Lovelace", "preferredName": null, "jobTitle": "Analyst", "workEmail": "ada@x.com", "department": "Engineering", "location": "London", "division": "R&D", "mobilePhone": null, "photoUploaded": false, "photoUrl": "https://images.example.com/photos/123.jpg", "canUploadPhoto": 1 },
                    { "id": "124", "displayName": "Grace Hopper", "firstName": "Grace", "lastName": "Hopper", "preferredName": "Amazing Grace", "jobTitle": "Rear Admiral", "workEmail": null, "department": "Engineering", "location": "Arlington", "division": "R&D", "mobilePhone": "+1 555 0101", "photoUploaded": false, "photoUrl": "https://images.example.com/photos/124.jpg", "canUploadPhoto": 1 }
                ]
            }),
        )
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("unpaged", &[("company_domain", "acme")], &[("api_key", "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4")]);
    let page = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(1), ..ListRequest::default() }).await.unwrap();
    assert_eq!(
        page.results,
        vec![
            json!({ "id": "123", "first_name": "Ada", "last_name": "Lovelace", "title": "Analyst", "emails": [{ "email": "ada@x.com", "type": "work" }], "phone_numbers": [] }),
            json!({ "id": "124", "first_name": "Grace", "last_name": "Hopper", "title": "Rear Admiral", "emails": [], "phone_numbers": [{ "number": "+1 555 0101", "type": "mobile" }] })
        ]
    );
    assert_eq!(page.next_cursor, None);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/v1/employees/directory");
    assert_eq!(requests[0].raw_query, None);
    assert_eq!(
        requests[0].app_headers(),
        pairs(&[("accept", "application/json"), ("authorization", &basic("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4", "x"))])
    );
}
