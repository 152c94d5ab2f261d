//! Connecting an account with the OAuth2 authorization-code grant: the authorization URL
//! (every parameter, with and without PKCE), the PKCE pair (checked against an independent
//! SHA-256), and the code exchange as the token endpoint receives it (client in the body or
//! as HTTP Basic, form or JSON, with and without a verifier), against loopback mocks.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{account, basic, engine, now, pairs, registry, Mock, Reply};
use switchyard_registry::{Auth, Registry, TokenFormat};
use switchyard_runtime::account::{Account, Install, Secret};
use switchyard_runtime::auth::Pkce;
use switchyard_runtime::engine::{Engine, EngineConfig};
use switchyard_runtime::error::{ErrorKind, RuntimeError};

const REDIRECT: &str = "https://app.example.com/v1/connect/callback";

fn install() -> Install {
    Install { client_id: Some("client-1".into()), client_secret: Some(Secret::new("secret 1:&")), webhook_secret: None }
}

fn connecting(integration: &str, connection: &[(&str, &str)]) -> Account {
    let mut account = account(integration, connection, &[]);
    account.install = install();
    account
}

/// An engine without origin overrides (the URL as the provider would see it).
fn plain_engine(registry: Arc<Registry>) -> Engine {
    Engine::new(registry, EngineConfig { clock: Arc::new(now), ..EngineConfig::default() }).unwrap()
}

fn query_of(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn err<T: std::fmt::Debug>(result: Result<T, RuntimeError>) -> RuntimeError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e,
    }
}

/// The registry with one integration's OAuth2 definition changed.
fn registry_with(name: &str, change: impl FnOnce(&mut switchyard_registry::OAuth2)) -> Arc<Registry> {
    let mut registry = (*registry()).clone();
    let integration = registry.integrations.iter_mut().find(|i| i.name == name).unwrap();
    let Auth::OAuth2(oauth) = &mut integration.auth else { panic!("{name} uses OAuth2") };
    change(oauth);
    Arc::new(registry)
}

// ---------------------------------------------------------------------------------------
// PKCE

/// SHA-256 (FIPS 180-4), written out here so the test does not check the runtime's hash
/// with the same library.
fn sha256(message: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
        0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
        0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
        0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
        0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
        0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut h: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut data = message.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for block in data.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(add);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[test]
fn the_test_sha256_is_sha256() {
    let hex = |bytes: [u8; 32]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(hex(sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(
        hex(sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn a_generated_pkce_pair_follows_rfc_7636() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..64 {
        let pkce = Pkce::generate();
        assert!((43..=128).contains(&pkce.verifier.len()), "{}", pkce.verifier.len());
        assert!(pkce.verifier.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)), "{}", pkce.verifier);
        assert_eq!(pkce.challenge, URL_SAFE_NO_PAD.encode(sha256(pkce.verifier.as_bytes())));
        assert_eq!(pkce.challenge.len(), 43);
        assert!(!pkce.challenge.contains(['=', '+', '/']));
        assert!(seen.insert(pkce.verifier.clone()), "verifiers repeat");
    }
    assert_eq!(Pkce::METHOD, "S256");
    let pkce = Pkce::generate();
    assert!(!format!("{pkce:?}").contains(&pkce.verifier), "the verifier is not printed");
}

#[test]
fn the_rfc_7636_example_and_verifier_bounds() {
    // RFC 7636, appendix B.
    let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    assert_eq!(pkce.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert!(Pkce::from_verifier(&"a".repeat(43)).is_ok());
    assert!(Pkce::from_verifier(&"~".repeat(128)).is_ok());
    for bad in ["a".repeat(42), "a".repeat(129), format!("{}+", "a".repeat(42)), format!("{} ", "a".repeat(43)), String::new()] {
        assert_eq!(err(Pkce::from_verifier(&bad)).kind, ErrorKind::InvalidRequest, "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// the authorization URL

#[test]
fn the_authorization_url_with_pkce() {
    let engine = plain_engine(registry());
    let pkce = Pkce::generate();
    let account = connecting("proxy_subdomain", &[("subdomain", "acme")]);
    let url = engine.authorize_url(&account, REDIRECT, "st-123", Some(&pkce)).unwrap();
    assert_eq!((url.scheme(), url.host_str(), url.port(), url.path()), ("https", Some("acme.crm.example.com"), None, "/oauth/authorize"));
    assert_eq!(
        query_of(&url),
        pairs(&[
            ("response_type", "code"),
            ("client_id", "client-1"),
            ("redirect_uri", REDIRECT),
            ("scope", "contacts:read contacts:write"),
            ("state", "st-123"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "consent"),
        ])
    );
    assert_eq!(url.fragment(), None);
}

#[test]
fn the_authorization_url_without_pkce_keeps_the_definitions_own_query() {
    let engine = plain_engine(registry());
    let account = connecting("connect_basic", &[]);
    // A pair given for a definition without `pkce: true` is not sent.
    let url = engine.authorize_url(&account, REDIRECT, "st&=?#1", Some(&Pkce::generate())).unwrap();
    assert_eq!(url.host_str(), Some("login.basic.example.com"));
    assert_eq!(
        query_of(&url),
        pairs(&[
            ("audience", "api"),
            ("response_type", "code"),
            ("client_id", "client-1"),
            ("redirect_uri", REDIRECT),
            ("scope", "users.read,users.write,offline"),
            ("state", "st&=?#1"),
            ("access_type", "offline"),
        ])
    );
    // Every value is one query value, whatever it holds.
    assert!(url.as_str().contains("state=st%26%3D%3F%231"), "{url}");
}

#[test]
fn no_scope_parameter_without_scopes_and_authorize_params_cannot_replace_protocol_parameters() {
    let registry = registry_with("connect_basic", |oauth| {
        oauth.scopes.clear();
        oauth.authorize_params.insert("redirect_uri".into(), "https://evil.example/cb".into());
        oauth.authorize_params.insert("state".into(), "fixed".into());
        oauth.authorize_params.insert("response_type".into(), "token".into());
        oauth.authorize_params.insert("scope".into(), "all".into());
    });
    let url = plain_engine(registry).authorize_url(&connecting("connect_basic", &[]), REDIRECT, "st-1", None).unwrap();
    assert_eq!(
        query_of(&url),
        pairs(&[
            ("audience", "api"),
            ("response_type", "code"),
            ("client_id", "client-1"),
            ("redirect_uri", REDIRECT),
            ("state", "st-1"),
            ("access_type", "offline"),
            ("scope", "all"),
        ])
    );
}

#[tokio::test]
async fn the_authorization_url_goes_to_the_overridden_origin() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({}))).await;
    let engine = engine(registry(), &mock);
    let url =
        engine.authorize_url(&connecting("proxy_subdomain", &[("subdomain", "acme")]), REDIRECT, "st", Some(&Pkce::generate())).unwrap();
    assert_eq!(url.origin().ascii_serialization(), mock.url);
    assert_eq!(url.path(), "/oauth/authorize");
    assert_eq!(mock.requests().len(), 0, "building the URL sends nothing");
}

#[test]
fn authorization_urls_that_cannot_be_made() {
    let engine = plain_engine(registry());
    let pkce = Pkce::generate();
    let acme = connecting("proxy_subdomain", &[("subdomain", "acme")]);
    let cases: Vec<(&str, Result<url::Url, RuntimeError>)> = vec![
        ("PKCE wanted, none given", engine.authorize_url(&acme, REDIRECT, "st", None)),
        ("empty state", engine.authorize_url(&acme, REDIRECT, "", Some(&pkce))),
        ("relative redirect", engine.authorize_url(&acme, "/callback", "st", Some(&pkce))),
        ("redirect with a fragment", engine.authorize_url(&acme, "https://app.example.com/cb#x", "st", Some(&pkce))),
        ("redirect not http", engine.authorize_url(&acme, "javascript:alert(1)", "st", Some(&pkce))),
        ("client credentials", engine.authorize_url(&connecting("client_credentials", &[]), REDIRECT, "st", None)),
        ("not OAuth2", engine.authorize_url(&connecting("api_key_header", &[("company_domain", "acme")]), REDIRECT, "st", None)),
        (
            "hostile subdomain",
            engine.authorize_url(&connecting("proxy_subdomain", &[("subdomain", "evil.example/x?")]), REDIRECT, "st", Some(&pkce)),
        ),
        ("no install", engine.authorize_url(&account("connect_basic", &[], &[]), REDIRECT, "st", None)),
        ("unknown integration", engine.authorize_url(&connecting("nope", &[]), REDIRECT, "st", None)),
    ];
    for (case, result) in cases {
        assert_eq!(err(result).kind, ErrorKind::InvalidRequest, "{case}");
    }
    let no_url = plain_engine(registry_with("connect_basic", |oauth| oauth.authorize_url = None));
    let error = err(no_url.authorize_url(&connecting("connect_basic", &[]), REDIRECT, "st", None));
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.contains("authorize_url"), "{}", error.message);
}

// ---------------------------------------------------------------------------------------
// the code exchange

fn token_endpoint() -> impl Fn(&support::Recorded, usize) -> Reply + Send + Sync + 'static {
    |request, _| {
        if request.path != "/oauth/token" {
            return Reply::json(404, json!({}));
        }
        Reply::json(200, json!({ "access_token": "at-new", "refresh_token": "rt-new", "token_type": "Bearer", "expires_in": 7200 }))
    }
}

#[tokio::test]
async fn the_code_exchange_with_pkce_and_the_client_in_the_body() {
    let mock = Mock::start(token_endpoint()).await;
    let engine = engine(registry(), &mock);
    let pkce = Pkce::generate();
    let account = connecting("proxy_subdomain", &[("subdomain", "acme")]);
    let tokens = engine.exchange_code(&account, "code/1+2", REDIRECT, Some(&pkce.verifier)).await.unwrap();
    assert_eq!(tokens.access_token, "at-new");
    assert_eq!(tokens.refresh_token.as_deref(), Some("rt-new"));
    assert!(!tokens.rotated);
    assert_eq!(tokens.expires_at, Some(now() + Duration::from_secs(7200)));

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str(), requests[0].raw_query.as_deref()), ("POST", "/oauth/token", None));
    assert_eq!(requests[0].app_headers(), pairs(&[("accept", "application/json"), ("content-type", "application/x-www-form-urlencoded")]));
    assert_eq!(
        requests[0].form(),
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", "code/1+2"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
            ("client_id", "client-1"),
            ("client_secret", "secret 1:&"),
        ])
    );
}

#[tokio::test]
async fn the_code_exchange_without_pkce_and_the_client_as_basic() {
    let mock = Mock::start(token_endpoint()).await;
    let engine = engine(registry(), &mock);
    let account = connecting("connect_basic", &[]);
    // A verifier given for a definition without `pkce: true` is not sent, as its challenge
    // was not.
    let tokens = engine.exchange_code(&account, "c-1", REDIRECT, Some(&Pkce::generate().verifier)).await.unwrap();
    assert_eq!(tokens.access_token, "at-new");
    let tokens = engine.exchange_code(&account, "c-2", REDIRECT, None).await.unwrap();
    assert_eq!(tokens.refresh_token.as_deref(), Some("rt-new"));

    let requests = mock.requests();
    for (request, code) in requests.iter().zip(["c-1", "c-2"]) {
        assert_eq!(
            request.app_headers(),
            pairs(&[
                ("accept", "application/json"),
                ("authorization", &basic("client-1", "secret 1:&")),
                ("content-type", "application/x-www-form-urlencoded"),
            ])
        );
        assert_eq!(
            request.form(),
            pairs(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("audience", "api")])
        );
    }
}

#[tokio::test]
async fn the_code_exchange_as_json() {
    let mock = Mock::start(token_endpoint()).await;
    let registry = registry_with("connect_basic", |oauth| oauth.token_format = TokenFormat::Json);
    let engine = engine(registry, &mock);
    engine.exchange_code(&connecting("connect_basic", &[]), "c-1", REDIRECT, None).await.unwrap();
    let request = &mock.requests()[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json(), json!({ "grant_type": "authorization_code", "code": "c-1", "redirect_uri": REDIRECT, "audience": "api" }));
}

#[tokio::test]
async fn a_refused_code_needs_reauth_and_a_refused_client_is_an_auth_failure() {
    let mock = Mock::start(|request, _| {
        if request.form().iter().any(|(k, v)| k == "code" && v == "bad-client") {
            return Reply::json(401, json!({ "error": "invalid_client", "error_description": "Client authentication failed" }));
        }
        Reply::json(400, json!({ "error": "invalid_grant", "error_description": "The authorization code has expired" }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = connecting("proxy_subdomain", &[("subdomain", "acme")]);
    let verifier = Pkce::generate().verifier;

    let error = err(engine.exchange_code(&account, "used-code", REDIRECT, Some(&verifier)).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(error.provider_status, Some(400));
    assert_eq!(error.provider_error, Some(json!({ "code": "invalid_grant", "message": "The authorization code has expired" })));
    assert!(error.message.contains("authorization code (invalid_grant)"), "{}", error.message);

    let error = err(engine.exchange_code(&account, "bad-client", REDIRECT, Some(&verifier)).await);
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(mock.requests().len(), 2, "never retried");
}

#[tokio::test]
async fn code_exchanges_that_cannot_be_made_send_nothing() {
    let mock = Mock::start(token_endpoint()).await;
    let engine = engine(registry(), &mock);
    let acme = connecting("proxy_subdomain", &[("subdomain", "acme")]);
    let verifier = Pkce::generate().verifier;
    for (case, result) in [
        ("PKCE wanted, no verifier", engine.exchange_code(&acme, "c", REDIRECT, None).await),
        ("verifier too short", engine.exchange_code(&acme, "c", REDIRECT, Some("short")).await),
        ("empty code", engine.exchange_code(&acme, "", REDIRECT, Some(&verifier)).await),
        ("relative redirect", engine.exchange_code(&acme, "c", "/cb", Some(&verifier)).await),
        ("client credentials", engine.exchange_code(&connecting("client_credentials", &[]), "c", REDIRECT, None).await),
        ("not OAuth2", engine.exchange_code(&connecting("cursor_header", &[]), "c", REDIRECT, None).await),
        ("no install", engine.exchange_code(&account("connect_basic", &[], &[]), "c", REDIRECT, None).await),
    ] {
        assert_eq!(err(result).kind, ErrorKind::InvalidRequest, "{case}");
    }
    assert_eq!(mock.requests().len(), 0);
}
