//! `$hmac(algorithm, key, message, encoding?)`

use super::args::{arity, fail, opt_str, req_str};
use super::codes::BAD_ARGUMENT;
use super::sha256::encode;
use super::{fails, ok, Call, Function, Twin};
use hmac::{Hmac, Mac};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;
use sha2::{Sha256, Sha384, Sha512};

pub(super) const FUNCTION: Function = Function {
    name: "hmac",
    signature: "$hmac(algorithm, key, message, encoding?)",
    summary: "The HMAC of a message, keyed with a string.",
    doc: "`algorithm` is `\"sha256\"`, `\"sha384\"` or `\"sha512\"`. `key` and `message` are strings, used as \
their UTF-8 bytes (a key given in hex or base64 is not decoded first). `encoding` is `\"hex\"` (the default, \
lowercase), `\"base64\"` or `\"base64url\"` (no padding). An unknown algorithm or encoding is `F0101`; a \
missing or non-string argument is `T0410`. Webhook signatures are verified by the definition's `verify` \
block, not by mappings; this is for the rare provider that wants a signed value inside a request.",
    examples: &[
        ok(
            "$hmac(\"sha256\", \"key\", \"The quick brown fox jumps over the lazy dog\")",
            "{}",
            r#""f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8""#,
        ),
        ok("$hmac(\"sha256\", secret, method & path & body, \"base64\")", r#"{"secret": "s3cr3t", "method": "POST", "path": "/webhooks", "body": "{}"}"#, r#""D1saXll/9MpYb+hwv26Xj3TULnngbxm8Na5foKoACJU=""#),
        fails("$hmac(\"md5\", \"k\", \"m\")", "{}", "F0101"),
        fails("$hmac(\"sha256\", \"k\")", "{}", "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 3, 4)?;
    let algorithm = req_str(args, 0, FUNCTION.name)?;
    let key = req_str(args, 1, FUNCTION.name)?.as_bytes();
    let message = req_str(args, 2, FUNCTION.name)?.as_bytes();
    let encoding = opt_str(args, 3, FUNCTION.name)?.unwrap_or("hex");
    let digest = match algorithm {
        "sha256" => mac::<Hmac<Sha256>>(key, message),
        "sha384" => mac::<Hmac<Sha384>>(key, message),
        "sha512" => mac::<Hmac<Sha512>>(key, message),
        other => return Err(fail(BAD_ARGUMENT, format!("$hmac has no algorithm {other:?} (use \"sha256\", \"sha384\" or \"sha512\")"))),
    };
    Ok(JValue::string(encode(&digest, encoding, FUNCTION.name)?))
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}
