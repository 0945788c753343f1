//! HS256 JSON Web Tokens, the format of both UAA access tokens and registry tokens.
//!
//! Only HS256 is needed, and it is a few lines over `hmac`/`sha2`; a general JWT crate would
//! pull in RSA and elliptic-curve stacks the sandbox never uses.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs `claims` (a JSON object, keys kept in insertion order) with `key`.
pub fn sign(key: &[u8], claims: &Map<String, Value>) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Verifies the signature and returns the claims. Expiry is the caller's decision.
pub fn verify(key: &[u8], token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(format!("{}.{}", token.split('.').next()?, payload).as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?)
        .ok()?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_tamper() {
        let claims = json!({"jti": "abc", "iss": "registry.example"});
        let token = sign(b"k", claims.as_object().unwrap());
        assert_eq!(verify(b"k", &token).unwrap()["jti"], "abc");
        assert!(verify(b"other", &token).is_none());
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(verify(b"k", &tampered).is_none());
        // Payload key order is preserved, as in IBM's tokens (`jti` before `iss`).
        let payload = token.split('.').nth(1).unwrap();
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(decoded, r#"{"jti":"abc","iss":"registry.example"}"#);
    }
}
