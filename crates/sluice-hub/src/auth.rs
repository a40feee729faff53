//! Access tokens: JWT (RFC 7519) signed with HS256 (see [`crate::jwt`] for the codec).
//!
//! A token carries `exp` (unix seconds, required; the token is refused from that second on),
//! `nbf` (optional; refused before it), `sub` (optional, logged), and the topic
//! patterns it may `subscribe` to and `publish` to (`*` matches any run of characters, see
//! [`pattern_matches`](crate::pattern_matches)). The hub takes it from
//! `Authorization: Bearer <token>` or, for clients that cannot set headers (`EventSource`,
//! browser `WebSocket`), from the `token` query parameter.

use std::time::{SystemTime, UNIX_EPOCH};

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::jwt;

use crate::topic::pattern_matches;

/// The claims of a hub token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Expiry, in seconds since the Unix epoch. Required; checked without leeway: the token
    /// is refused from this second on (RFC 7519 §4.1.4), and sessions opened with it end then.
    #[serde(deserialize_with = "jwt::numeric_date")]
    pub exp: u64,
    /// Not before, in seconds since the Unix epoch: refused until then (RFC 7519 §4.1.5).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "jwt::opt_numeric_date"
    )]
    pub nbf: Option<u64>,
    /// Issued at (informational, not checked).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "jwt::opt_numeric_date"
    )]
    pub iat: Option<u64>,
    /// Who the token was issued to (logged with each session it opens, not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Topic patterns the holder may subscribe to (WebSocket, SSE, long-poll).
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Topic patterns the holder may publish to (`POST /publish`, WebSocket text frames).
    #[serde(default)]
    pub publish: Vec<String>,
}

impl Claims {
    /// Claims expiring at `exp` (unix seconds) with no subject and no permissions.
    #[must_use]
    pub fn new(exp: u64) -> Claims {
        Claims {
            exp,
            nbf: None,
            iat: None,
            sub: None,
            subscribe: Vec::new(),
            publish: Vec::new(),
        }
    }

    /// Sets `nbf`: not valid before `nbf` (unix seconds).
    #[must_use]
    pub fn not_before(mut self, nbf: u64) -> Claims {
        self.nbf = Some(nbf);
        self
    }

    /// Sets `iat`, the time of issue (unix seconds).
    #[must_use]
    pub fn issued_at(mut self, iat: u64) -> Claims {
        self.iat = Some(iat);
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, sub: impl Into<String>) -> Claims {
        self.sub = Some(sub.into());
        self
    }

    /// Adds a subscribe pattern.
    #[must_use]
    pub fn subscribe(mut self, pattern: impl Into<String>) -> Claims {
        self.subscribe.push(pattern.into());
        self
    }

    /// Adds a publish pattern.
    #[must_use]
    pub fn publish(mut self, pattern: impl Into<String>) -> Claims {
        self.publish.push(pattern.into());
        self
    }

    /// Whether these claims allow `action` on `topic`.
    #[must_use]
    pub fn allows(&self, action: Action, topic: &str) -> bool {
        let patterns = match action {
            Action::Subscribe => &self.subscribe,
            Action::Publish => &self.publish,
        };
        patterns.iter().any(|p| pattern_matches(p, topic))
    }
}

/// What a request wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read events (any transport).
    Subscribe,
    /// Append events.
    Publish,
}

/// Why a token was refused (the request gets 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token in the request.
    #[error("no access token (use Authorization: Bearer or ?token=)")]
    Missing,
    /// The token has expired (`exp` is now or past).
    #[error("access token expired")]
    Expired,
    /// The token is not valid yet (`nbf` is in the future).
    #[error("access token not valid yet (nbf)")]
    NotYetValid,
    /// The token is malformed, not HS256, badly signed, or lacks `exp`.
    #[error("invalid access token: {0}")]
    Invalid(String),
}

/// Verifies hub tokens with one HS256 secret.
#[derive(Clone)]
pub struct Verifier {
    key: hmac::Key,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// When a session opened with `claims` must end: at its `exp` (never without
/// authentication, nor for an `exp` beyond what the clocks can represent).
pub(crate) fn session_deadline(claims: Option<&Claims>) -> Option<tokio::time::Instant> {
    let exp = claims?.exp;
    let left = UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(exp))?
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::Instant::now().checked_add(left)
}

/// Resolves at `deadline`; never without one. The timer is boxed, and only with a deadline:
/// every subscriber's session holds this future, most of them without a token expiry (an
/// inline `Sleep` is 120 bytes).
pub(crate) fn until(deadline: Option<tokio::time::Instant>) -> impl Future<Output = ()> {
    let timer = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
    async move {
        match timer {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Verifier {
    /// A verifier for tokens signed with `secret`.
    #[must_use]
    pub fn new(secret: &[u8]) -> Verifier {
        Verifier {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Checks `token`'s form, algorithm (HS256 only), signature and times, and returns its
    /// claims.
    ///
    /// # Errors
    /// [`TokenError::Expired`], [`TokenError::NotYetValid`] or [`TokenError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, unix_now())
    }

    /// [`Verifier::verify`] at the time `now` (unix seconds): no leeway, `exp <= now` is
    /// expired and `nbf > now` not yet valid.
    ///
    /// # Errors
    /// As [`Verifier::verify`].
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let payload = jwt::verify(&self.key, token)?;
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|e| TokenError::Invalid(format!("bad claims: {e}")))?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// Signs `claims` with `secret` (HS256): the token `sluice token` prints, and what tests and
/// embedding applications use to mint their own.
///
/// # Errors
/// [`TokenError::Invalid`] if the token would be longer than a hub accepts (8 KiB: too many
/// or too long patterns) — a minted token always verifies while it is valid.
pub fn mint_token(secret: &[u8], claims: &Claims) -> Result<String, TokenError> {
    let json = serde_json::to_vec(claims).map_err(|e| TokenError::Invalid(e.to_string()))?;
    let token = jwt::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &json);
    if token.len() > jwt::MAX_TOKEN_LEN {
        return Err(TokenError::Invalid(format!(
            "the token would be {} bytes, over the {} a hub accepts",
            token.len(),
            jwt::MAX_TOKEN_LEN
        )));
    }
    Ok(token)
}

/// The request's token: `Authorization: Bearer <t>` first, else the `token` query parameter
/// (percent-decoded; JWTs need no escaping, so this only matters for odd clients).
pub(crate) fn token_from(authorization: Option<&str>, query_token: Option<&str>) -> Option<String> {
    if let Some(v) = authorization {
        let v = v.trim();
        if let Some((scheme, rest)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !rest.trim().is_empty()
        {
            return Some(rest.trim().to_owned());
        }
    }
    query_token
        .filter(|t| !t.is_empty())
        .and_then(crate::query::percent_decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        unix_now()
    }

    #[test]
    fn session_deadlines_from_any_exp() {
        // An `exp` past what SystemTime can hold (a signed token may say 1e20, read as
        // u64::MAX) is no deadline, not a panic.
        assert_eq!(session_deadline(Some(&Claims::new(u64::MAX))), None);
        assert_eq!(session_deadline(Some(&Claims::new(1 << 63))), None);
        assert_eq!(session_deadline(None), None);
        let soon = session_deadline(Some(&Claims::new(now() + 60))).unwrap();
        let left = soon - tokio::time::Instant::now();
        assert!(
            left > std::time::Duration::from_secs(55) && left <= std::time::Duration::from_secs(61)
        );
        // An `exp` in the past ends the session now.
        let past = session_deadline(Some(&Claims::new(1))).unwrap();
        assert!(past <= tokio::time::Instant::now());
    }

    #[test]
    fn round_trip_and_patterns() {
        let claims = Claims::new(now() + 60)
            .subject("alice")
            .subscribe("news.*")
            .publish("chat");
        let t = mint_token(b"s3cret", &claims).unwrap();
        let v = Verifier::new(b"s3cret");
        let got = v.verify(&t).unwrap();
        assert_eq!(got, claims);
        assert!(got.allows(Action::Subscribe, "news.eu"));
        assert!(!got.allows(Action::Subscribe, "chat"));
        assert!(got.allows(Action::Publish, "chat"));
        assert!(!got.allows(Action::Publish, "news.eu"));
    }

    #[test]
    fn refusals() {
        let v = Verifier::new(b"s3cret");
        let expired = mint_token(b"s3cret", &Claims::new(now() - 5)).unwrap();
        assert_eq!(v.verify(&expired), Err(TokenError::Expired));
        let other = mint_token(b"other", &Claims::new(now() + 60)).unwrap();
        assert!(matches!(v.verify(&other), Err(TokenError::Invalid(_))));
        assert!(matches!(v.verify("garbage"), Err(TokenError::Invalid(_))));
        // No `exp`: refused.
        let no_exp = jwt::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"s3cret"),
            br#"{"sub":"x","subscribe":["*"]}"#,
        );
        assert!(matches!(v.verify(&no_exp), Err(TokenError::Invalid(_))));
    }

    /// RFC 7519 §4.1.4: "the current date/time MUST be before the expiration date/time";
    /// §4.1.5: "MUST be after or equal to the not-before date/time". No leeway.
    #[test]
    fn exp_and_nbf_edges() {
        let v = Verifier::new(b"k");
        let t = |c: &Claims| mint_token(b"k", c).unwrap();
        assert_eq!(
            v.verify_at(&t(&Claims::new(100)), 100),
            Err(TokenError::Expired)
        );
        assert!(v.verify_at(&t(&Claims::new(100)), 99).is_ok());
        let nbf = Claims::new(200).not_before(150);
        assert_eq!(v.verify_at(&t(&nbf), 149), Err(TokenError::NotYetValid));
        assert!(v.verify_at(&t(&nbf), 150).is_ok());
        // NumericDate may be non-integer (RFC 7519 §2); negative is malformed.
        let sign =
            |json: &str| jwt::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"k"), json.as_bytes());
        assert_eq!(v.verify_at(&sign(r#"{"exp":100.9}"#), 99).unwrap().exp, 100);
        assert_eq!(
            v.verify_at(&sign(r#"{"exp":100.9}"#), 100),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            v.verify_at(&sign(r#"{"exp":-1}"#), 0),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            v.verify_at(&sign(r#"{"exp":"100"}"#), 0),
            Err(TokenError::Invalid(_))
        ));
    }

    /// A token a hub would refuse for its length is not minted (a fuzz find: minted tokens
    /// over 8 KiB failed to verify).
    #[test]
    fn oversized_claims_are_not_minted() {
        let mut c = Claims::new(now() + 60);
        for i in 0..200 {
            c = c.subscribe(format!("topic-{i}-{}", "x".repeat(40)));
        }
        assert!(matches!(mint_token(b"k", &c), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn token_sources() {
        assert_eq!(token_from(Some("Bearer abc"), None).as_deref(), Some("abc"));
        assert_eq!(
            token_from(Some("bearer  abc "), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from(Some("Basic abc"), Some("q")).as_deref(),
            Some("q")
        );
        assert_eq!(token_from(None, Some("a%2Eb")).as_deref(), Some("a.b"));
        assert_eq!(token_from(None, Some("")), None);
        assert_eq!(token_from(None, None), None);
    }
}
