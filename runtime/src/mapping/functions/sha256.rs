//! `$sha256(text, encoding?)`

use super::args::{arg, arity, fail, mismatch, opt_str};
use super::codes::BAD_ARGUMENT;
use super::{fails, ok, Call, Function, Twin};
use base64::Engine as _;
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;
use sha2::{Digest, Sha256};

pub(super) const FUNCTION: Function = Function {
    name: "sha256",
    signature: "$sha256(text, encoding?)",
    summary: "The SHA-256 digest of a string's UTF-8 bytes.",
    doc: "`encoding` is `\"hex\"` (the default, lowercase), `\"base64\"` or `\"base64url\"` (no padding); \
anything else is `F0101`. Undefined gives undefined; a non-string is `T0410` (write `$string(x)` to hash \
other values).",
    examples: &[
        ok("$sha256(\"abc\")", "{}", r#""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#),
        ok("$sha256(email, \"base64\")", r#"{"email": "ada@x.com"}"#, r#""/izv421upm6S2XPAXRwD1duNrm4t6O3G2+KfzzYNZcY=""#),
        ok("$sha256(\"\", \"base64url\")", "{}", r#""47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU""#),
        fails("$sha256(\"abc\", \"base32\")", "{}", "F0101"),
        fails("$sha256(12)", "{}", "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 2)?;
    let encoding = opt_str(args, 1, FUNCTION.name)?.unwrap_or("hex");
    match arg(args, 0) {
        JValue::Undefined => Ok(JValue::Undefined),
        JValue::String(text) => Ok(JValue::string(encode(&Sha256::digest(text.as_bytes()), encoding, FUNCTION.name)?)),
        _ => Err(mismatch(FUNCTION.name, 1, "be a string")),
    }
}

/// Digest bytes as `hex`, `base64` or `base64url`. Shared with `$hmac`.
pub(super) fn encode(bytes: &[u8], encoding: &str, name: &str) -> Result<String, EvaluatorError> {
    match encoding {
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        "base64" => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
        "base64url" => Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
        other => Err(fail(BAD_ARGUMENT, format!("${name} has no encoding {other:?} (use \"hex\", \"base64\" or \"base64url\")"))),
    }
}
