//! JSON Web Tokens (RFC 7519) in the JWS compact serialization (RFC 7515 §7.1), signed with
//! HS256 (RFC 7518 §3.2) — the one algorithm a hub takes. The HMAC is `ring`'s (already in the
//! build for TLS; verification compares in constant time); this module only splits, decodes
//! and checks the header.
//!
//! Why not the `jsonwebtoken` crate: its backends are RustCrypto, which pulls in `rsa`
//! (RUSTSEC-2023-0071, no fixed release) for a hub that never sees an RSA key, or aws-lc (a
//! CMake build); its third option, a custom provider, is process-global, so a hub embedded in
//! an application would decide which algorithms that application's own tokens may use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::auth::TokenError;

/// Longest token accepted, in bytes (a hub token is a few hundred bytes; the request head
/// limit bounds it anyway).
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The protected header every hub token carries.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims` (a JSON object) with HS256: `base64url(header).base64url(claims).base64url(mac)`.
pub(crate) fn sign(key: &hmac::Key, claims: &[u8]) -> String {
    let mut out = URL_SAFE_NO_PAD.encode(HEADER);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut out);
    let tag = hmac::sign(key, out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
    out
}

/// Checks `token`'s form, header and signature and returns its payload (the claims JSON, not
/// yet parsed or time-checked).
///
/// Refused as [`TokenError::Invalid`]: over [`MAX_TOKEN_LEN`]; not three base64url (unpadded,
/// canonical) parts; a header that is not a JSON object with `"alg": "HS256"` (so `none` and
/// every other algorithm, RFC 8725 §3.1) or that has `crit` (RFC 7515 §4.1.11: no extension is
/// understood here); a bad signature. The signature is checked before the payload is decoded.
pub(crate) fn verify(key: &hmac::Key, token: &str) -> Result<Vec<u8>, TokenError> {
    let invalid = |why: &str| TokenError::Invalid(why.to_owned());
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a compact JWS (three dot-separated parts)"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(h64)
        .map_err(|_| invalid("header is not base64url"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|_| invalid("header is not a JSON object"))?;
    match header.get("alg").and_then(serde_json::Value::as_str) {
        Some("HS256") => {}
        Some(_) => return Err(invalid("algorithm is not HS256")),
        None => return Err(invalid("header has no alg")),
    }
    if header.contains_key("crit") {
        return Err(invalid("header has critical extensions"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| invalid("signature is not base64url"))?;
    let signed = &token[..h64.len() + 1 + p64.len()];
    hmac::verify(key, signed.as_bytes(), &signature).map_err(|_| invalid("bad signature"))?;
    URL_SAFE_NO_PAD
        .decode(p64)
        .map_err(|_| invalid("payload is not base64url"))
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, a JSON number (integer or not, never
/// negative), taken as whole seconds.
pub(crate) fn numeric_date<'de, D>(d: D) -> Result<u64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let n: serde_json::Number = serde::Deserialize::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.is_finite() => Ok(f.floor().min(u64::MAX as f64) as u64),
        _ => Err(serde::de::Error::custom(
            "a NumericDate is a non-negative number",
        )),
    }
}

/// [`numeric_date`] for an optional claim.
pub(crate) fn opt_numeric_date<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    numeric_date(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &[u8]) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, s)
    }

    /// RFC 7515 Appendix A.1: the HS256 example verifies byte for byte.
    #[test]
    fn rfc7515_a1_example() {
        let k = URL_SAFE_NO_PAD
            .decode(
                "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
            )
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let payload = verify(&key(&k), token).unwrap();
        assert!(payload.starts_with(br#"{"iss":"joe","#));
        // One flipped signature bit: refused.
        let bad = token.replace("jXk", "jXl");
        assert!(verify(&key(&k), &bad).is_err());
    }

    #[test]
    fn sign_then_verify() {
        let t = sign(&key(b"k"), br#"{"exp":1}"#);
        assert_eq!(verify(&key(b"k"), &t).unwrap(), br#"{"exp":1}"#);
        assert!(verify(&key(b"other"), &t).is_err());
    }

    #[test]
    fn refused_forms() {
        let k = key(b"k");
        let good = sign(&k, b"{}");
        let (h, rest) = good.split_once('.').unwrap();
        let enc = |j: &str| URL_SAFE_NO_PAD.encode(j);
        let resign = |header: &str| {
            let mut t = format!("{}.{}", enc(header), rest.split_once('.').unwrap().0);
            let tag = hmac::sign(&k, t.as_bytes());
            t.push('.');
            t.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
            t
        };
        for t in [
            String::new(),
            "a.b".into(),
            format!("{good}.x"),
            format!("{h}=.{rest}"),
            // alg none with an empty signature (RFC 8725 §2.1), and other algorithms.
            format!("{}.{}.", enc(r#"{"alg":"none"}"#), enc("{}")),
            resign(r#"{"alg":"none"}"#),
            resign(r#"{"alg":"HS512"}"#),
            resign(r#"{"alg":"hs256"}"#),
            resign(r#"{"typ":"JWT"}"#),
            resign(r#"{"alg":"HS256","crit":["exp"]}"#),
            resign(r#"["alg","HS256"]"#),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(verify(&k, &t).is_err(), "{t:?}");
        }
        // A header with extra members is fine.
        assert!(verify(&k, &resign(r#"{"alg":"HS256","kid":"1"}"#)).is_ok());
    }
}
