//! How requests are built, as the mock provider sees them byte for byte: JSON and form
//! bodies of a create, each query array format, default and method headers, a get reading
//! the record from its envelope, and the verify call.

mod support;

use serde_json::{json, Map, Value};
use std::time::Duration;
use support::{account, engine, fact, now, pairs, registry, Mock, Reply};
use switchyard_runtime::engine::{ListRequest, WriteRequest};

fn query_of(items: &[(&str, &str)]) -> Map<String, Value> {
    items.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
}

// ---------------------------------------------------------------------------------------
// bodies

#[tokio::test]
async fn create_sends_the_mapped_json_body() {
    let mock = Mock::start(|request, _| {
        let sent = request.json();
        Reply::json(
            201,
            json!({ "id": "151", "properties": { "createdate": "2024-06-01T09:00:00.000Z", "email": sent["properties"]["email"], "firstname": sent["properties"]["firstname"], "hs_object_id": "151", "lastmodifieddate": "2024-06-01T09:00:00.000Z", "lastname": sent["properties"]["lastname"] }, "createdAt": "2024-06-01T09:00:00.000Z", "updatedAt": "2024-06-01T09:00:00.000Z", "archived": false }),
        )
    })
    .await;
    let engine = engine(registry(), &mock);
    let request = WriteRequest {
        body: json!({ "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }, { "email": "ada@y.com", "type": "other" }] }),
        query: Map::new(),
    };
    let record = engine.create(&account("cursor_body", &[], &[("token", "pat-na1-x")]), "crm", "contacts", &request).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "151", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "created_at": "2024-06-01T09:00:00.000Z", "updated_at": "2024-06-01T09:00:00.000Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/crm/v3/objects/contacts");
    assert_eq!(requests[0].raw_query, None);
    assert_eq!(
        String::from_utf8_lossy(&requests[0].body),
        r#"{"properties":{"firstname":"Ada","lastname":"Lovelace","email":"ada@x.com"}}"#
    );
    assert_eq!(
        requests[0].app_headers(),
        pairs(&[("accept", "application/json"), ("authorization", "Bearer pat-na1-x"), ("content-type", "application/json")])
    );
}

#[tokio::test]
async fn create_reads_the_record_from_its_envelope() {
    let mock = Mock::start(|_, _| {
        Reply::json(201, json!({ "customer": { "id": 207119551, "email": "bob@x.com", "first_name": "Bob", "last_name": "Norman", "created_at": "2024-06-01T05:00:00-04:00", "updated_at": "2024-06-01T05:00:00-04:00", "state": "disabled", "verified_email": true, "tags": "", "currency": "USD", "phone": null, "admin_graphql_api_id": "gid://example/Customer/207119551" } }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let request = WriteRequest {
        body: json!({ "first_name": "Bob", "last_name": "Norman", "emails": [{ "email": "bob@x.com", "type": "primary" }] }),
        query: Map::new(),
    };
    let record = engine
        .create(&account("ratio_header_limits", &[("shop", "acme")], &[("api_key", "shpat_x")]), "crm", "contacts", &request)
        .await
        .unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "207119551", "first_name": "Bob", "last_name": "Norman", "emails": [{ "email": "bob@x.com", "type": "primary" }] })
    );
    let sent = &mock.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/admin/api/2025-01/customers.json"));
    assert_eq!(
        sent.json(),
        json!({ "customer": { "first_name": "Bob", "last_name": "Norman", "email": "bob@x.com", "verified_email": true } })
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
}

fn form_customer_reply() -> Reply {
    Reply::json(
        200,
        json!({ "id": "cus_Q5k7", "object": "customer", "address": null, "balance": 0, "created": 1717232400, "currency": null, "delinquent": false, "email": "ada@x.com", "invoice_prefix": "0759376C", "livemode": false, "metadata": {}, "name": "Ada Lovelace", "phone": "+15550100", "preferred_locales": ["en", "fr"], "tax_exempt": "none" }),
    )
}

#[tokio::test]
async fn create_sends_a_form_body() {
    let mock = Mock::start(|_, _| form_customer_reply()).await;
    let engine = engine(registry(), &mock);
    let request = WriteRequest {
        body: json!({ "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "phone_numbers": [{ "number": "+15550100", "type": "mobile" }], "custom_fields": { "preferred_locales": ["en", "fr"] } }),
        query: Map::new(),
    };
    let record = engine
        .create(&account("cursor_last_record", &[], &[("token", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")]), "crm", "contacts", &request)
        .await
        .unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "cus_Q5k7", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "created_at": "2024-06-01T09:00:00.000Z", "custom_fields": {} })
    );
    let sent = &mock.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/customers"));
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        "name=Ada+Lovelace&email=ada%40x.com&phone=%2B15550100&preferred_locales%5B0%5D=en&preferred_locales%5B1%5D=fr"
    );
    assert_eq!(
        sent.form(),
        pairs(&[
            ("name", "Ada Lovelace"),
            ("email", "ada@x.com"),
            ("phone", "+15550100"),
            ("preferred_locales[0]", "en"),
            ("preferred_locales[1]", "fr")
        ])
    );
    assert_eq!(
        sent.app_headers(),
        pairs(&[
            ("accept", "application/json"),
            ("authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
            ("content-type", "application/x-www-form-urlencoded")
        ])
    );
}

#[tokio::test]
async fn a_nested_object_in_a_form_body_uses_bracket_keys() {
    // Form-encoded APIs take nested objects as `metadata[crm_id]=42`; JSON text in a form
    // field is refused ("Invalid hash").
    let mock = Mock::start(|_, _| form_customer_reply()).await;
    let engine = engine(registry(), &mock);
    let request = WriteRequest {
        body: json!({ "first_name": "Ada", "last_name": "Lovelace", "custom_fields": { "metadata": { "crm_id": "42", "tier": "gold" } } }),
        query: Map::new(),
    };
    engine.create(&account("cursor_last_record", &[], &[("token", "sk_test_x")]), "crm", "contacts", &request).await.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(sent.form(), pairs(&[("name", "Ada Lovelace"), ("metadata[crm_id]", "42"), ("metadata[tier]", "gold")]));
}

// ---------------------------------------------------------------------------------------
// query array formats

#[tokio::test]
async fn query_arrays_repeat() {
    let mock = Mock::start(|_, _| Reply::json(200, json!([]))).await;
    let engine = engine(registry(), &mock);
    engine
        .list(
            &account("cursor_header", &[], &[("api_key", "k")]),
            "crm",
            "contacts",
            &ListRequest { page_size: Some(5), query: query_of(&[("updated_since", "2024-05-01")]), ..ListRequest::default() },
        )
        .await
        .unwrap();
    assert_eq!(
        mock.requests()[0].raw_query.as_deref(),
        Some("fields=id&fields=first_name&fields=last_name&fields=email&updated_since=2024-05-01&limit=5&api_key=k")
    );
}

#[tokio::test]
async fn query_arrays_comma() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "results": [] }))).await;
    let engine = engine(registry(), &mock);
    engine
        .list(
            &account("cursor_body", &[], &[("token", "t")]),
            "crm",
            "contacts",
            &ListRequest { page_size: Some(5), ..ListRequest::default() },
        )
        .await
        .unwrap();
    assert_eq!(mock.requests()[0].raw_query.as_deref(), Some("archived=false&properties=firstname%2Clastname%2Cemail%2Cphone&limit=5"));
}

#[tokio::test]
async fn query_arrays_brackets() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "users": [], "meta": { "has_more": false, "after_cursor": null, "before_cursor": null }, "links": { "next": null, "prev": null } }))).await;
    let engine = engine(registry(), &mock);
    let account = account("next_url_absolute", &[("subdomain", "acme")], &[("email", "a@b.c"), ("api_token", "t")]);
    engine
        .list(
            &account,
            "crm",
            "contacts",
            &ListRequest { page_size: Some(5), query: query_of(&[("roles", "end-user,agent")]), ..ListRequest::default() },
        )
        .await
        .unwrap();
    assert_eq!(mock.requests()[0].raw_query.as_deref(), Some("role%5B%5D=end-user&role%5B%5D=agent&page%5Bsize%5D=5"));
}

#[tokio::test]
async fn query_arrays_indices() {
    let mock =
        Mock::start(|_, _| Reply::json(200, json!({ "object": "list", "url": "/v1/customers", "has_more": false, "data": [] }))).await;
    let engine = engine(registry(), &mock);
    engine
        .list(
            &account("cursor_last_record", &[], &[("token", "sk_test_x")]),
            "crm",
            "contacts",
            &ListRequest { page_size: Some(5), query: query_of(&[("email", "ada@x.com")]), ..ListRequest::default() },
        )
        .await
        .unwrap();
    assert_eq!(mock.requests()[0].raw_query.as_deref(), Some("email=ada%40x.com&expand%5B0%5D=data.tax&limit=5"));
}

#[tokio::test]
async fn the_maximum_page_size_is_asked_for_when_the_caller_gives_none_and_there_is_no_default() {
    let mock = Mock::start(|_, _| Reply::json(200, json!([]))).await;
    let engine = engine(registry(), &mock);
    engine.list(&account("cursor_header", &[], &[("api_key", "k")]), "crm", "contacts", &ListRequest::default()).await.unwrap();
    assert_eq!(
        mock.requests()[0].raw_query.as_deref(),
        Some("fields=id&fields=first_name&fields=last_name&fields=email&limit=100&api_key=k")
    );
}

// ---------------------------------------------------------------------------------------
// headers

#[tokio::test]
async fn default_headers_go_with_every_request_and_replace_the_engine_accept() {
    let mock = Mock::start(|_, _| Reply::json(200, json!([]))).await;
    let engine = engine(registry(), &mock);
    let mut account = account("epoch_reset_limits", &[("org", "acme")], &[("access_token", "ghu_x"), ("refresh_token", "ghr_x")]);
    account.credentials.expires_at = Some(now() + Duration::from_secs(28800));
    engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(30), ..ListRequest::default() }).await.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/orgs/acme/members");
    assert_eq!(
        sent.app_headers(),
        pairs(&[
            ("accept", &fact("epoch_reset_limits", "accept")),
            ("authorization", "Bearer ghu_x"),
            (&fact("epoch_reset_limits", "version_header").to_lowercase(), &fact("epoch_reset_limits", "version"))
        ])
    );
}

#[tokio::test]
async fn default_headers_on_a_get() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "attributes": { "type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003D000000QV9n2IAD" }, "Id": "003D000000QV9n2IAD", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@x.com", "AccountId": "001D000000IRFmaIAH", "CreatedDate": "2024-05-02T14:11:07.000+0000", "Seats__c": 12.0 }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = account(
        "next_url_relative",
        &[("instance_url", "https://acme.my.example.com")],
        &[("access_token", "00D!x"), ("refresh_token", "r")],
    );
    account.credentials.expires_at = None;
    let record = engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &Map::new()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "003D000000QV9n2IAD", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "company_id": "001D000000IRFmaIAH", "created_at": "2024-05-02T14:11:07.000Z" })
    );
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/services/data/v62.0/sobjects/Contact/003D000000QV9n2IAD");
    assert_eq!(
        sent.app_headers(),
        pairs(&[
            ("accept", "application/json"),
            ("authorization", "Bearer 00D!x"),
            (&fact("next_url_relative", "call_options_header").to_lowercase(), "client=switchyard")
        ])
    );
}

// ---------------------------------------------------------------------------------------
// get

#[tokio::test]
async fn get_reads_the_record_path() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "customer": { "id": 207119551, "email": "bob@x.com", "first_name": "Bob", "last_name": "Norman", "created_at": "2024-05-02T10:11:07-04:00", "updated_at": "2024-06-01T09:00:00-04:00", "state": "enabled", "total_spent": "199.65", "orders_count": 1, "verified_email": true, "tags": "vip, newsletter", "currency": "USD", "phone": "+16136120707" } }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let record = engine
        .get(&account("ratio_header_limits", &[("shop", "acme")], &[("api_key", "shpat_x")]), "crm", "contacts", "207119551", &Map::new())
        .await
        .unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "207119551", "first_name": "Bob", "last_name": "Norman", "emails": [{ "email": "bob@x.com", "type": "primary" }], "created_at": "2024-05-02T14:11:07.000Z" })
    );
    assert!(record.refreshed.is_none());
    let sent = &mock.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str(), sent.raw_query.as_deref()),
        ("GET", "/admin/api/2025-01/customers/207119551.json", None)
    );
}

#[tokio::test]
async fn get_reads_a_record_inside_an_array_envelope() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "data": [{ "id": "4876876000000327001", "First_Name": "Ada", "Last_Name": "Lovelace", "Email": "ada@x.com", "Owner": { "name": "Pat Boyle", "id": "4876876000000225013", "email": "p@x.com" }, "Account_Name": null, "Created_Time": "2024-05-02T14:11:07+05:30" }] }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account =
        account("page_number", &[("api_domain", "https://crm.example.com")], &[("access_token", "a"), ("refresh_token", "r")]);
    account.credentials.expires_at = Some(now() + Duration::from_secs(3600));
    let record = engine.get(&account, "crm", "contacts", "4876876000000327001", &Map::new()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "4876876000000327001", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "owner_id": "4876876000000225013", "created_at": "2024-05-02T08:41:07.000Z" })
    );
    assert_eq!(mock.requests()[0].path, "/crm/v8/Contacts/4876876000000327001");
}

// ---------------------------------------------------------------------------------------
// verify

#[tokio::test]
async fn verify_makes_the_definitions_test_call() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "results": [] }))).await;
    let engine = engine(registry(), &mock);
    let response = engine.verify(&account("cursor_body", &[], &[("token", "pat-na1-imported")])).await.unwrap();
    assert_eq!(response.status, 200);
    let sent = &mock.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str(), sent.raw_query.as_deref()), ("GET", "/crm/v3/objects/contacts", Some("limit=1")));
    assert_eq!(sent.app_headers(), pairs(&[("accept", "application/json"), ("authorization", "Bearer pat-na1-imported")]));
}

#[tokio::test]
async fn a_dynamic_change_to_null_removes_the_parameter() {
    // Page 1 is asked with `start=1`; the definition's `next` moves to a token and sets
    // `start` to null, which must drop it rather than send the text "null".
    let mock = Mock::start(|request, _| {
        if request.query("token").is_some() {
            Reply::json(200, json!({ "items": [] }))
        } else {
            Reply::json(200, json!({ "items": [{ "id": "1" }], "next_token": "t2" }))
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("dynamic_token", &[], &[("token", "t")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let cursor = first.next_cursor.expect("a second page");
    engine.list(&account, "crm", "contacts", &ListRequest { cursor: Some(cursor), ..ListRequest::default() }).await.unwrap();
    let requests = mock.requests();
    assert_eq!(requests[0].query("start"), Some("1"));
    assert_eq!(requests[1].query("start"), None, "{:?}", requests[1].query);
    assert_eq!(requests[1].query("token"), Some("t2"));
}

#[tokio::test]
async fn a_dynamic_change_to_null_removes_a_body_field() {
    // The mapping's body has `offset: 0`; `next` moves to a token and sets `offset` to null,
    // which must drop the field rather than send `"offset": null`.
    let mock = Mock::start(|request, _| {
        if request.json().get("token").is_some() {
            Reply::json(200, json!({ "items": [] }))
        } else {
            Reply::json(200, json!({ "items": [{ "id": "1" }], "next_token": "t2" }))
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("dynamic_body", &[], &[("token", "t")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let cursor = first.next_cursor.expect("a second page");
    engine.list(&account, "crm", "contacts", &ListRequest { cursor: Some(cursor), ..ListRequest::default() }).await.unwrap();
    let requests = mock.requests();
    assert_eq!(requests[0].json(), json!({ "limit": 2, "offset": 0 }));
    assert_eq!(requests[1].json(), json!({ "limit": 2, "token": "t2" }));
}

#[tokio::test]
async fn a_record_mapped_to_nothing_is_left_out_of_the_page() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "items": [{ "id": "1" }, { "id": "2", "skip": true }, { "id": "3" }] }))).await;
    let engine = engine(registry(), &mock);
    let account = account("dropping_records", &[], &[("token", "t")]);
    let page = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    assert_eq!(page.results, vec![json!({ "id": "1" }), json!({ "id": "3" })]);
}

#[tokio::test]
async fn an_offset_list_ends_when_the_records_reach_the_total() {
    // 4 records in pages of 2: the second page is full, but the total says it is the last,
    // so no third (empty) request is made.
    let mock = Mock::start(|request, _| {
        let start: usize = request.query("startAt").unwrap().parse().unwrap();
        let comments: Vec<_> = (start..(start + 2).min(4)).map(|i| json!({ "id": i.to_string() })).collect();
        Reply::json(200, json!({ "startAt": start, "maxResults": 2, "total": 4, "comments": comments }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("offset_total", &[], &[("token", "t")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let second =
        engine.list(&account, "crm", "contacts", &ListRequest { cursor: first.next_cursor, ..ListRequest::default() }).await.unwrap();
    assert_eq!(second.results, vec![json!({ "id": "2" }), json!({ "id": "3" })]);
    assert_eq!(second.next_cursor, None);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn verify_sends_its_body() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "data": [] }))).await;
    let engine = engine(registry(), &mock);
    engine.verify(&account("verify_body", &[], &[("token", "t")])).await.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/records/query"));
    assert_eq!(sent.json(), json!({ "limit": 1 }));
}

#[tokio::test]
async fn a_header_reading_an_unset_optional_field_is_left_out() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "data": [] }))).await;
    let engine = engine(registry(), &mock);
    engine.list(&account("optional_header", &[], &[("token", "t")]), "crm", "contacts", &ListRequest::default()).await.unwrap();
    engine
        .list(&account("optional_header", &[("sub_account", "acct_1")], &[("token", "t")]), "crm", "contacts", &ListRequest::default())
        .await
        .unwrap();
    let requests = mock.requests();
    assert_eq!(requests[0].header("x-sub-account"), None);
    assert_eq!(requests[1].header("x-sub-account"), Some("acct_1"));
}

#[tokio::test]
async fn a_mapping_reads_the_whole_page_through_page() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            200,
            json!({ "fields": [{ "id": "firstName", "name": "First name" }, { "id": "jobTitle", "name": "Job title" }], "employees": [{ "id": "4", "firstName": "Ada", "jobTitle": "Analyst" }] }),
        )
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("page_binding", &[("company_domain", "acme")], &[("api_key", "k")]);
    let page = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    assert_eq!(
        page.results,
        vec![json!({ "id": "4", "first_name": "Ada", "custom_fields": { "title_label": "Job title", "title": "Analyst" } })]
    );
}
