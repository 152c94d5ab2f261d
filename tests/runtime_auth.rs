//! Authentication against loopback mock providers: every auth kind as the provider each
//! definition imitates expects it, and the OAuth2 flows (refresh with the client in the body
//! or in a Basic header, with and without rotation, 401 → refresh → retry, refresh before
//! expiry, invalid_grant, client credentials, token responses without `expires_in` or
//! form-encoded), asserting the token requests byte for byte.

mod support;

use serde_json::{json, Map, Value};
use std::time::Duration;
use support::{account, basic, engine, engine_routed, fact, now, pairs, registry, Mock, Recorded, Reply};
use switchyard_runtime::account::{Account, Install, Secret};
use switchyard_runtime::engine::{ListRequest, UnifiedPage};
use switchyard_runtime::error::{ErrorKind, RuntimeError};

fn install(id: &str, secret: &str) -> Install {
    Install { client_id: Some(id.to_string()), client_secret: Some(Secret::new(secret)), webhook_secret: None }
}

fn oauth(integration: &str, connection: &[(&str, &str)], access: Option<&str>, refresh: Option<&str>, expires_in: Option<u64>) -> Account {
    let mut credentials = Vec::new();
    if let Some(access) = access {
        credentials.push(("access_token", access));
    }
    if let Some(refresh) = refresh {
        credentials.push(("refresh_token", refresh));
    }
    let mut account = account(integration, connection, &credentials);
    account.credentials.expires_at = expires_in.map(|s| now() + Duration::from_secs(s));
    account
}

fn expired(mut account: Account, seconds_ago: u64) -> Account {
    account.credentials.expires_at = Some(now() - Duration::from_secs(seconds_ago));
    account
}

fn no_query() -> Map<String, Value> {
    Map::new()
}

fn form(items: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs(items)
}

fn err<T: std::fmt::Debug>(result: Result<T, RuntimeError>) -> RuntimeError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e,
    }
}

fn page_err(result: Result<UnifiedPage, RuntimeError>) -> RuntimeError {
    match result {
        Ok(page) => panic!("expected an error, got a page of {} records", page.results.len()),
        Err(e) => e,
    }
}

/// The token request as a form-encoding client sends it.
fn assert_token_request(request: &Recorded, path: &str, authorization: Option<&str>, body: &[(&str, &str)]) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    let mut headers = vec![("accept".to_string(), "application/json".to_string())];
    if let Some(authorization) = authorization {
        headers.push(("authorization".into(), authorization.into()));
    }
    headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    assert_eq!(request.app_headers(), headers);
    assert_eq!(request.form(), form(body));
}

// ---------------------------------------------------------------------------------------
// static credentials

#[tokio::test]
async fn api_key_in_a_header() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            200,
            json!({ "success": true, "data": { "id": 42, "name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace", "owner_id": 7, "org_id": 3, "add_time": "2024-05-02T14:11:07Z", "update_time": "2024-06-01T09:00:00Z", "emails": [{ "value": "ada@x.com", "primary": true, "label": "work" }], "phones": [], "is_deleted": false, "visible_to": 3 } }),
        )
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("api_key_header", &[("company_domain", "acme")], &[("api_key", "9f2e7c1d0b3a4e5f")]);
    let record = engine.get(&account, "crm", "contacts", "42", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "42", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "work" }], "created_at": "2024-05-02T14:11:07.000Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str(), requests[0].raw_query.as_deref()),
        ("GET", "/api/v2/persons/42", None)
    );
    assert_eq!(requests[0].app_headers(), pairs(&[("accept", "application/json"), ("x-api-token", "9f2e7c1d0b3a4e5f")]));
}

#[tokio::test]
async fn api_key_in_the_query() {
    let mock =
        Mock::start(|_, _| Reply::json(200, json!({ "id": 7, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.com" }))).await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_header", &[], &[("api_key", "k 1&2=3")]);
    let record = engine.get(&account, "crm", "contacts", "7", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "7", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }] })
    );
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v1/contacts/7");
    // The key is one query value, whatever it holds.
    assert_eq!(requests[0].raw_query.as_deref(), Some("api_key=k+1%262%3D3"));
    assert_eq!(requests[0].query, form(&[("api_key", "k 1&2=3")]));
    assert_eq!(requests[0].app_headers(), pairs(&[("accept", "application/json")]));
}

#[tokio::test]
async fn bearer_token() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            200,
            json!({ "data": { "id": { "workspace_id": "14beef7a-99f7-4534-a87e-70b564330a4c", "object_id": "97052eb9-e65e-443f-a297-f2d9a4a7f795", "record_id": "bf071e1f-6035-429d-b874-d83ea64ea13b" }, "created_at": "2022-11-21T13:22:49.061281000Z", "web_url": "https://app.example.com/acme/person/bf071e1f", "values": { "name": [{ "first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace", "attribute_type": "personal-name" }], "email_addresses": [{ "email_address": "ada@x.com", "attribute_type": "email-address" }] } } }),
        )
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("offset_body", &[], &[("token", "3f6b2a9c8e7d4c1b")]);
    let record = engine.get(&account, "crm", "contacts", "bf071e1f-6035-429d-b874-d83ea64ea13b", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "bf071e1f-6035-429d-b874-d83ea64ea13b", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": null }], "created_at": "2022-11-21T13:22:49.061Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v2/objects/people/records/bf071e1f-6035-429d-b874-d83ea64ea13b");
    assert_eq!(requests[0].app_headers(), pairs(&[("accept", "application/json"), ("authorization", "Bearer 3f6b2a9c8e7d4c1b")]));
}

#[tokio::test]
async fn basic_with_the_key_as_user_and_an_empty_password() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "id": "cont_qpjDKx", "lead_id": "lead_IIDHIS", "organization_id": "orga_bwwWG", "name": "Gob Bluth", "title": "sr. vice president", "emails": [], "phones": [], "urls": [], "date_created": "2013-02-20T05:30:24.844000+00:00", "created_by": "user_MvDo" }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("offset_query", &[], &[("api_key", "api_6fqWHbd8Q7nPkY4")]);
    let record = engine.get(&account, "crm", "contacts", "cont_qpjDKx", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "cont_qpjDKx", "first_name": "Gob", "last_name": "Bluth", "company_id": "lead_IIDHIS", "created_at": "2013-02-20T05:30:24.844Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/api/v1/contact/cont_qpjDKx/");
    assert_eq!(
        requests[0].app_headers(),
        pairs(&[("accept", "application/json"), ("authorization", "Basic YXBpXzZmcVdIYmQ4UTduUGtZNDo=")])
    );
    assert_eq!(basic("api_6fqWHbd8Q7nPkY4", ""), "Basic YXBpXzZmcVdIYmQ4UTduUGtZNDo=");
}

#[tokio::test]
async fn basic_with_the_key_as_user_and_x_as_password() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "id": "123", "firstName": "Ada", "lastName": "Lovelace", "workEmail": "ada@x.com", "mobilePhone": null, "jobTitle": "Analyst", "hireDate": "2020-01-06" }))).await;
    let engine = engine(registry(), &mock);
    let account = account("unpaged", &[("company_domain", "acme")], &[("api_key", "a1b2c3d4")]);
    let record = engine.get(&account, "crm", "contacts", "123", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "123", "first_name": "Ada", "last_name": "Lovelace", "title": "Analyst", "emails": [{ "email": "ada@x.com", "type": "work" }] })
    );
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/api/v1/employees/123/");
    assert_eq!(requests[0].query, form(&[("fields", "firstName,lastName,workEmail,mobilePhone,jobTitle,hireDate")]));
    assert_eq!(requests[0].app_headers(), pairs(&[("accept", "application/json"), ("authorization", &basic("a1b2c3d4", "x"))]));
    assert_eq!(basic("a1b2c3d4", "x"), "Basic YTFiMmMzZDQ6eA==");
}

#[tokio::test]
async fn basic_with_templated_user_name() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "user": { "id": 35436, "name": "Ada Lovelace", "email": "ada@x.com", "created_at": "2009-07-20T22:55:29Z", "updated_at": "2011-05-05T10:38:52Z", "role": "end-user" } }))).await;
    let engine = engine(registry(), &mock);
    let account =
        account("next_url_absolute", &[("subdomain", "acme")], &[("email", "agent@acme.example"), ("api_token", "6wiIBWbGkBMo1mRD")]);
    let record = engine.get(&account, "crm", "contacts", "35436", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "35436", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "created_at": "2009-07-20T22:55:29Z" })
    );
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/api/v2/users/35436.json");
    assert_eq!(
        requests[0].app_headers(),
        pairs(&[("accept", "application/json"), ("authorization", &basic("agent@acme.example/token", "6wiIBWbGkBMo1mRD"))])
    );
}

#[tokio::test]
async fn custom_header_template() {
    let mock = Mock::start(|request, _| {
        let contact = |id: &str, first: &str| {
            json!({ "id": id, "remote_id": "51", "created_at": "2024-06-01T09:00:05Z", "modified_at": "2024-06-01T09:00:05Z", "first_name": first, "last_name": "Lovelace", "account": "0958cbc6-6040-430a-848e-aafacbadf4ae", "owner": null, "addresses": [], "email_addresses": [{ "email_address": "ada@x.com", "email_address_type": "Work", "modified_at": "2024-06-01T09:00:05Z" }], "phone_numbers": [], "last_activity_at": null, "remote_created_at": "2024-05-02T14:11:07Z", "remote_was_deleted": false, "field_mappings": { "organization_defined_targets": {}, "linked_account_defined_targets": {} }, "remote_data": null })
        };
        match request.query("cursor") {
            None => Reply::json(200, json!({ "next": "cD0yMDIxLTAxLTA2KzAzJTNBMjQlM0E1My40MzQzMjYlMkIwMCUzQTAw", "previous": null, "results": [contact("c640b80b-fac9-4a0b-a1a3-3a0e0f3d9c1e", "Ada")] })),
            Some(_) => Reply::json(200, json!({ "next": null, "previous": "cj0x", "results": [contact("d751c91c-0bda-4b1c-b2b4-4b1f1f4e0d2f", "Augusta")] })),
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("custom_headers", &[], &[("api_key", "mrg_live_0123456789"), ("account_token", "acct_tok_abcdef")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(1), ..ListRequest::default() }).await.unwrap();
    let second = engine
        .list(&account, "crm", "contacts", &ListRequest { cursor: first.next_cursor.clone(), ..ListRequest::default() })
        .await
        .unwrap();
    assert_eq!(
        first.results,
        vec![
            json!({ "id": "c640b80b-fac9-4a0b-a1a3-3a0e0f3d9c1e", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "work" }], "phone_numbers": [], "owner_id": null, "company_id": "0958cbc6-6040-430a-848e-aafacbadf4ae", "last_activity_at": null, "created_at": "2024-05-02T14:11:07Z", "updated_at": "2024-06-01T09:00:05Z" })
        ]
    );
    assert_eq!(second.results[0]["id"], "d751c91c-0bda-4b1c-b2b4-4b1f1f4e0d2f");
    assert_eq!(second.next_cursor, None);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api/crm/v1/contacts");
    assert_eq!(requests[0].query, form(&[("include_remote_data", "false"), ("page_size", "1")]));
    assert_eq!(
        requests[1].query,
        form(&[
            ("include_remote_data", "false"),
            ("page_size", "1"),
            ("cursor", "cD0yMDIxLTAxLTA2KzAzJTNBMjQlM0E1My40MzQzMjYlMkIwMCUzQTAw")
        ])
    );
    for request in &requests {
        assert_eq!(
            request.app_headers(),
            pairs(&[
                ("accept", "application/json"),
                ("authorization", "Bearer mrg_live_0123456789"),
                ("x-account-token", "acct_tok_abcdef")
            ])
        );
    }
}

// ---------------------------------------------------------------------------------------
// OAuth2, client in the form body, refresh token never rotated (page_number)

const PAGED_CONTACT: &str = r#"{"id":"4876876000000327001","First_Name":"Ada","Last_Name":"Lovelace","Email":"ada@x.com","Owner":{"name":"Pat Boyle","id":"4876876000000225013","email":"p@x.com"},"Account_Name":{"name":"Acme","id":"4876876000000624001"},"Created_Time":"2024-05-02T14:11:07+05:30","$currency_symbol":"$"}"#;

fn body_client_provider(api_token: &'static str) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    let scheme = fact("page_number", "auth_scheme");
    let api_domain = fact("page_number", "api_domain");
    move |request, _| {
        if request.path == "/oauth/v2/token" {
            // No refresh_token in the answer: the refresh token is never rotated.
            return Reply::json(
                200,
                json!({ "access_token": "1000.new.access", "api_domain": api_domain, "token_type": "Bearer", "expires_in": 3600 }),
            );
        }
        if request.header("authorization") == Some(&format!("{scheme} {api_token}")) {
            let contact: Value = serde_json::from_str(PAGED_CONTACT).unwrap();
            Reply::json(200, json!({ "data": [contact] }))
        } else {
            Reply::json(401, json!({ "code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error" }))
        }
    }
}

const PAGED_UNIFIED: &str = r#"{"id":"4876876000000327001","first_name":"Ada","last_name":"Lovelace","emails":[{"email":"ada@x.com","type":"primary"}],"owner_id":"4876876000000225013","company_id":"4876876000000624001","created_at":"2024-05-02T08:41:07.000Z"}"#;

#[tokio::test]
async fn a_401_refreshes_once_with_the_client_in_the_body_and_retries_with_the_new_token() {
    let mock = Mock::start(body_client_provider("1000.new.access")).await;
    let engine = engine(registry(), &mock);
    let mut account =
        oauth("page_number", &[("api_domain", "https://crm.example.com")], Some("1000.old.access"), Some("1000.refresh.keep"), Some(1800));
    account.install = install("1000.CLIENTID", "client-secret-1");
    let record = engine.get(&account, "crm", "contacts", "4876876000000327001", &no_query()).await.unwrap();
    assert_eq!(record.result, serde_json::from_str::<Value>(PAGED_UNIFIED).unwrap());

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let scheme = fact("page_number", "auth_scheme");
    assert_eq!(requests[0].path, "/crm/v8/Contacts/4876876000000327001");
    assert_eq!(requests[0].header("authorization"), Some(format!("{scheme} 1000.old.access").as_str()));
    assert_token_request(
        &requests[1],
        "/oauth/v2/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "1000.refresh.keep"),
            ("client_id", "1000.CLIENTID"),
            ("client_secret", "client-secret-1"),
        ],
    );
    assert_eq!(requests[2].path, "/crm/v8/Contacts/4876876000000327001");
    assert_eq!(
        requests[2].app_headers(),
        pairs(&[("accept", "application/json"), ("authorization", &format!("{scheme} 1000.new.access"))])
    );

    // Without rotation the old refresh token is kept; the new expiry and api_domain are stored.
    let refreshed = record.refreshed.expect("the call refreshed the token");
    assert_eq!(refreshed.credentials.get("access_token"), Some("1000.new.access"));
    assert_eq!(refreshed.credentials.get("refresh_token"), Some("1000.refresh.keep"));
    assert_eq!(refreshed.credentials.expires_at, Some(now() + Duration::from_secs(3600)));
    assert_eq!(refreshed.connection.get("api_domain"), Some(fact("page_number", "api_domain").as_str()));
}

#[tokio::test]
async fn a_token_inside_the_refresh_margin_is_refreshed_first_without_a_401() {
    let mock = Mock::start(body_client_provider("1000.new.access")).await;
    let engine = engine(registry(), &mock);
    // Expires in 120 s; the margin is 300 s.
    let mut account =
        oauth("page_number", &[("api_domain", "https://crm.example.com")], Some("1000.old.access"), Some("1000.refresh.keep"), Some(120));
    account.install = install("1000.CLIENTID", "client-secret-1");
    let page = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(10), ..ListRequest::default() }).await.unwrap();
    assert_eq!(
        page.results,
        vec![
            json!({ "id": "4876876000000327001", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "phone_numbers": [], "owner_id": "4876876000000225013", "company_id": "4876876000000624001", "created_at": "2024-05-02T08:41:07.000Z" })
        ]
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "token, then the list; never the old token");
    assert_token_request(
        &requests[0],
        "/oauth/v2/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "1000.refresh.keep"),
            ("client_id", "1000.CLIENTID"),
            ("client_secret", "client-secret-1"),
        ],
    );
    assert_eq!(requests[1].header("authorization"), Some(format!("{} 1000.new.access", fact("page_number", "auth_scheme")).as_str()));
    let refreshed = page.refreshed.expect("refreshed before the call");
    assert_eq!(refreshed.credentials.get("refresh_token"), Some("1000.refresh.keep"));
}

#[tokio::test]
async fn a_token_outside_the_margin_is_used_as_is() {
    let mock = Mock::start(body_client_provider("1000.old.access")).await;
    let engine = engine(registry(), &mock);
    let mut account =
        oauth("page_number", &[("api_domain", "https://crm.example.com")], Some("1000.old.access"), Some("1000.refresh.keep"), Some(301));
    account.install = install("1000.CLIENTID", "client-secret-1");
    let record = engine.get(&account, "crm", "contacts", "4876876000000327001", &no_query()).await.unwrap();
    assert!(record.refreshed.is_none());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_401_right_after_a_refresh_needs_reauth() {
    // The provider refuses every API call, even with the token it just issued.
    let mock = Mock::start(body_client_provider("never-accepted")).await;
    let engine = engine(registry(), &mock);
    let mut account =
        oauth("page_number", &[("api_domain", "https://crm.example.com")], Some("1000.old.access"), Some("1000.refresh.keep"), Some(60));
    account.install = install("1000.CLIENTID", "client-secret-1");
    let error = err(engine.get(&account, "crm", "contacts", "4876876000000327001", &no_query()).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(error.kind.code(), "needs_reauth");
    assert_eq!(error.provider_status, Some(401));
    assert_eq!(error.provider_error, Some(json!({ "code": "INVALID_TOKEN", "message": "invalid oauth token" })));
    let requests = mock.requests();
    assert_eq!(
        requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec!["/oauth/v2/token", "/crm/v8/Contacts/4876876000000327001"]
    );
}

#[tokio::test]
async fn a_401_after_the_refresh_and_retry_needs_reauth_without_a_second_refresh() {
    let mock = Mock::start(body_client_provider("never-accepted")).await;
    let engine = engine(registry(), &mock);
    let mut account =
        oauth("page_number", &[("api_domain", "https://crm.example.com")], Some("1000.old.access"), Some("1000.refresh.keep"), Some(1800));
    account.install = install("1000.CLIENTID", "client-secret-1");
    let error = page_err(engine.list(&account, "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(error.provider_status, Some(401));
    let requests = mock.requests();
    assert_eq!(
        requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec!["/crm/v8/Contacts", "/oauth/v2/token", "/crm/v8/Contacts"]
    );
}

// ---------------------------------------------------------------------------------------
// OAuth2, client in a Basic header, refresh token rotated on every refresh (dynamic_query)

const QUERY_CUSTOMER: &str = r#"{"Customer":{"Id":"58","SyncToken":"0","sparse":false,"Active":true,"DisplayName":"Ada Lovelace","GivenName":"Ada","FamilyName":"Lovelace","PrimaryEmailAddr":{"Address":"ada@x.com"},"Balance":0,"MetaData":{"CreateTime":"2024-05-02T07:11:07-07:00","LastUpdatedTime":"2024-06-01T02:00:00-07:00"}},"time":"2024-06-01T02:00:00.000-07:00"}"#;

/// Issues access token `at-N` and refresh token `rt-N` on its N-th refresh (from 2), and
/// accepts only the refresh token it issued last: a used one is dead, as with rotation.
fn rotating_provider() -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    let state = std::sync::Mutex::new((1usize, "rt-1".to_string(), "at-1".to_string()));
    move |request, _| {
        let mut state = state.lock().unwrap();
        if request.path == "/oauth2/v1/tokens/bearer" {
            let sent = request.form().into_iter().find(|(k, _)| k == "refresh_token").map(|(_, v)| v);
            if sent.as_deref() != Some(state.1.as_str()) {
                return Reply::json(400, json!({ "error": "invalid_grant" }));
            }
            state.0 += 1;
            state.1 = format!("rt-{}", state.0);
            state.2 = format!("at-{}", state.0);
            return Reply::json(
                200,
                json!({ "token_type": "bearer", "access_token": state.2, "expires_in": 3600, "refresh_token": state.1, "x_refresh_token_expires_in": 8726400 }),
            );
        }
        if request.header("authorization") == Some(&format!("Bearer {}", state.2)) {
            Reply::json(200, serde_json::from_str(QUERY_CUSTOMER).unwrap())
                .header(&fact("dynamic_query", "trace_header"), "1-66e0a1b2-3c4d5e6f7a8b9c0d1e2f3a4b")
        } else {
            Reply::json(
                401,
                json!({ "fault": { "error": [{ "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401", "detail": "Token expired: at-0", "code": "3200" }], "type": "AUTHENTICATION" } }),
            )
        }
    }
}

#[tokio::test]
async fn rotation_keeps_the_new_refresh_token_and_the_next_refresh_sends_it() {
    let mock = Mock::start(rotating_provider()).await;
    let engine = engine(registry(), &mock);
    let mut account = expired(oauth("dynamic_query", &[("realm_id", "9130357766900456")], Some("at-0"), Some("rt-1"), None), 60);
    account.install = install("ABcdEFghIJ", "s3cr3t");

    // Expired: refreshed before the call, client as HTTP Basic.
    let first = engine.get(&account, "crm", "contacts", "58", &no_query()).await.unwrap();
    assert_eq!(
        first.result,
        json!({ "id": "58", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "created_at": "2024-05-02T14:11:07.000Z" })
    );
    let refreshed = first.refreshed.clone().expect("refreshed");
    assert_eq!(refreshed.credentials.get("access_token"), Some("at-2"));
    assert_eq!(refreshed.credentials.get("refresh_token"), Some("rt-2"), "the rotated refresh token is the one to keep");
    assert_eq!(refreshed.credentials.expires_at, Some(now() + Duration::from_secs(3600)));
    // `store: {expires_in: …}`: the refresh token's lifetime, stored as the time it ends.
    // 2024-06-01T09:00:00Z + 8,726,400 s (101 days).
    assert_eq!(refreshed.connection.get("refresh_token_expires_at"), Some("2024-09-10T09:00:00Z"));

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_token_request(
        &requests[0],
        "/oauth2/v1/tokens/bearer",
        Some(&basic("ABcdEFghIJ", "s3cr3t")),
        &[("grant_type", "refresh_token"), ("refresh_token", "rt-1")],
    );
    assert_eq!(requests[1].path, "/v3/company/9130357766900456/customer/58");
    assert_eq!(requests[1].query, form(&[("minorversion", "75")]));
    assert_eq!(requests[1].app_headers(), pairs(&[("accept", "application/json"), ("authorization", "Bearer at-2")]));

    // The caller stores the refreshed credentials; the next refresh (the token is now
    // expired again) must send rt-2, never the retired rt-1.
    account.credentials = refreshed.credentials.clone();
    account.connection = refreshed.connection.clone();
    let mut later = account.clone();
    later.credentials.expires_at = Some(now() - Duration::from_secs(1));
    let page = engine.list(&later, "crm", "contacts", &ListRequest::default()).await;
    let requests = mock.requests();
    assert_token_request(
        &requests[2],
        "/oauth2/v1/tokens/bearer",
        Some(&basic("ABcdEFghIJ", "s3cr3t")),
        &[("grant_type", "refresh_token"), ("refresh_token", "rt-2")],
    );
    assert!(requests
        .iter()
        .filter(|r| r.path == "/oauth2/v1/tokens/bearer")
        .skip(1)
        .all(|r| !r.form().contains(&("refresh_token".into(), "rt-1".into()))));
    // (The list itself gets the get-shaped body back and finds no records.)
    let page = page.unwrap();
    assert_eq!(page.refreshed.unwrap().credentials.get("refresh_token"), Some("rt-3"));
}

#[tokio::test]
async fn a_rotated_refresh_token_after_a_401_reaches_the_unified_page() {
    let mock = Mock::start(rotating_provider()).await;
    let engine = engine(registry(), &mock);
    // Not expired as far as we know, but the provider no longer takes at-0.
    let mut account = oauth("dynamic_query", &[("realm_id", "9130357766900456")], Some("at-0"), Some("rt-1"), Some(3000));
    account.install = install("ABcdEFghIJ", "s3cr3t");
    let page = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let refreshed = page.refreshed.expect("UnifiedPage.refreshed carries the rotated credentials");
    assert_eq!(refreshed.credentials.get("refresh_token"), Some("rt-2"));
    assert_eq!(refreshed.credentials.get("access_token"), Some("at-2"));
    let requests = mock.requests();
    assert_eq!(
        requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec!["/v3/company/9130357766900456/query", "/oauth2/v1/tokens/bearer", "/v3/company/9130357766900456/query"]
    );
    assert_eq!(requests[0].header("authorization"), Some("Bearer at-0"));
    assert_eq!(requests[2].header("authorization"), Some("Bearer at-2"));
    assert_eq!(requests[0].query, requests[2].query, "the retry is the same request");
}

#[tokio::test]
async fn invalid_grant_needs_reauth_after_exactly_one_token_call() {
    let mock = Mock::start(|request, _| {
        if request.path == "/oauth2/v1/tokens/bearer" {
            Reply::json(400, json!({ "error": "invalid_grant" }))
        } else {
            Reply::json(401, json!({ "fault": { "error": [{ "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401", "detail": "Token expired: at-0", "code": "3200" }], "type": "AUTHENTICATION" } }))
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = oauth("dynamic_query", &[("realm_id", "9130357766900456")], Some("at-0"), Some("rt-revoked"), Some(3000));
    account.install = install("ABcdEFghIJ", "s3cr3t");

    // 401 → refresh → invalid_grant.
    let error = err(engine.get(&account, "crm", "contacts", "58", &no_query()).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(error.provider_status, Some(400));
    assert_eq!(error.provider_error, Some(json!({ "code": "invalid_grant", "message": "" })));
    assert_eq!(error.body_excerpt.as_deref(), Some(r#"{"error":"invalid_grant"}"#));
    assert_eq!(
        mock.requests().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec!["/v3/company/9130357766900456/customer/58", "/oauth2/v1/tokens/bearer"]
    );

    // Expired → refresh first → invalid_grant: no API call at all.
    let error = err(engine.get(&expired(account, 10), "crm", "contacts", "58", &no_query()).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.requests()[2].path, "/oauth2/v1/tokens/bearer");
}

#[tokio::test]
async fn an_expired_token_without_a_refresh_token_needs_reauth_without_any_request() {
    let mock = Mock::start(|_, _| Reply::json(500, json!({}))).await;
    let engine = engine(registry(), &mock);
    let account = expired(oauth("dynamic_query", &[("realm_id", "9130357766900456")], Some("at-0"), None, None), 10);
    let error = err(engine.get(&account, "crm", "contacts", "58", &no_query()).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(mock.requests().len(), 0);
}

// ---------------------------------------------------------------------------------------
// client credentials

#[tokio::test]
async fn client_credentials_fetch_a_token_when_missing_with_the_scope() {
    let mock = Mock::start(|request, _| {
        if request.path == "/token" {
            return Reply::json(200, json!({ "access_token": "eyJhbGciOiJSUzI1NiJ9.cc.sig", "token_type": "Bearer", "expires_in": 3600 }));
        }
        if request.header("authorization") != Some("Bearer eyJhbGciOiJSUzI1NiJ9.cc.sig") {
            return Reply::json(401, json!({ "message": "Unauthorized" }));
        }
        let candidate = |id: u64, first: &str| json!({ "id": id, "first_name": first, "last_name": "Lovelace", "created_at": "2024-05-02T14:11:07.012Z", "email_addresses": [{ "value": "ada@x.com", "type": "work" }] });
        match request.query("cursor") {
            None => Reply::json(200, json!([candidate(1, "Ada")])).header("Link", &format!("<{}/v3/candidates?cursor=eyJpZCI6MX0>; rel=\"next\"", request.origin())),
            Some(_) => Reply::json(200, json!([candidate(2, "Augusta")])),
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = account("client_credentials", &[], &[]);
    account.install = install("cc-client", "cc-secret");
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(1), ..ListRequest::default() }).await.unwrap();
    assert_eq!(
        first.results,
        vec![
            json!({ "id": "1", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "work" }], "created_at": "2024-05-02T14:11:07.012Z" })
        ]
    );
    let refreshed = first.refreshed.clone().expect("a token was fetched");
    assert_eq!(refreshed.credentials.get("access_token"), Some("eyJhbGciOiJSUzI1NiJ9.cc.sig"));
    assert_eq!(refreshed.credentials.expires_at, Some(now() + Duration::from_secs(3600)));

    account.credentials = refreshed.credentials;
    let second = engine
        .list(&account, "crm", "contacts", &ListRequest { cursor: first.next_cursor.clone(), ..ListRequest::default() })
        .await
        .unwrap();
    assert!(second.refreshed.is_none(), "the stored token is used");
    assert_eq!(second.results[0]["id"], "2");
    assert_eq!(second.next_cursor, None);

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_token_request(
        &requests[0],
        "/token",
        Some(&basic("cc-client", "cc-secret")),
        &[("grant_type", "client_credentials"), ("scope", &fact("client_credentials", "scope"))],
    );
    assert_eq!(requests[1].path, "/v3/candidates");
    assert_eq!(requests[1].query, form(&[("per_page", "1")]));
    assert_eq!(requests[2].path, "/v3/candidates");
    assert_eq!(requests[2].query, form(&[("cursor", "eyJpZCI6MX0")]), "the cursor is the only query parameter");
    for request in &requests[1..] {
        assert_eq!(
            request.app_headers(),
            pairs(&[("accept", "application/json"), ("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.cc.sig")])
        );
    }
}

#[tokio::test]
async fn client_credentials_fetch_a_new_token_on_a_401() {
    let mock = Mock::start(|request, index| {
        if request.path == "/token" {
            return Reply::json(200, json!({ "access_token": format!("cc-{index}"), "token_type": "Bearer", "expires_in": 3600 }));
        }
        if request.header("authorization") == Some("Bearer cc-stale") {
            return Reply::json(401, json!({ "message": "Unauthorized" }));
        }
        Reply::json(200, json!({ "id": 2, "first_name": "Ada", "last_name": "Lovelace", "created_at": "2024-05-02T14:11:07.012Z" }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = account("client_credentials", &[], &[("access_token", "cc-stale")]);
    account.install = install("cc-client", "cc-secret");
    let record = engine.get(&account, "crm", "contacts", "2", &no_query()).await.unwrap();
    assert_eq!(record.result, json!({ "id": "2", "first_name": "Ada", "last_name": "Lovelace", "created_at": "2024-05-02T14:11:07.012Z" }));
    let requests = mock.requests();
    assert_eq!(requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), vec!["/v3/candidates/2", "/token", "/v3/candidates/2"]);
    assert_eq!(requests[2].header("authorization"), Some("Bearer cc-1"));
}

// ---------------------------------------------------------------------------------------
// a token response without expires_in, with instance_url (next_url_relative)

#[tokio::test]
async fn a_token_response_without_expires_in_stores_instance_url_for_the_next_request() {
    let login = Mock::start(|request, _| {
        assert_eq!(request.path, "/services/oauth2/token");
        Reply::json(
            200,
            json!({ "access_token": "00D5g000004xyz!AQ8AQ.new", "signature": "d0S1ZYbF2qK3lHfF7+Xl1z0Vv6s1wq1cNvK7Zf8P7Y8=", "scope": "refresh_token api", "instance_url": "https://eu5.example.com", "id": "https://login.example.com/id/00D5g000004xyzEAA/0055g00000ABCDEAA4", "token_type": "Bearer", "issued_at": "1717232400000" }),
        )
    })
    .await;
    let old_instance =
        Mock::start(|_, _| Reply::json(401, json!([{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }]))).await;
    let new_instance = Mock::start(|request, _| {
        if request.header("authorization") != Some("Bearer 00D5g000004xyz!AQ8AQ.new") {
            return Reply::json(401, json!([{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }]));
        }
        Reply::json(200, json!({ "attributes": { "type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003D000000QV9n2IAD" }, "Id": "003D000000QV9n2IAD", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@x.com", "AccountId": "001D000000IRFmaIAH", "CreatedDate": "2024-05-02T14:11:07.000+0000", "Seats__c": 12.0 }))
            .header(&fact("next_url_relative", "usage_header"), "api-usage=10018/100000")
    })
    .await;
    let engine = engine_routed(registry(), &login, &[("na1.example.com", &old_instance), ("eu5.example.com", &new_instance)]);
    let mut account = oauth(
        "next_url_relative",
        &[("instance_url", "https://na1.example.com")],
        Some("00D5g000004xyz!AQ8AQ.old"),
        Some("5Aep861TSESvWeug_xvFHRBTTbf"),
        None,
    );
    account.install = install("3MVG9.consumer.key", "consumer-secret");

    let record = engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "003D000000QV9n2IAD", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "primary" }], "company_id": "001D000000IRFmaIAH", "created_at": "2024-05-02T14:11:07.000Z" })
    );
    let refreshed = record.refreshed.clone().expect("refreshed after the 401");
    assert_eq!(refreshed.connection.get("instance_url"), Some("https://eu5.example.com"));
    assert_eq!(refreshed.credentials.get("access_token"), Some("00D5g000004xyz!AQ8AQ.new"));
    assert_eq!(
        refreshed.credentials.get("refresh_token"),
        Some("5Aep861TSESvWeug_xvFHRBTTbf"),
        "no refresh token in the answer: the old one is kept"
    );
    assert_eq!(refreshed.credentials.expires_at, None, "no expires_in: the expiry is unknown, a 401 will tell");

    assert_eq!(old_instance.requests().len(), 1);
    assert_eq!(old_instance.requests()[0].path, "/services/data/v62.0/sobjects/Contact/003D000000QV9n2IAD");
    let token = login.requests();
    assert_eq!(token.len(), 1);
    assert_token_request(
        &token[0],
        "/services/oauth2/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "5Aep861TSESvWeug_xvFHRBTTbf"),
            ("client_id", "3MVG9.consumer.key"),
            ("client_secret", "consumer-secret"),
        ],
    );
    let served = new_instance.requests();
    assert_eq!(served.len(), 1, "the retry goes to the new instance_url");
    assert_eq!(served[0].path, "/services/data/v62.0/sobjects/Contact/003D000000QV9n2IAD");
    assert_eq!(
        served[0].app_headers(),
        pairs(&[
            ("accept", "application/json"),
            ("authorization", "Bearer 00D5g000004xyz!AQ8AQ.new"),
            (&fact("next_url_relative", "call_options_header").to_lowercase(), "client=switchyard")
        ])
    );

    // The stored account calls the new instance directly, with no refresh.
    account.credentials = refreshed.credentials;
    account.connection = refreshed.connection;
    let again = engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &no_query()).await.unwrap();
    assert!(again.refreshed.is_none());
    assert_eq!(new_instance.requests().len(), 2);
    assert_eq!(old_instance.requests().len(), 1);
    assert_eq!(login.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// a form-encoded token response, default headers (epoch_reset_limits)

#[tokio::test]
async fn a_form_encoded_token_response_is_parsed() {
    let accept = fact("epoch_reset_limits", "accept");
    let version_header = fact("epoch_reset_limits", "version_header").to_lowercase();
    let version = fact("epoch_reset_limits", "version");
    let mock = Mock::start(|request, _| {
        if request.path == "/login/oauth/access_token" {
            return Reply::raw(200, "application/x-www-form-urlencoded; charset=utf-8", "access_token=ghu_16C7e42F292c6912E7710c838347Ae178B4a&expires_in=28800&refresh_token=ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498&refresh_token_expires_in=15897600&scope=&token_type=bearer");
        }
        Reply::json(200, json!({ "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false, "name": "monalisa octocat", "company": "Acme", "email": "octocat@example.com", "created_at": "2008-01-14T04:33:35Z", "updated_at": "2008-01-14T04:33:35Z" }))
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "4999")
            .header("x-ratelimit-used", "1")
            .header("x-ratelimit-reset", &(support::NOW + 3600).to_string())
            .header("x-ratelimit-resource", "core")
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = expired(oauth("epoch_reset_limits", &[("org", "acme")], Some("ghu_old"), Some("ghr_old"), None), 5);
    account.install = install("Iv1.8a61f9b3a7aba766", "app-secret");
    let record = engine.get(&account, "crm", "contacts", "1", &no_query()).await.unwrap();
    assert_eq!(
        record.result,
        json!({ "id": "1", "first_name": "monalisa", "last_name": "octocat", "emails": [{ "email": "octocat@example.com", "type": "primary" }], "created_at": "2008-01-14T04:33:35Z", "updated_at": "2008-01-14T04:33:35Z", "custom_fields": { "login": "octocat" } })
    );
    let refreshed = record.refreshed.expect("refreshed");
    assert_eq!(refreshed.credentials.get("access_token"), Some("ghu_16C7e42F292c6912E7710c838347Ae178B4a"));
    assert_eq!(
        refreshed.credentials.get("refresh_token"),
        Some("ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498")
    );
    assert_eq!(refreshed.credentials.expires_at, Some(now() + Duration::from_secs(28800)));

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_token_request(
        &requests[0],
        "/login/oauth/access_token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "ghr_old"),
            ("client_id", "Iv1.8a61f9b3a7aba766"),
            ("client_secret", "app-secret"),
        ],
    );
    // Default headers replace the engine's own Accept and are sent with every request.
    assert_eq!(requests[1].path, "/user/1");
    assert_eq!(
        requests[1].app_headers(),
        pairs(&[("accept", &accept), ("authorization", "Bearer ghu_16C7e42F292c6912E7710c838347Ae178B4a"), (&version_header, &version)])
    );
    assert_eq!(
        record.rate_limit.headers(),
        support::limit_headers(&[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "4999"),
            ("ratelimit-reset", "3600"),
            ("RateLimit-Policy", "\"default\";q=5000;w=3600"),
            ("RateLimit", "\"default\";r=4999;t=3600")
        ])
    );
}

#[tokio::test]
async fn a_refresh_token_refused_in_a_200_answer_needs_reauth() {
    // The imitated provider answers a dead refresh token with HTTP 200 and an error object (RFC 6749 says
    // 400 invalid_grant); the customer must reconnect either way.
    let mock = Mock::start(|request, _| {
        if request.path == "/login/oauth/access_token" {
            return Reply::json(200, json!({ "error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired.", "error_uri": "https://docs.example.com/apps/troubleshooting" }));
        }
        Reply::json(500, json!({}))
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = expired(oauth("epoch_reset_limits", &[("org", "acme")], Some("ghu_old"), Some("ghr_old"), None), 5);
    account.install = install("Iv1.8a61f9b3a7aba766", "app-secret");
    let error = err(engine.get(&account, "crm", "contacts", "1", &no_query()).await);
    assert_eq!(
        error.provider_error,
        Some(json!({ "code": "bad_refresh_token", "message": "The refresh token passed is incorrect or expired." }))
    );
    assert_eq!(mock.requests().len(), 1, "no API call with no token");
    assert_eq!(error.kind, ErrorKind::NeedsReauth, "{error}");
}

#[tokio::test]
async fn a_json_token_request_with_per_account_params_and_client() {
    let mock = Mock::start(|request, _| {
        if request.path == "/token" {
            Reply::json(200, json!({ "access_token": "fresh", "expires_in": 3600 }))
        } else {
            Reply::json(200, json!({ "items": [{ "id": "1" }] }))
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("json_token", &[("user_id", "4080"), ("client_id", "cid"), ("client_secret", "csecret")], &[]);
    engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let token = &mock.requests()[0];
    assert_eq!(token.path, "/token");
    assert_eq!(token.header("content-type"), Some("application/json"));
    assert_eq!(token.json(), json!({ "grant_type": "client_credentials", "sub": "4080", "client_id": "cid", "client_secret": "csecret" }));
}

/// A refresh against `token_error_rules`, whose token endpoint answers `reply`; the API answers 200.
async fn refresh_with(reply: impl Fn() -> Reply + Send + Sync + 'static) -> (Result<Value, RuntimeError>, Vec<Recorded>) {
    let mock = Mock::start(move |request, _| if request.path == "/token" { reply() } else { Reply::json(200, json!({ "id": "1" })) }).await;
    let engine = engine(registry(), &mock);
    let mut account = expired(oauth("token_error_rules", &[], Some("at-old"), Some("rt-1"), None), 5);
    account.install = install("client-1", "secret-1");
    let result = engine.get(&account, "crm", "contacts", "1", &no_query()).await.map(|r| r.result);
    (result, mock.requests())
}

#[tokio::test]
async fn token_error_rules_declare_a_200_refusal_under_other_keys() {
    let (result, requests) = refresh_with(|| {
        Reply::json(
            200,
            json!({ "status": "failure", "errors": [{ "code": "REFRESH_TOKEN_REVOKED", "message": "The refresh token was revoked." }] }),
        )
    })
    .await;
    let error = err(result);
    assert_eq!(error.kind, ErrorKind::NeedsReauth, "{error}");
    assert_eq!(error.provider_status, Some(200));
    // The code and description come from `token_response.error` and `error_description`.
    assert_eq!(error.provider_error, Some(json!({ "code": "REFRESH_TOKEN_REVOKED", "message": "The refresh token was revoked." })));
    assert!(error.message.contains("REFRESH_TOKEN_REVOKED: The refresh token was revoked."), "{}", error.message);
    assert_eq!(requests.len(), 1, "no API call without a token");
}

#[tokio::test]
async fn token_error_rules_match_any_status_and_headers() {
    // A rule without `status` decides a 400 too: the client is refused, not the grant.
    let (result, _) =
        refresh_with(|| Reply::json(400, json!({ "status": "failure", "errors": [{ "code": "CLIENT_DISABLED", "message": "off" }] })))
            .await;
    assert_eq!(err(result).kind, ErrorKind::Auth);
    // A header condition: a 200 during maintenance is the endpoint failing.
    let (result, _) = refresh_with(|| Reply::json(200, json!({})).header("X-Maintenance", "1")).await;
    let error = err(result);
    assert_eq!(error.kind, ErrorKind::Upstream, "{error}");
}

#[tokio::test]
async fn without_a_matching_rule_the_default_reads_the_declared_error_path() {
    // No rule names this code; the default still sees a code at `errors.0.code` and no access
    // token, so the 200 is a refusal.
    let (result, _) = refresh_with(|| Reply::json(200, json!({ "status": "failure", "errors": [{ "code": "SOMETHING_ELSE" }] }))).await;
    let error = err(result);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(error.provider_error, Some(json!({ "code": "SOMETHING_ELSE", "message": "" })));
    // And a good answer is a token.
    let (result, requests) =
        refresh_with(|| Reply::json(200, json!({ "status": "ok", "access_token": "at-new", "refresh_token": "rt-1", "expires_in": 3600 })))
            .await;
    assert_eq!(result.unwrap(), json!({ "id": "1" }));
    assert_eq!(requests[1].header("authorization"), Some("Bearer at-new"));
}
