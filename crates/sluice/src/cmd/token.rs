//! `sluice token`: mint a JWT (HS256) for a hub started with `--auth-secret`.
//!
//! Claims: `exp` (now + `--ttl`), `iat`, `sub` (optional), `subscribe` and `publish` (lists of
//! topic patterns where `*` matches any run of characters). The token goes to stdout alone, so
//! `TOKEN=$(sluice token ...)` works.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_hub::{Claims, mint_token};

/// Arguments of `sluice token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The secret must be the hub's --auth-secret (or SLUICE_AUTH_SECRET). A topic pattern is a
topic name where `*` matches any run of characters: `news`, `chat.*`, `*`.

Examples:
  sluice token --secret s3cret --sub alice --subscribe 'chat.*' --publish chat.lobby
  sluice token --secret s3cret --subscribe '*' --ttl 10m
  TOKEN=$(SLUICE_AUTH_SECRET=s3cret sluice token --publish news)
  sluice pub http://127.0.0.1:8080/publish/news hello --token \"$TOKEN\"
  sluice sub \"http://127.0.0.1:8080/sse/news?token=$TOKEN\"")]
pub(crate) struct TokenArgs {
    /// The hub's HS256 secret (default: the SLUICE_AUTH_SECRET environment variable).
    #[arg(long, env = "SLUICE_AUTH_SECRET", hide_env_values = true)]
    secret: String,
    /// The `sub` claim: who the token is for (the hub logs it with each session the token
    /// opens, at debug level).
    #[arg(long = "sub")]
    subject: Option<String>,
    /// A topic pattern the token may subscribe to (repeat for more).
    #[arg(long, value_parser = parse_pattern)]
    subscribe: Vec<String>,
    /// A topic pattern the token may publish to (repeat for more).
    #[arg(long, value_parser = parse_pattern)]
    publish: Vec<String>,
    /// Lifetime: a number with a unit s, m, h or d (e.g. 90s, 10m, 1h, 7d).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: Duration,
}

/// A topic pattern: topic characters `[A-Za-z0-9._-]` and `*`, 1 to 128 bytes.
fn parse_pattern(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 128 {
        return Err("a topic pattern has 1 to 128 characters".into());
    }
    match s
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*')))
    {
        Some(c) => Err(format!(
            "{c:?} cannot appear in a topic pattern (allowed: A-Z a-z 0-9 . _ - *)"
        )),
        None => Ok(s.to_owned()),
    }
}

/// `90s`, `10m`, `1h`, `7d` (a bare number is seconds).
fn parse_ttl(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 10m, 1h or 7d"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("unknown unit {unit:?} (use s, m, h or d)")),
    };
    match secs {
        Some(0) => Err("the lifetime must be above zero".into()),
        // Ten years: beyond that `exp` is not a useful bound.
        Some(s) if s <= 10 * 365 * 86_400 => Ok(Duration::from_secs(s)),
        _ => Err("the lifetime is limited to 10 years".into()),
    }
}

/// The claims for `now` (seconds since the Unix epoch).
fn claims(a: &TokenArgs, now: u64) -> Claims {
    let mut c = Claims::new(now + a.ttl.as_secs()).issued_at(now);
    if let Some(s) = &a.subject {
        c = c.subject(s);
    }
    for p in &a.subscribe {
        c = c.subscribe(p);
    }
    for p in &a.publish {
        c = c.publish(p);
    }
    c
}

pub(crate) fn run(a: TokenArgs) -> i32 {
    if a.secret.is_empty() {
        eprintln!("sluice token: the secret is empty (--secret or SLUICE_AUTH_SECRET)");
        return 2;
    }
    if a.subscribe.is_empty() && a.publish.is_empty() {
        eprintln!(
            "sluice token: warning: no --subscribe or --publish pattern: this token allows nothing"
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match mint_token(a.secret.as_bytes(), &claims(&a, now)) {
        Ok(t) => {
            println!("{t}");
            0
        }
        Err(e) => {
            eprintln!("sluice token: cannot sign: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_hub::{Action, TokenError, Verifier};

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("-1h").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
        assert!(parse_ttl("3651d").is_err());
    }

    #[test]
    fn patterns() {
        assert!(parse_pattern("chat.*").is_ok());
        assert!(parse_pattern("*").is_ok());
        assert!(parse_pattern("a/b").is_err());
        assert!(parse_pattern("").is_err());
        assert!(parse_pattern(&"a".repeat(129)).is_err());
    }

    #[test]
    fn round_trip() {
        let a = TokenArgs {
            secret: "s3cret".into(),
            subject: Some("alice".into()),
            subscribe: vec!["chat.*".into()],
            publish: vec!["chat.lobby".into()],
            ttl: Duration::from_secs(600),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = mint_token(b"s3cret", &claims(&a, now)).unwrap();
        let c = Verifier::new(b"s3cret").verify(&t).unwrap();
        assert_eq!(c.sub.as_deref(), Some("alice"));
        assert_eq!(c.exp, now + 600);
        assert_eq!(c.iat, Some(now));
        assert!(c.allows(Action::Subscribe, "chat.x"));
        assert!(c.allows(Action::Publish, "chat.lobby"));
        assert!(!c.allows(Action::Publish, "chat.x"));
        assert!(matches!(
            Verifier::new(b"other").verify(&t),
            Err(TokenError::Invalid(_))
        ));
    }
}
