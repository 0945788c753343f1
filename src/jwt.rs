//! Reading JWT claims without verifying them: the client holds no key, and the claims it reads
//! (`jti`, `user_name`) are only identifiers to show or record, never trusted for access.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes a JWT's payload without verifying it; `None` if it is not a JWT with a JSON object.
pub fn claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// One string claim.
pub fn string_claim(token: &str, name: &str) -> Option<String> {
    claims(token)?.get(name)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jti_from_ibm_sample_shape() {
        // Header and payload of the shape IBM documents; signature irrelevant.
        let payload = URL_SAFE_NO_PAD
            .encode(r#"{"jti":"637b3d8c-a087-5af9-a636-16e7efc70967","iss":"registry.x"}"#);
        let token = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.sig");
        assert_eq!(
            string_claim(&token, "jti").as_deref(),
            Some("637b3d8c-a087-5af9-a636-16e7efc70967")
        );
        assert_eq!(string_claim(&token, "nope"), None);
        assert!(claims("not-a-jwt").is_none());
        let array = URL_SAFE_NO_PAD.encode("[1]");
        assert!(claims(&format!("h.{array}.s")).is_none());
    }
}
