//! Access tokens: JWT (RFC 7519) signed with HS256, verified by the `jsonwebtoken` crate.
//!
//! A token carries `exp` (unix seconds, required), `sub` (optional, logged), and the topic
//! patterns it may `subscribe` to and `publish` to (`*` matches any run of characters, see
//! [`pattern_matches`](crate::pattern_matches)). The hub takes it from
//! `Authorization: Bearer <token>` or, for clients that cannot set headers (`EventSource`,
//! browser `WebSocket`), from the `token` query parameter.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::topic::pattern_matches;

/// The claims of a hub token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Expiry, in seconds since the Unix epoch. Required; checked without leeway.
    pub exp: u64,
    /// Who the token was issued to (logged, not checked).
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
            sub: None,
            subscribe: Vec::new(),
            publish: Vec::new(),
        }
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
    /// The token has expired.
    #[error("access token expired")]
    Expired,
    /// The token is malformed, not HS256, badly signed, or lacks `exp`.
    #[error("invalid access token: {0}")]
    Invalid(String),
}

/// Verifies hub tokens with one HS256 secret.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for tokens signed with `secret`.
    #[must_use]
    pub fn new(secret: &[u8]) -> Verifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        Verifier {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks `token`'s signature, algorithm (HS256 only) and expiry, and returns its claims.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            }),
        }
    }
}

/// Signs `claims` with `secret` (HS256): the token `sluice token` prints, and what tests and
/// embedding applications use to mint their own.
///
/// # Errors
/// [`TokenError::Invalid`] if the claims cannot be encoded (does not happen with these claim
/// types, but the JWT library's signature allows it).
pub fn mint_token(secret: &[u8], claims: &Claims) -> Result<String, TokenError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| TokenError::Invalid(e.to_string()))
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
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
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
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "x", "subscribe": ["*"]}),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(matches!(v.verify(&no_exp), Err(TokenError::Invalid(_))));
        // Another algorithm with the same secret: refused (algorithm pinned to HS256).
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &Claims::new(now() + 60),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(matches!(v.verify(&hs512), Err(TokenError::Invalid(_))));
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
