//! Finding the end of an HTTP head incrementally, under a size limit, without rescanning.

/// Outcome of one scan step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A candidate end of head (one past the empty line) was found.
    End(usize),
    /// No end yet; more bytes are needed.
    Partial,
    /// The head cannot end within the limit; `size` bytes were seen.
    TooLarge { size: usize },
}

/// Resumable search for the empty line ending a head (`\n\n` or `\n\r\n`, as httparse accepts
/// bare LF line endings).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeadScanner {
    /// Offset from which no candidate has been ruled out yet.
    scanned: usize,
}

impl HeadScanner {
    /// Scans `buf` (which must extend the bytes given on earlier calls) for the next candidate.
    pub(crate) fn scan(&mut self, buf: &[u8], max: usize) -> Scan {
        let len = buf.len();
        let mut i = self.scanned.min(len);
        while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
            let nl = i + off;
            let end = match (buf.get(nl + 1), buf.get(nl + 2)) {
                (Some(b'\n'), _) => Some(nl + 2),
                (Some(b'\r'), Some(b'\n')) => Some(nl + 3),
                (None, _) | (Some(b'\r'), None) => {
                    // Undecided: resume at this LF once more bytes arrive.
                    self.scanned = nl;
                    return self.partial(len, max);
                }
                _ => None,
            };
            if let Some(end) = end {
                self.scanned = end;
                if end > max {
                    return Scan::TooLarge { size: end };
                }
                return Scan::End(end);
            }
            i = nl + 1;
        }
        self.scanned = len;
        self.partial(len, max)
    }

    fn partial(&self, len: usize, max: usize) -> Scan {
        // Any end found later lies beyond `len`; if that already exceeds the limit, stop now.
        if len > max {
            Scan::TooLarge { size: len }
        } else {
            Scan::Partial
        }
    }
}

/// Header lines in a complete head (for the `TooManyHeaders` error): lines minus the start line
/// and the final empty line.
pub(crate) fn count_header_lines(head: &[u8]) -> usize {
    head.iter()
        .filter(|&&b| b == b'\n')
        .count()
        .saturating_sub(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_crlf_and_lf_ends() {
        assert_eq!(
            HeadScanner::default().scan(b"GET / HTTP/1.1\r\nA: b\r\n\r\nxx", 100),
            Scan::End(24)
        );
        assert_eq!(
            HeadScanner::default().scan(b"GET / HTTP/1.1\nA: b\n\nxx", 100),
            Scan::End(21)
        );
    }

    #[test]
    fn resumes_without_losing_a_split_terminator() {
        let msg = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        let mut s = HeadScanner::default();
        for n in 0..msg.len() {
            assert_eq!(s.scan(&msg[..n], 100), Scan::Partial, "at {n}");
        }
        assert_eq!(s.scan(msg, 100), Scan::End(msg.len()));
    }

    #[test]
    fn limit_applies_while_partial() {
        let mut s = HeadScanner::default();
        assert_eq!(s.scan(&[b'a'; 10], 10), Scan::Partial);
        assert_eq!(s.scan(&[b'a'; 11], 10), Scan::TooLarge { size: 11 });
        // A head ending exactly at the limit is accepted.
        assert_eq!(HeadScanner::default().scan(b"ab\n\n", 4), Scan::End(4));
        assert_eq!(
            HeadScanner::default().scan(b"abc\n\n", 4),
            Scan::TooLarge { size: 5 }
        );
    }
}
