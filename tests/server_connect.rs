//! OAuth connect through the server: the authorize redirect (state, PKCE, the install's own
//! client, scopes), the callback exchanging the code and creating the account, a reconnect with
//! the same external id, and the refusals (a forged state, a denied consent, an open redirect).
//!
//! The provider is a mock of tests/runtime/definitions/proxy_subdomain (per-account subdomain,
//! authorization code with PKCE, the client in the form body).

mod support;

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use support::server::TestServer;
use support::{registry, Mock, Reply};

const RETURN_URL: &str = "https://app.example.com/connected";

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The provider: its token endpoint checks the PKCE verifier against the challenge it was shown
/// at the consent screen, as an authorization server does.
fn provider(challenges: Arc<Mutex<Vec<String>>>) -> impl Fn(&support::Recorded, usize) -> Reply + Send + Sync + 'static {
    move |request, index| {
        if request.path == "/oauth/token" {
            let form = request.form();
            let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
            let verifier = get("code_verifier");
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if get("grant_type") != "authorization_code"
                || get("code") != "code-from-consent"
                || !challenges.lock().unwrap().contains(&challenge)
            {
                return Reply::json(
                    400,
                    json!({ "error": "invalid_grant", "error_description": "The authorization code or verifier is invalid." }),
                );
            }
            return Reply::json(
                200,
                json!({ "access_token": format!("at-connected-{index:04}-xxxxxxxx"), "refresh_token": format!("rt-connected-{index:04}-yyyyyyyy"), "expires_in": 7200, "token_type": "bearer", "scope": "contacts:read contacts:write" }),
            );
        }
        Reply::json(200, json!({ "contacts": [{ "id": 1 }] }))
            .header("x-ratelimit-limit", "700")
            .header("x-ratelimit-remaining", "699")
            .header("x-ratelimit-reset", "60")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_creates_then_reconnects_an_account() {
    let challenges = Arc::new(Mutex::new(Vec::new()));
    let mock = Mock::start(provider(challenges.clone())).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");

    // Not installed yet: the authorize step says what to do.
    let missing = server.get(&key, "/v1/connect/proxy_subdomain/authorize?connection.subdomain=acme").await.expect(400);
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("PUT /v1/installs/proxy_subdomain"), "{}", missing.text);
    let install = json!({ "oauth_client": { "client_id": "client-123", "client_secret": "client-secret-456" }, "settings": { "return_urls": [RETURN_URL] } });
    let installed = server.call(&key, "PUT", "/v1/installs/proxy_subdomain", Some(&install)).await.expect(200);
    assert_eq!(installed.body["oauth_client"], json!({ "client_id": "client-123", "client_secret_set": true }));
    assert!(!installed.text.contains("client-secret-456"));

    let connect = |external: &str| {
        format!(
            "/v1/connect/proxy_subdomain/authorize?connection.subdomain=acme&external_id={external}&return_to={}",
            url::form_urlencoded::byte_serialize(format!("{RETURN_URL}?tab=crm").as_bytes()).collect::<String>()
        )
    };
    // A browser gets a redirect; a backend asking for JSON gets the URL.
    let redirect = server.get(&key, &connect("customer-1")).await.expect(303);
    let location = redirect.header("location").unwrap().to_string();
    let asked = server
        .raw(server.request(reqwest::Method::GET, &connect("customer-1")).bearer_auth(&key).header("accept", "application/json"))
        .await
        .expect(200);
    let authorize_url = asked.body["authorize_url"].as_str().unwrap().to_string();
    for url in [&location, &authorize_url] {
        let parsed = url::Url::parse(url).unwrap();
        assert_eq!(parsed.path(), "/oauth/authorize");
        assert_eq!(
            format!("http://{}", parsed.host_str().unwrap()) + &format!(":{}", parsed.port().unwrap()),
            mock.url,
            "--upstream applies to OAuth URLs"
        );
        let q = query_of(url);
        assert_eq!(param(&q, "response_type"), Some("code"));
        assert_eq!(param(&q, "client_id"), Some("client-123"));
        assert_eq!(param(&q, "redirect_uri"), Some(format!("{}/v1/connect/callback", server.url).as_str()));
        assert_eq!(param(&q, "scope"), Some("contacts:read contacts:write"));
        assert_eq!(param(&q, "code_challenge_method"), Some("S256"));
        assert_eq!(param(&q, "prompt"), Some("consent"));
        assert!(param(&q, "client_secret").is_none());
        challenges.lock().unwrap().push(param(&q, "code_challenge").unwrap().to_string());
    }
    assert_ne!(param(&query_of(&location), "state"), param(&query_of(&authorize_url), "state"), "every flow has its own state");

    // The provider sends the browser back with a code; the callback needs no API key.
    let state = param(&query_of(&location), "state").unwrap().to_string();
    let callback = |state: &str, extra: &str| format!("/v1/connect/callback?code=code-from-consent&state={state}{extra}");
    let back = server.raw(server.request(reqwest::Method::GET, &callback(&state, ""))).await.expect(303);
    let landing = back.header("location").unwrap().to_string();
    assert!(landing.starts_with(&format!("{RETURN_URL}?tab=crm&account_id=acc_")), "{landing}");
    let id = param(&query_of(&landing), "account_id").unwrap().to_string();
    let token_request = mock.requests().into_iter().find(|r| r.path == "/oauth/token").expect("the code was exchanged");
    let form = token_request.form();
    assert_eq!(param(&form, "client_id"), Some("client-123"));
    assert_eq!(param(&form, "client_secret"), Some("client-secret-456"));
    assert_eq!(param(&form, "redirect_uri"), Some(format!("{}/v1/connect/callback", server.url).as_str()));

    let account = server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200);
    assert_eq!(account.body["external_id"], "customer-1");
    assert_eq!(account.body["connection"], json!({ "subdomain": "acme" }));
    assert_eq!(account.body["credential_fields"], json!(["access_token", "refresh_token"]));
    assert!(account.body["expires_at"].is_string());
    server.get(&key, &format!("/v1/proxy/{id}/contacts")).await.expect(200);
    let used = mock.requests().last().unwrap().clone();
    assert!(used.header("authorization").unwrap().starts_with("Bearer at-connected-"), "the connected token is used");

    // A reconnect of the same customer gives the same account new tokens.
    let again = server.get(&key, &connect("customer-1")).await.expect(303);
    let location = again.header("location").unwrap().to_string();
    let q = query_of(&location);
    challenges.lock().unwrap().push(param(&q, "code_challenge").unwrap().to_string());
    let back = server.raw(server.request(reqwest::Method::GET, &callback(param(&q, "state").unwrap(), ""))).await.expect(303);
    assert_eq!(param(&query_of(back.header("location").unwrap()), "account_id"), Some(id.as_str()));
    assert_eq!(server.get(&key, "/v1/accounts").await.expect(200).body["results"].as_array().unwrap().len(), 1);

    // Refusals.
    let forged = server.raw(server.request(reqwest::Method::GET, &callback("AAAAforged", ""))).await.expect(400);
    assert!(forged.body["error"]["message"].as_str().unwrap().contains("not one this server issued"));
    let mut tampered = state.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    server.raw(server.request(reqwest::Method::GET, &callback(&String::from_utf8(tampered).unwrap(), ""))).await.expect(400);
    let denied = server
        .raw(server.request(
            reqwest::Method::GET,
            &format!("/v1/connect/callback?error=access_denied&error_description=The+user+denied&state={state}"),
        ))
        .await
        .expect(400);
    assert_eq!(denied.body["error"]["code"], "authorization_denied");
    let open_redirect = format!(
        "/v1/connect/proxy_subdomain/authorize?connection.subdomain=acme&return_to={}",
        url::form_urlencoded::byte_serialize(b"https://evil.example/steal").collect::<String>()
    );
    let refused = server.get(&key, &open_redirect).await.expect(400);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("return_urls"));
    let no_subdomain = server.get(&key, "/v1/connect/proxy_subdomain/authorize").await.expect(400);
    assert!(no_subdomain.body["error"]["message"].as_str().unwrap().contains("subdomain"));
    let not_oauth = server.get(&key, "/v1/connect/cursor_body/authorize").await.expect(400);
    assert!(not_oauth.body["error"]["message"].as_str().unwrap().contains("does not use OAuth2"));

    // Neither the code nor any token or the client secret is in the log.
    let logs = server.get(&key, "/v1/logs?limit=500").await.expect(200);
    assert!(logs.body["results"].as_array().unwrap().iter().any(|e| e["url"].as_str().unwrap().ends_with("/oauth/token")));
    for secret in ["code-from-consent", "at-connected-", "rt-connected-", "client-secret-456"] {
        assert!(!logs.text.contains(secret), "`{secret}` is in the logs");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_field_from_the_token_response_is_not_asked_for() {
    // The page-number definition stores `api_domain` from the token response (the data centre
    // the customer's account lives in), so the customer cannot be asked for it up front.
    let mock = Mock::start(|request, _| {
        if request.path.ends_with("/oauth/v2/token") {
            return Reply::json(
                200,
                json!({ "access_token": "1000.at-dc-aaaaaaaa", "refresh_token": "1000.rt-dc-bbbbbbbb", "api_domain": "https://www.zohoapis.eu", "token_type": "Bearer", "expires_in": 3600 }),
            );
        }
        Reply::json(404, json!({}))
    })
    .await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    server.install(&key, "page_number", "1000.CID", "csecret").await;
    let redirect = server.get(&key, "/v1/connect/page_number/authorize").await.expect(303);
    let q = query_of(redirect.header("location").unwrap());
    assert_eq!(param(&q, "scope"), Some("ZohoCRM.modules.contacts.READ,ZohoCRM.modules.contacts.CREATE"));
    assert_eq!(param(&q, "access_type"), Some("offline"));
    let state = param(&q, "state").unwrap();
    let created =
        server.raw(server.request(reqwest::Method::GET, &format!("/v1/connect/callback?code=c0de&state={state}"))).await.expect(201);
    assert_eq!(created.body["connection"], json!({ "api_domain": "https://www.zohoapis.eu" }));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_field_from_the_callback_is_read_from_the_redirect() {
    // The company id comes back on the consent redirect (`companyId`), so it is not asked for up
    // front; the account's requests go under it.
    let mock = Mock::start(|request, _| {
        if request.path == "/oauth/token" {
            return Reply::json(
                200,
                json!({ "token_type": "bearer", "access_token": "at-cb-aaaaaaaa", "refresh_token": "rt-cb-bbbbbbbb", "expires_in": 3600 }),
            );
        }
        Reply::json(200, json!({ "customers": [{ "Id": "58" }] }))
    })
    .await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    server.install(&key, "callback_field", "cid", "csecret").await;
    let authorize = || async {
        let redirect = server.get(&key, "/v1/connect/callback_field/authorize").await.expect(303);
        param(&query_of(redirect.header("location").unwrap()), "state").unwrap().to_string()
    };

    // Without the parameter, or with a value the field's pattern refuses, the code is not spent.
    let state = authorize().await;
    let missing =
        server.raw(server.request(reqwest::Method::GET, &format!("/v1/connect/callback?code=c0de&state={state}"))).await.expect(400);
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("no `companyId`"), "{}", missing.text);
    assert_eq!(missing.body["error"]["field"], "connection.company_id");
    let state = authorize().await;
    let bad = format!("/v1/connect/callback?code=c0de&state={state}&companyId=12ab");
    server.raw(server.request(reqwest::Method::GET, &bad)).await.expect(400);
    assert!(mock.requests().is_empty(), "no code exchange: {:?}", mock.requests());

    let state = authorize().await;
    let created = server
        .raw(server.request(reqwest::Method::GET, &format!("/v1/connect/callback?state={state}&code=c0de&companyId=9130354316422656")))
        .await
        .expect(201);
    assert_eq!(created.body["connection"], json!({ "company_id": "9130354316422656" }));
    let token = &mock.requests()[0];
    assert_eq!(token.path, "/oauth/token");
    assert_eq!(param(&token.form(), "grant_type"), Some("authorization_code"));
    assert!(param(&token.form(), "companyId").is_none(), "the callback parameter is not sent on");
    let id = created.body["id"].as_str().unwrap().to_string();
    server.get(&key, &format!("/v1/proxy/{id}/customers")).await.expect(200);
    let used = mock.requests().last().unwrap().clone();
    assert_eq!(used.path, "/v3/company/9130354316422656/customers");
    server.stop().await;
}
