//! Inbound webhooks through `switchyard_runtime::webhook`: each verification kind accepts a
//! delivery signed as the definition says and refuses a forged, stale or unsigned one, and
//! `events` sees the delivery's headers as `$headers`. Definitions: tests/runtime/definitions/webhook_*.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};
use support::{now, registry, NOW};
use switchyard_registry::Webhooks;
use switchyard_runtime::account::{Connection, Install, Secret};
use switchyard_runtime::error::ErrorKind;
use switchyard_runtime::mapping::EvalOptions;
use switchyard_runtime::webhook::{events, verify, Delivery, WebhookScopes};

fn webhooks(name: &str) -> Webhooks {
    registry().integration(name).unwrap_or_else(|| panic!("no test definition {name}")).webhooks.clone().expect("webhooks")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn mac(key: &[u8], content: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(content);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn install() -> Install {
    Install {
        client_id: Some("fake-client-id".into()),
        client_secret: Some(Secret::new("fake-client-secret")),
        webhook_secret: Some(Secret::new("whsec_fake_test_secret")),
    }
}

fn delivery<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> Delivery<'a> {
    Delivery { method: "POST", url: "https://hooks.example.com/in", headers, body }
}

#[test]
fn a_base64_body_signature_is_checked_and_events_read_the_headers() {
    let hooks = webhooks("webhook_base64");
    let connection = Connection::default();
    let install = install();
    let scopes = WebhookScopes { install: &install, connection: &connection };
    let body = br#"{"id":207119551,"email":"bob@x.com"}"#;
    let signature = STANDARD.encode(mac(b"fake-client-secret", body));
    // Header names arrive in any case; `$headers` holds them lower-cased.
    let good = headers(&[("X-Hmac-Sha256", &signature), ("X-Topic", "customers/delete"), ("X-Webhook-Id", "b54557e4")]);
    verify(&hooks, &delivery(&good, body), &scopes, now()).expect("a correctly signed delivery is accepted");
    let out = events(&hooks, &delivery(&good, body), &EvalOptions::default()).unwrap();
    assert_eq!(out, vec![json!({ "id": "b54557e4", "type": "customers/delete", "record_id": "207119551" })]);

    let tampered = br#"{"id":207119552,"email":"bob@x.com"}"#;
    let error = verify(&hooks, &delivery(&good, tampered), &scopes, now()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    assert!(error.message.contains("signature does not match"), "{}", error.message);

    let unsigned = headers(&[("X-Topic", "customers/delete")]);
    let error = verify(&hooks, &delivery(&unsigned, body), &scopes, now()).unwrap_err();
    assert!(error.message.contains("no `X-Hmac-Sha256` header"), "{}", error.message);

    let garbage = headers(&[("X-Hmac-Sha256", "not base64 at all!")]);
    assert_eq!(verify(&hooks, &delivery(&garbage, body), &scopes, now()).unwrap_err().kind, ErrorKind::Auth);

    let no_secret = Install::default();
    let error = verify(&hooks, &delivery(&good, body), &WebhookScopes { install: &no_secret, connection: &connection }, now()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.contains("`install.client_secret` is not set"), "{}", error.message);
}

#[test]
fn a_key_value_signature_with_a_timestamp_accepts_any_v1_and_refuses_a_stale_one() {
    let hooks = webhooks("webhook_key_value");
    let connection = Connection::default();
    let install = install();
    let scopes = WebhookScopes { install: &install, connection: &connection };
    let body = br#"{"id":"evt_1","type":"customer.updated"}"#;
    let sign = |t: u64| hex(&mac(b"whsec_fake_test_secret", format!("{t}.{}", std::str::from_utf8(body).unwrap()).as_bytes()));
    // During a secret rotation two v1 values come; one matching is enough.
    let header = format!("t={NOW},v1={},v1={},v0=abc", hex(&[0; 32]), sign(NOW));
    let good = headers(&[("Signature", &header)]);
    verify(&hooks, &delivery(&good, body), &scopes, now()).unwrap();
    assert_eq!(
        events(&hooks, &delivery(&good, body), &EvalOptions::default()).unwrap(),
        vec![json!({ "id": "evt_1", "type": "customer.updated" })]
    );

    let old = NOW - 301;
    let stale = headers(&[("Signature", &format!("t={old},v1={}", sign(old)))]);
    let error = verify(&hooks, &delivery(&stale, body), &scopes, now()).unwrap_err();
    assert!(error.message.contains("more than 300 s from now"), "{}", error.message);

    // The timestamp is signed: moving it breaks the signature.
    let moved = headers(&[("Signature", &format!("t={},v1={}", NOW + 1, sign(NOW)))]);
    assert!(verify(&hooks, &delivery(&moved, body), &scopes, now()).is_err());

    let wrong_shape = br#"{"bad_shape":true}"#;
    let error = events(&hooks, &delivery(&good, wrong_shape), &EvalOptions::default()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Mapping);
    assert!(
        error.message.contains("must return an array") && error.message.contains("webhook_key_value/integration.yaml:"),
        "{}",
        error.message
    );

    let error = events(&hooks, &delivery(&good, b"<xml/>"), &EvalOptions::default()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.contains("not JSON"), "{}", error.message);
}

#[test]
fn standard_webhooks_are_checked_with_the_connections_secret() {
    let hooks = webhooks("webhook_standard");
    let key = b"fake standard webhooks key 0123";
    let connection: Connection = [("signing_secret", format!("whsec_{}", STANDARD.encode(key)))].into_iter().collect();
    let install = install();
    let scopes = WebhookScopes { install: &install, connection: &connection };
    let body = br#"{"type":"contact.created"}"#;
    let stamp = NOW.to_string();
    let signature = STANDARD.encode(mac(key, format!("msg_1.{stamp}.{}", std::str::from_utf8(body).unwrap()).as_bytes()));
    let good =
        headers(&[("webhook-id", "msg_1"), ("webhook-timestamp", &stamp), ("webhook-signature", &format!("v1,AAAA v1,{signature}"))]);
    verify(&hooks, &delivery(&good, body), &scopes, now()).unwrap();
    assert_eq!(
        events(&hooks, &delivery(&good, body), &EvalOptions::default()).unwrap(),
        vec![json!({ "id": "msg_1", "type": "contact.created" })]
    );
    let later = now() + Duration::from_secs(301);
    assert!(later > UNIX_EPOCH);
    assert!(verify(&hooks, &delivery(&good, body), &scopes, later).unwrap_err().message.contains("from now"));
    let forged = headers(&[("webhook-id", "msg_2"), ("webhook-timestamp", &stamp), ("webhook-signature", &format!("v1,{signature}"))]);
    assert_eq!(verify(&hooks, &delivery(&forged, body), &scopes, now()).unwrap_err().kind, ErrorKind::Auth);
}

#[test]
fn basic_credentials_must_match_the_connections() {
    let hooks = webhooks("webhook_basic");
    let connection: Connection = [("webhook_user", "hook"), ("webhook_password", "fake-password")].into_iter().collect();
    let install = install();
    let scopes = WebhookScopes { install: &install, connection: &connection };
    let body = br#"{"meta":{"action":"change"}}"#;
    let good = headers(&[("Authorization", &format!("Basic {}", STANDARD.encode("hook:fake-password")))]);
    verify(&hooks, &delivery(&good, body), &scopes, now()).unwrap();
    let bad = headers(&[("Authorization", &format!("Basic {}", STANDARD.encode("hook:guess")))]);
    assert_eq!(verify(&hooks, &delivery(&bad, body), &scopes, now()).unwrap_err().kind, ErrorKind::Auth);
    let none = headers(&[]);
    assert!(verify(&hooks, &delivery(&none, body), &scopes, now()).unwrap_err().message.contains("no `authorization` header"));
}

#[test]
fn an_iso_8601_timestamp_is_signed_as_received_and_bounded_by_the_tolerance() {
    let hooks = webhooks("webhook_iso_timestamp");
    let connection: Connection = [("signing_secret", "fake-signing-secret")].into_iter().collect();
    let install = install();
    let scopes = WebhookScopes { install: &install, connection: &connection };
    let body = br#"{"id":"cbe4028c","type":"zen:event-type:ticket.status_changed"}"#;
    let sign =
        |stamp: &str| STANDARD.encode(mac(b"fake-signing-secret", format!("{stamp}{}", std::str::from_utf8(body).unwrap()).as_bytes()));
    // NOW is 2024-06-01T09:00:00Z; the text is signed exactly as received, offset included.
    for stamp in ["2024-06-01T09:00:00Z", "2024-06-01T11:04:59+02:00", "2024-06-01T08:55:00.250Z"] {
        let good = headers(&[("X-Signature", &sign(stamp)), ("X-Signature-Timestamp", stamp)]);
        verify(&hooks, &delivery(&good, body), &scopes, now()).unwrap_or_else(|e| panic!("{stamp}: {e}"));
    }
    let good = headers(&[("X-Signature", &sign("2024-06-01T09:00:00Z")), ("X-Signature-Timestamp", "2024-06-01T09:00:00Z")]);
    assert_eq!(
        events(&hooks, &delivery(&good, body), &EvalOptions::default()).unwrap(),
        vec![json!({ "id": "cbe4028c", "type": "zen:event-type:ticket.status_changed" })]
    );

    // 301 s either way is too far.
    for stamp in ["2024-06-01T08:54:59Z", "2024-06-01T09:05:01Z"] {
        let stale = headers(&[("X-Signature", &sign(stamp)), ("X-Signature-Timestamp", stamp)]);
        let error = verify(&hooks, &delivery(&stale, body), &scopes, now()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Auth);
        assert!(error.message.contains("more than 300 s from now"), "{stamp}: {}", error.message);
    }
    // The timestamp is signed: the same instant written differently breaks the signature.
    let moved = headers(&[("X-Signature", &sign("2024-06-01T09:00:00Z")), ("X-Signature-Timestamp", "2024-06-01T09:00:00+00:00")]);
    assert_eq!(verify(&hooks, &delivery(&moved, body), &scopes, now()).unwrap_err().kind, ErrorKind::Auth);
    // Epoch seconds are not an ISO 8601 date-time.
    let epoch = NOW.to_string();
    let unreadable = headers(&[("X-Signature", &sign(&epoch)), ("X-Signature-Timestamp", &epoch)]);
    let error = verify(&hooks, &delivery(&unreadable, body), &scopes, now()).unwrap_err();
    assert!(error.message.contains("not readable"), "{}", error.message);
    // No timestamp header at all.
    let missing = headers(&[("X-Signature", &sign(""))]);
    assert_eq!(verify(&hooks, &delivery(&missing, body), &scopes, now()).unwrap_err().kind, ErrorKind::Auth);
}
