//! Topic names and the `*` patterns of access tokens.

/// Longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 128;

/// Whether `name` is a valid topic name: 1 to [`MAX_TOPIC_LEN`] characters from
/// `A-Z a-z 0-9 . _ -`. Anything else is answered with 400.
#[must_use]
pub fn is_valid_topic(name: &str) -> bool {
    (1..=MAX_TOPIC_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `topic` matches `pattern`, where `*` matches any run of characters (also an empty
/// one, also dots) and every other character matches itself. `*` alone matches every topic.
///
/// Linear in practice: the classic two-pointer wildcard match with one backtrack point, at
/// worst `O(pattern × topic)` (both bounded: topics by [`MAX_TOPIC_LEN`]).
#[must_use]
pub fn pattern_matches(pattern: &str, topic: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), topic.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Position after the last `*` seen in the pattern, and the topic position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            pi += 1;
            star = Some((pi, ti));
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(is_valid_topic("a"));
        assert!(is_valid_topic("chat.room-1_x"));
        assert!(is_valid_topic(&"x".repeat(128)));
        assert!(!is_valid_topic(&"x".repeat(129)));
        assert!(!is_valid_topic(""));
        for bad in ["a/b", "a b", "a%20", "é", "a:b", "a?b", "*"] {
            assert!(!is_valid_topic(bad), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("news", "news", true),
            ("news", "news2", false),
            ("news.*", "news.eu", true),
            ("news.*", "news.", true),
            ("news.*", "news", false),
            ("*.eu", "news.eu", true),
            ("*.eu", "news.us", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("chat-*", "chat-room.1", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(pattern_matches(p, t), want, "{p:?} vs {t:?}");
        }
    }
}
