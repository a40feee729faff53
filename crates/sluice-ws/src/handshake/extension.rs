//! `Sec-WebSocket-Extensions` values: parsing and formatting per RFC 6455 §9.1.
//!
//! ```text
//! extension-list = 1#extension
//! extension      = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//! A quoted-string value must be a token once unescaped (§9.1), so values are stored unquoted
//! and always formatted as bare tokens.

use std::fmt;

use super::error::BuildError;
use super::token::{is_tchar, is_token};

/// One extension offer or answer: a name and its parameters, in order.
///
/// Built either by [`Extension::parse_list`] (from a peer's header) or by [`Extension::new`] and
/// [`Extension::with_param`] (validated, for an offer or answer of our own). `Display` gives the
/// wire form, e.g. `permessage-deflate; client_max_window_bits`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    name: String,
    params: Vec<ExtensionParam>,
}

/// One extension parameter: a name and an optional value (unquoted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionParam {
    name: String,
    value: Option<String>,
}

impl ExtensionParam {
    /// The parameter name, as sent.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, if the parameter had one (a quoted-string value is returned unescaped).
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// A `Sec-WebSocket-Extensions` value that does not follow the RFC 6455 §9.1 grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid Sec-WebSocket-Extensions syntax at byte {offset}")]
pub struct ExtensionSyntaxError {
    /// Byte offset in the value where parsing failed.
    pub offset: usize,
}

impl Extension {
    /// An extension with no parameters. The name must be an HTTP token.
    pub fn new(name: &str) -> Result<Self, BuildError> {
        if !is_token(name.as_bytes()) {
            return Err(BuildError::InvalidExtensionToken {
                token: name.to_owned(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            params: Vec::new(),
        })
    }

    /// Appends a parameter. Name and value (if any) must be HTTP tokens (§9.1).
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Result<Self, BuildError> {
        for t in std::iter::once(name).chain(value) {
            if !is_token(t.as_bytes()) {
                return Err(BuildError::InvalidExtensionToken {
                    token: t.to_owned(),
                });
            }
        }
        self.params.push(ExtensionParam {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
        Ok(self)
    }

    /// The extension name (e.g. `permessage-deflate`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All parameters, in the order sent (duplicates kept: rejecting them is the extension's
    /// business, e.g. RFC 7692 §7.1).
    #[must_use]
    pub fn params(&self) -> &[ExtensionParam] {
        &self.params
    }

    /// The first parameter called `name` (ASCII case-insensitive): `None` if absent,
    /// `Some(None)` if present without a value, `Some(Some(v))` with one.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(ExtensionParam::value)
    }

    /// Parses a `Sec-WebSocket-Extensions` value (repeated header fields joined with `,`).
    ///
    /// Empty list elements are skipped (RFC 9110 §5.6.1), so an empty or all-comma value
    /// yields an empty list. Optional whitespace is allowed around `,`, `;` and `=`.
    pub fn parse_list(value: &[u8]) -> Result<Vec<Extension>, ExtensionSyntaxError> {
        Parser { s: value, pos: 0 }.list()
    }

    /// Formats a list of extensions as one header value (`a; x=1, b`).
    #[must_use]
    pub fn format_list(list: &[Extension]) -> String {
        let mut out = String::new();
        for (i, e) in list.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&e.to_string());
        }
        out
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for p in &self.params {
            write!(f, "; {}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self) -> ExtensionSyntaxError {
        ExtensionSyntaxError { offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<String, ExtensionSyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err());
        }
        // tchar is ASCII, so this cannot fail.
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, ExtensionSyntaxError> {
        let start = self.pos;
        self.pos += 1; // opening DQUOTE
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err()),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => out.push(b),
                        _ => return Err(self.err()),
                    }
                    self.pos += 1;
                }
                Some(b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                    out.push(b);
                    self.pos += 1;
                }
                Some(_) => return Err(self.err()),
            }
        }
        // §9.1: after unescaping, a quoted value must conform to `token`.
        if !is_token(&out) {
            return Err(ExtensionSyntaxError { offset: start });
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn extension(&mut self) -> Result<Extension, ExtensionSyntaxError> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.ows();
            if self.peek() != Some(b';') {
                break;
            }
            self.pos += 1;
            self.ows();
            let pname = self.token()?;
            self.ows();
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.ows();
                Some(if self.peek() == Some(b'"') {
                    self.quoted()?
                } else {
                    self.token()?
                })
            } else {
                None
            };
            params.push(ExtensionParam { name: pname, value });
        }
        Ok(Extension { name, params })
    }

    fn list(mut self) -> Result<Vec<Extension>, ExtensionSyntaxError> {
        let mut out = Vec::new();
        loop {
            self.ows();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            out.push(self.extension()?);
            self.ows();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.err()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<Extension> {
        Extension::parse_list(s.as_bytes()).unwrap()
    }

    /// RFC 6455 §9.1 example offers and RFC 7692 §7 parameter forms.
    #[test]
    fn rfc6455_9_1_grammar() {
        let l = parse("foo, bar; baz=2");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].name(), "foo");
        assert!(l[0].params().is_empty());
        assert_eq!(l[1].name(), "bar");
        assert_eq!(l[1].param("baz"), Some(Some("2")));

        let l = parse(
            "permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", permessage-deflate",
        );
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].param("client_max_window_bits"), Some(None));
        assert_eq!(l[0].param("server_max_window_bits"), Some(Some("10")));
        assert_eq!(l[0].param("absent"), None);
        assert_eq!(
            l[0].to_string(),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10"
        );
    }

    #[test]
    fn whitespace_and_empty_elements() {
        let l = parse(" , a ;x = 1 ;\ty ,, b ,");
        assert_eq!(Extension::format_list(&l), "a; x=1; y, b");
        assert!(parse("").is_empty());
        assert!(parse(" , ").is_empty());
    }

    #[test]
    fn quoted_string_escapes_unescaped() {
        let l = parse(r#"x; a="1\0""#);
        assert_eq!(l[0].param("a"), Some(Some("10")));
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "a;",
            "a; =1",
            "a; b=",
            "a b",
            "a; b=\"unterminated",
            "a; b=\"sp ace\"",
            "a; b=\"\"",
            ";a",
            "a; b=c d",
            "a; b=\"x\"y",
            "é",
        ] {
            assert!(Extension::parse_list(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builder_validates_tokens() {
        assert!(Extension::new("a b").is_err());
        assert!(
            Extension::new("x")
                .unwrap()
                .with_param("p", Some("1,2"))
                .is_err()
        );
        let e = Extension::new("x")
            .unwrap()
            .with_param("p", Some("15"))
            .unwrap();
        assert_eq!(parse(&e.to_string()), vec![e]);
    }
}
