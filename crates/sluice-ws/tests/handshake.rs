//! RFC 6455 §4 opening handshake: each rule of §4.1 (client) and §4.2.1/§4.2.2 (server) as a
//! named test, plus partial input, limits and a full client ↔ server round trip.

use sluice_ws::handshake::*;

const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

fn limits() -> HandshakeLimits {
    HandshakeLimits::default()
}

fn parse(buf: &[u8]) -> Result<Option<(ServerRequest, usize)>, HandshakeError> {
    parse_request(buf, &limits())
}

/// A valid request with the header lines `replace` substituted (matched by name) or added.
fn request_with(method_line: &str, edits: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut headers = vec![
        ("Host", "h.example".to_owned()),
        ("Upgrade", "websocket".to_owned()),
        ("Connection", "Upgrade".to_owned()),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
        ("Sec-WebSocket-Version", "13".to_owned()),
    ];
    for (name, value) in edits {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            headers.push((name, (*v).to_owned()));
        }
    }
    let mut out = format!("{method_line}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn reject(buf: &[u8]) -> HandshakeError {
    match parse(buf) {
        Err(e) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn assert_status(e: &HandshakeError, code: u16) {
    assert_eq!(e.status().as_u16(), code, "{e}");
    let resp = e.response();
    let text = std::str::from_utf8(&resp).unwrap();
    assert!(text.starts_with(&format!("HTTP/1.1 {code} ")), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", body.len()))
            || head.ends_with(&format!("Content-Length: {}", body.len())),
        "{text}"
    );
    assert!(!body.is_empty());
}

// ---- RFC 6455 §1.3 / §4.2.2: the worked example ------------------------------------------

/// §1.3 and §4.2.2 item 5.4: key "dGhlIHNhbXBsZSBub25jZQ==" answers "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
#[test]
fn rfc6455_1_3_sample_handshake() {
    let (req, n) = parse(RFC_REQUEST).unwrap().unwrap();
    assert_eq!(n, RFC_REQUEST.len());
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.host(), "server.example.com");
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.protocols(), ["chat", "superchat"]);
    assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(req.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(req.headers().len(), 7);

    let answer = req.accept(&Accept::new().protocol("chat")).unwrap();
    assert_eq!(
        &answer[..],
        b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

// ---- §4.2.1 server requirements ---------------------------------------------------------

/// §4.2.1 item 1: the method must be GET → 405 with `Allow: GET`.
#[test]
fn rfc6455_4_2_1_item1_method_get() {
    let e = reject(&request_with("POST /chat HTTP/1.1", &[]));
    assert!(matches!(e, HandshakeError::MethodNotAllowed { ref method } if method == "POST"));
    assert_status(&e, 405);
    assert!(
        std::str::from_utf8(&e.response())
            .unwrap()
            .contains("\r\nAllow: GET\r\n")
    );
    // Methods are case-sensitive (RFC 9110 §9.1).
    assert_status(&reject(&request_with("get /chat HTTP/1.1", &[])), 405);
}

/// §4.2.1 item 1: HTTP/1.1 or higher. HTTP/1.0 → 400; a non-1.x version → 505.
#[test]
fn rfc6455_4_2_1_item1_http_version() {
    let e = reject(&request_with("GET /chat HTTP/1.0", &[]));
    assert_eq!(e, HandshakeError::Http10);
    assert_status(&e, 400);
    let e = reject(&request_with("GET /chat HTTP/2.0", &[]));
    assert_eq!(e, HandshakeError::HttpVersionNotSupported);
    assert_status(&e, 505);
    let h: [(&str, &[u8]); 0] = [];
    assert_eq!(
        ServerRequest::from_parts("GET", "/", 2, h).unwrap_err(),
        HandshakeError::HttpVersionNotSupported
    );
}

/// §4.2.1 item 1 and §3: the Request-URI is a resource name, or an absolute URI containing one;
/// fragments are not allowed.
#[test]
fn rfc6455_4_2_1_item1_request_uri() {
    let (req, _) = parse(&request_with("GET ws://h.example/a?b=c HTTP/1.1", &[]))
        .unwrap()
        .unwrap();
    assert_eq!(req.path(), "/a?b=c");
    let (req, _) = parse(&request_with("GET http://h.example HTTP/1.1", &[]))
        .unwrap()
        .unwrap();
    assert_eq!(req.path(), "/");
    for target in ["*", "h.example:80", "/a#frag", "ftp://h/"] {
        let e = reject(&request_with(&format!("GET {target} HTTP/1.1"), &[]));
        assert_eq!(e, HandshakeError::InvalidRequestTarget, "{target}");
        assert_status(&e, 400);
    }
}

/// §4.2.1 item 2: a Host header field is required (and must not be repeated, RFC 9112 §3.2).
#[test]
fn rfc6455_4_2_1_item2_host() {
    let e = reject(&request_with("GET / HTTP/1.1", &[("Host", None)]));
    assert_eq!(e, HandshakeError::InvalidHost);
    assert_status(&e, 400);
    assert_eq!(
        reject(&request_with("GET / HTTP/1.1", &[("Host", Some(""))])),
        HandshakeError::InvalidHost
    );
    let mut twice = request_with("GET / HTTP/1.1", &[]);
    twice.splice(16..16, b"Host: other\r\n".iter().copied());
    assert_eq!(
        reject(&twice),
        HandshakeError::DuplicateHeader { name: "Host" }
    );
}

/// §4.2.1 item 3: Upgrade must contain "websocket", ASCII case-insensitive, as a list token.
#[test]
fn rfc6455_4_2_1_item3_upgrade() {
    for ok in ["WebSocket", "WEBSOCKET", "h2c, websocket", " websocket ,"] {
        assert!(
            parse(&request_with("GET / HTTP/1.1", &[("Upgrade", Some(ok))]))
                .unwrap()
                .is_some(),
            "{ok}"
        );
    }
    for bad in [None, Some("websockets"), Some("h2c"), Some("")] {
        let e = reject(&request_with("GET / HTTP/1.1", &[("Upgrade", bad)]));
        assert_eq!(e, HandshakeError::MissingUpgrade, "{bad:?}");
        assert_status(&e, 400);
    }
}

/// §4.2.1 item 4: Connection must include the token "Upgrade", ASCII case-insensitive; repeated
/// Connection fields combine into one list.
#[test]
fn rfc6455_4_2_1_item4_connection() {
    for ok in ["upgrade", "keep-alive, Upgrade", "UPGRADE,close"] {
        assert!(
            parse(&request_with("GET / HTTP/1.1", &[("Connection", Some(ok))]))
                .unwrap()
                .is_some(),
            "{ok}"
        );
    }
    let mut split = request_with("GET / HTTP/1.1", &[("Connection", Some("keep-alive"))]);
    split.splice(16..16, b"Connection: upgrade\r\n".iter().copied());
    assert!(parse(&split).unwrap().is_some());
    for bad in [None, Some("keep-alive"), Some("upgraded")] {
        let e = reject(&request_with("GET / HTTP/1.1", &[("Connection", bad)]));
        assert_eq!(e, HandshakeError::MissingConnectionUpgrade, "{bad:?}");
        assert_status(&e, 400);
    }
}

/// §4.2.1 item 5: Sec-WebSocket-Key must decode (base64) to exactly 16 bytes.
#[test]
fn rfc6455_4_2_1_item5_key() {
    for bad in [
        None,
        Some(""),
        Some("dGhlIHNhbXBsZSBub25jZQ"),       // no padding
        Some("dGhlIHNhbXBsZSBub25j"),         // 15 bytes
        Some("dGhlIHNhbXBsZSBub25jZXg="),     // 17 bytes
        Some("dGhlIHNhbXBsZSBub25jZQ==dGhl"), // trailing data
        Some("!!!!!!!!!!!!!!!!!!!!!!=="),     // not base64
    ] {
        let e = reject(&request_with(
            "GET / HTTP/1.1",
            &[("Sec-WebSocket-Key", bad)],
        ));
        assert_eq!(e, HandshakeError::InvalidKey, "{bad:?}");
        assert_status(&e, 400);
    }
    let mut twice = request_with("GET / HTTP/1.1", &[]);
    twice.splice(
        16..16,
        b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
            .iter()
            .copied(),
    );
    assert_eq!(
        reject(&twice),
        HandshakeError::DuplicateHeader {
            name: "Sec-WebSocket-Key"
        }
    );
}

/// §4.2.1 item 6 and §4.4: Sec-WebSocket-Version must be 13, else 426 with
/// `Sec-WebSocket-Version: 13`.
#[test]
fn rfc6455_4_2_1_item6_version() {
    for (bad, carried) in [
        (Some("8"), Some("8")),
        (None, None),
        (Some("13, 8"), Some("13, 8")),
    ] {
        let e = reject(&request_with(
            "GET / HTTP/1.1",
            &[("Sec-WebSocket-Version", bad)],
        ));
        assert_eq!(
            e,
            HandshakeError::UnsupportedVersion {
                version: carried.map(str::to_owned)
            }
        );
        assert_status(&e, 426);
        let text = String::from_utf8(e.response().to_vec()).unwrap();
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{text}");
        assert!(text.contains("\r\nUpgrade: websocket\r\n"), "{text}");
    }
}

/// §4.2.1 item 7 and §10.2: Origin is optional and surfaced for the caller's CSWSH check.
#[test]
fn rfc6455_4_2_1_item7_origin() {
    let (req, _) = parse(&request_with("GET / HTTP/1.1", &[]))
        .unwrap()
        .unwrap();
    assert_eq!(req.origin(), None);
    let (req, _) = parse(&request_with(
        "GET / HTTP/1.1",
        &[("Origin", Some("https://app.example"))],
    ))
    .unwrap()
    .unwrap();
    assert_eq!(req.origin(), Some("https://app.example"));
    let refusal = reject_response(StatusCode::FORBIDDEN, "origin not allowed");
    assert!(refusal.starts_with(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"));
    assert!(refusal.ends_with(b"\r\n\r\norigin not allowed\n"));
}

/// §4.2.1 item 8: subprotocols are a list of tokens in preference order; repeated fields combine.
#[test]
fn rfc6455_4_2_1_item8_protocols() {
    let mut buf = request_with(
        "GET / HTTP/1.1",
        &[("Sec-WebSocket-Protocol", Some("b, a"))],
    );
    buf.splice(16..16, b"Sec-WebSocket-Protocol: c\r\n".iter().copied());
    let (req, _) = parse(&buf).unwrap().unwrap();
    assert_eq!(req.protocols(), ["c", "b", "a"]);
    let e = reject(&request_with(
        "GET / HTTP/1.1",
        &[("Sec-WebSocket-Protocol", Some("a b"))],
    ));
    assert_eq!(e, HandshakeError::InvalidProtocols);
    assert_status(&e, 400);
}

/// §4.2.1 item 9 and §9.1: extension offers parse into names and parameters.
#[test]
fn rfc6455_4_2_1_item9_extensions() {
    let (req, _) = parse(&request_with(
        "GET / HTTP/1.1",
        &[(
            "Sec-WebSocket-Extensions",
            Some("permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\""),
        )],
    ))
    .unwrap()
    .unwrap();
    let ext = req.extensions();
    assert_eq!(ext.len(), 2);
    assert_eq!(ext[0].name(), "permessage-deflate");
    assert_eq!(ext[0].param("client_max_window_bits"), Some(None));
    assert_eq!(ext[1].params()[0].name(), "server_max_window_bits");
    assert_eq!(ext[1].params()[0].value(), Some("10"));
    let e = reject(&request_with(
        "GET / HTTP/1.1",
        &[("Sec-WebSocket-Extensions", Some("x; =1"))],
    ));
    assert_eq!(e, HandshakeError::InvalidExtensions);
    assert_status(&e, 400);
}

/// §4.2.2 item 5: the server selects one of the offered subprotocols, answers only offered
/// extensions, and its extra header fields cannot inject lines or override handshake fields.
#[test]
fn rfc6455_4_2_2_accept_rules() {
    let (req, _) = parse(&request_with(
        "GET / HTTP/1.1",
        &[
            ("Sec-WebSocket-Protocol", Some("chat")),
            ("Sec-WebSocket-Extensions", Some("x-ext; a=1")),
        ],
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        req.accept(&Accept::new().protocol("superchat")),
        Err(BuildError::ProtocolNotOffered {
            protocol: "superchat".into()
        })
    );
    assert_eq!(
        req.accept(&Accept::new().extensions("permessage-deflate")),
        Err(BuildError::ExtensionNotOffered {
            name: "permessage-deflate".into()
        })
    );
    assert_eq!(
        req.accept(&Accept::new().extensions("x-ext;")),
        Err(BuildError::InvalidExtensions)
    );
    assert!(matches!(
        req.accept(&Accept::new().header("X-A", "1\r\nSet-Cookie: evil")),
        Err(BuildError::InvalidHeaderValue { .. })
    ));
    assert!(matches!(
        req.accept(&Accept::new().header("Bad Name", "1")),
        Err(BuildError::InvalidHeaderName { .. })
    ));
    assert!(matches!(
        req.accept(&Accept::new().header("sec-websocket-accept", "x")),
        Err(BuildError::ReservedHeader { .. })
    ));

    let answer = req
        .accept(
            &Accept::new()
                .protocol("chat")
                .extensions("x-ext; a=1")
                .header("Set-Cookie", "s=1"),
        )
        .unwrap();
    let text = std::str::from_utf8(&answer).unwrap();
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(text.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
    assert!(text.contains("\r\nSec-WebSocket-Extensions: x-ext; a=1\r\n"));
    assert!(text.ends_with("\r\nSet-Cookie: s=1\r\n\r\n"));
    // An empty extension answer sends no header.
    let plain = req.accept(&Accept::new().extensions("")).unwrap();
    assert!(!plain.windows(10).any(|w| w == b"Extensions"));
}

/// A request already parsed by another HTTP layer is validated the same way.
#[test]
fn from_parts_matches_parse_request() {
    let (parsed, _) = parse(RFC_REQUEST).unwrap().unwrap();
    let headers: Vec<(&str, &[u8])> = parsed.headers().iter().collect();
    let again = ServerRequest::from_parts("GET", "/chat", 1, headers.iter().copied()).unwrap();
    assert_eq!(again, parsed);
    let e = ServerRequest::from_parts("PUT", "/chat", 1, headers.iter().copied()).unwrap_err();
    assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
}

// ---- incremental input and limits --------------------------------------------------------

/// Every strict prefix is "need more"; the whole head parses; trailing frame bytes are left.
#[test]
fn partial_input_byte_by_byte() {
    let mut buf = RFC_REQUEST.to_vec();
    buf.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4]); // a masked text frame that followed
    let mut incremental = RequestParser::new(limits());
    for n in 0..RFC_REQUEST.len() {
        assert_eq!(parse(&buf[..n]).unwrap(), None, "prefix {n}");
        assert_eq!(incremental.parse(&buf[..n]).unwrap(), None, "prefix {n}");
    }
    let (a, n) = parse(&buf).unwrap().unwrap();
    let (b, m) = incremental
        .parse(&buf[..RFC_REQUEST.len()])
        .unwrap()
        .unwrap();
    assert_eq!((n, m), (RFC_REQUEST.len(), RFC_REQUEST.len()));
    assert_eq!(a, b);
}

/// Bare-LF line endings and leading empty lines are accepted (RFC 9112 §2.2).
#[test]
fn lenient_line_endings() {
    let lf: Vec<u8> = RFC_REQUEST
        .iter()
        .copied()
        .filter(|&b| b != b'\r')
        .collect();
    let (req, n) = parse(&lf).unwrap().unwrap();
    assert_eq!((req.path(), n), ("/chat", lf.len()));
    let mut leading = b"\r\n".to_vec();
    leading.extend_from_slice(RFC_REQUEST);
    assert_eq!(parse(&leading).unwrap().unwrap().1, leading.len());
}

/// The head size limit applies while the head is still partial: 431 with `{ size, max }`.
#[test]
fn head_size_limit_enforced_while_partial() {
    let small = HandshakeLimits::default().with_max_head_size(64);
    let mut junk = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    junk.resize(64, b'a');
    assert_eq!(parse_request(&junk, &small).unwrap(), None);
    junk.push(b'a');
    let e = parse_request(&junk, &small).unwrap_err();
    assert_eq!(e, HandshakeError::HeadTooLarge { size: 65, max: 64 });
    assert_status(&e, 431);

    // Default 8 KiB: a head of exactly the limit passes, one byte more does not.
    let base = request_with("GET / HTTP/1.1", &[("X-Pad", Some(""))]);
    let pad = 8192 - base.len();
    let fits = request_with("GET / HTTP/1.1", &[("X-Pad", Some(&"p".repeat(pad)))]);
    assert_eq!(fits.len(), 8192);
    assert_eq!(parse(&fits).unwrap().unwrap().1, 8192);
    let over = request_with("GET / HTTP/1.1", &[("X-Pad", Some(&"p".repeat(pad + 1)))]);
    assert!(matches!(
        parse(&over),
        Err(HandshakeError::HeadTooLarge { max: 8192, .. })
    ));
}

/// More than `max_headers` fields → 431 with `{ size, max }`.
#[test]
fn header_count_limit() {
    let extra: Vec<String> = (0..60).map(|i| format!("X-{i}")).collect();
    let edits: Vec<(&str, Option<&str>)> = extra.iter().map(|n| (n.as_str(), Some("v"))).collect();
    let buf = request_with("GET / HTTP/1.1", &edits); // 5 + 60 = 65 fields
    let e = parse(&buf).unwrap_err();
    assert_eq!(e, HandshakeError::TooManyHeaders { size: 65, max: 64 });
    assert_status(&e, 431);
    let roomy = HandshakeLimits::default().with_max_headers(65);
    assert!(parse_request(&buf, &roomy).unwrap().is_some());
    let huge = HandshakeLimits::default().with_max_headers(1000);
    assert!(parse_request(&buf, &huge).unwrap().is_some());
}

/// Garbage is a 400 with a ready answer, never a panic.
#[test]
fn malformed_head() {
    let e = reject(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert!(matches!(e, HandshakeError::Malformed { .. }));
    assert_status(&e, 400);
    assert_status(&reject(b"\x16\x03\x01\x02\x00\n\n"), 400);
}

// ---- §4.1 client requirements -----------------------------------------------------------

const NONCE: [u8; 16] = *b"the sample nonce"; // base64: dGhlIHNhbXBsZSBub25jZQ==

fn client() -> ClientHandshake {
    ClientHandshake::new("server.example.com", "/chat", NONCE)
        .unwrap()
        .protocol("chat")
        .unwrap()
        .protocol("superchat")
        .unwrap()
        .extension(
            Extension::new("permessage-deflate")
                .unwrap()
                .with_param("client_max_window_bits", None)
                .unwrap(),
        )
        .header("Origin", "http://example.com")
        .unwrap()
}

fn answer(extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn fail(buf: &[u8]) -> ResponseError {
    match parse_response(buf, &client(), &limits()) {
        Err(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// §4.1 (client requirements, items 1–12 of the request): GET, HTTP/1.1, Host, Upgrade,
/// Connection, a base64 16-byte nonce, version 13, optional Origin/protocols/extensions.
#[test]
fn rfc6455_4_1_request_encoding() {
    let req = client();
    assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(req.expected_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        String::from_utf8(req.encode()).unwrap(),
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
         Origin: http://example.com\r\n\r\n"
    );
}

/// §4.1 request rules the builder enforces (caller misuse).
#[test]
fn rfc6455_4_1_builder_rejects_misuse() {
    let c = || ClientHandshake::new("h", "/", NONCE).unwrap();
    assert_eq!(
        ClientHandshake::new("", "/", NONCE),
        Err(BuildError::InvalidHost)
    );
    assert_eq!(
        ClientHandshake::new("h\r\nX: y", "/", NONCE),
        Err(BuildError::InvalidHost)
    );
    assert_eq!(
        ClientHandshake::new("h", "chat", NONCE),
        Err(BuildError::InvalidPath)
    );
    assert_eq!(
        ClientHandshake::new("h", "/a b", NONCE),
        Err(BuildError::InvalidPath)
    );
    assert!(matches!(
        c().protocol("a b"),
        Err(BuildError::InvalidProtocol { .. })
    ));
    assert!(matches!(
        c().protocol("a").unwrap().protocol("a"),
        Err(BuildError::DuplicateProtocol { .. })
    ));
    assert!(matches!(
        c().header("Host", "x"),
        Err(BuildError::ReservedHeader { .. })
    ));
    assert!(matches!(
        c().header("sec-websocket-key", "x"),
        Err(BuildError::ReservedHeader { .. })
    ));
    assert!(matches!(
        c().header("X", "a\nb"),
        Err(BuildError::InvalidHeaderValue { .. })
    ));
    assert!(matches!(
        c().header("X:", "a"),
        Err(BuildError::InvalidHeaderName { .. })
    ));
}

/// §4.1 response item 1: any status but 101 fails, carrying status and headers (for 3xx/401).
#[test]
fn rfc6455_4_1_response_status_101() {
    let e = fail(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
    match e {
        ResponseError::UnexpectedStatus { status, headers } => {
            assert_eq!(status.as_u16(), 302);
            assert_eq!(headers.get("location"), Some(&b"/elsewhere"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fail(b"HTTP/1.0 101 Switching Protocols\r\n\r\n"),
        ResponseError::Http10
    );
    assert!(matches!(
        fail(b"HTTP/1.1 1x1 ?\r\n\r\n"),
        ResponseError::Malformed { .. }
    ));
}

/// §4.1 response items 2 and 3: Upgrade "websocket" and Connection "Upgrade", case-insensitive.
#[test]
fn rfc6455_4_1_response_upgrade_connection() {
    let good = answer("").to_vec();
    let swap = |from: &str, to: &str| {
        String::from_utf8(good.clone())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    };
    assert!(
        parse_response(&swap("websocket", "WebSocket"), &client(), &limits())
            .unwrap()
            .is_some()
    );
    assert!(
        parse_response(
            &swap("Connection: Upgrade", "Connection: upgrade, keep-alive"),
            &client(),
            &limits()
        )
        .unwrap()
        .is_some()
    );
    assert_eq!(
        fail(&swap("Upgrade: websocket", "Upgrade: h2c")),
        ResponseError::MissingUpgrade
    );
    assert_eq!(
        fail(&swap("Connection: Upgrade", "Connection: close")),
        ResponseError::MissingConnectionUpgrade
    );
}

/// §4.1 response item 4: Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)).
#[test]
fn rfc6455_4_1_response_accept_key() {
    let wrong = String::from_utf8(answer(""))
        .unwrap()
        .replace("s3pP", "s3pQ")
        .into_bytes();
    assert_eq!(fail(&wrong), ResponseError::InvalidAccept);
    let missing = String::from_utf8(answer(""))
        .unwrap()
        .replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "")
        .into_bytes();
    assert_eq!(fail(&missing), ResponseError::InvalidAccept);
    assert_eq!(
        fail(&answer(
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        )),
        ResponseError::InvalidAccept
    );
}

/// §4.1 response item 5: extensions only if offered (by name).
#[test]
fn rfc6455_4_1_response_extensions_offered() {
    let (res, _) = parse_response(
        &answer("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n"),
        &client(),
        &limits(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        res.extensions()[0].param("client_max_window_bits"),
        Some(Some("15"))
    );
    assert_eq!(
        fail(&answer(
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
        )),
        ResponseError::ExtensionNotOffered {
            name: "x-webkit-deflate-frame".into()
        }
    );
    assert_eq!(
        fail(&answer("Sec-WebSocket-Extensions: ;\r\n")),
        ResponseError::InvalidExtensions
    );
}

/// §4.1 response item 6: a subprotocol only if offered, and one of those offered.
#[test]
fn rfc6455_4_1_response_protocol_offered() {
    let (res, _) = parse_response(
        &answer("Sec-WebSocket-Protocol: superchat\r\n"),
        &client(),
        &limits(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(res.protocol(), Some("superchat"));
    let (res, _) = parse_response(&answer(""), &client(), &limits())
        .unwrap()
        .unwrap();
    assert_eq!(res.protocol(), None);
    assert_eq!(
        fail(&answer("Sec-WebSocket-Protocol: other\r\n")),
        ResponseError::ProtocolNotOffered {
            protocol: "other".into()
        }
    );
    assert_eq!(
        fail(&answer("Sec-WebSocket-Protocol: chat, superchat\r\n")),
        ResponseError::InvalidProtocol
    );
    assert_eq!(
        fail(&answer(
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"
        )),
        ResponseError::InvalidProtocol
    );
    let bare = ClientHandshake::new("server.example.com", "/chat", NONCE).unwrap();
    assert_eq!(
        parse_response(
            &answer("Sec-WebSocket-Protocol: chat\r\n"),
            &bare,
            &limits()
        ),
        Err(ResponseError::ProtocolNotOffered {
            protocol: "chat".into()
        })
    );
}

/// The answer arrives byte by byte; frame bytes after it are not consumed.
#[test]
fn response_partial_input_byte_by_byte() {
    let mut buf = answer("Sec-WebSocket-Protocol: chat\r\n");
    let head = buf.len();
    buf.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    let req = client();
    let mut incremental = ResponseParser::new(limits());
    for n in 0..head {
        assert_eq!(
            parse_response(&buf[..n], &req, &limits()).unwrap(),
            None,
            "prefix {n}"
        );
        assert_eq!(
            incremental.parse(&buf[..n], &req).unwrap(),
            None,
            "prefix {n}"
        );
    }
    let (res, n) = parse_response(&buf, &req, &limits()).unwrap().unwrap();
    assert_eq!(n, head);
    assert_eq!(incremental.parse(&buf, &req).unwrap(), Some((res, head)));
}

#[test]
fn response_limits() {
    let small = HandshakeLimits::default()
        .with_max_head_size(32)
        .with_max_headers(2);
    assert_eq!(
        parse_response(&[b'x'; 33], &client(), &small),
        Err(ResponseError::HeadTooLarge { size: 33, max: 32 })
    );
    let small = HandshakeLimits::default().with_max_headers(2);
    assert_eq!(
        parse_response(&answer("A: 1\r\n"), &client(), &small),
        Err(ResponseError::TooManyHeaders { size: 4, max: 2 })
    );
}

// ---- round trip ---------------------------------------------------------------------------

/// ClientHandshake::encode → parse_request → accept → parse_response.
#[test]
fn round_trip_client_server_client() {
    let req = ClientHandshake::new("127.0.0.1:9001", "/feed?topic=a", [0xA5; 16])
        .unwrap()
        .protocol("v2.json")
        .unwrap()
        .protocol("v1.json")
        .unwrap()
        .extension(
            Extension::new("permessage-deflate")
                .unwrap()
                .with_param("server_no_context_takeover", None)
                .unwrap(),
        )
        .header("Origin", "http://127.0.0.1:9001")
        .unwrap();
    let wire = req.encode();

    let (offer, n) = parse(&wire).unwrap().unwrap();
    assert_eq!(n, wire.len());
    assert_eq!(offer.host(), "127.0.0.1:9001");
    assert_eq!(offer.path(), "/feed?topic=a");
    assert_eq!(offer.origin(), Some("http://127.0.0.1:9001"));
    assert_eq!(offer.protocols(), ["v2.json", "v1.json"]);
    assert_eq!(offer.extensions(), req.extensions());
    assert_eq!(offer.key(), req.key());

    let chosen = offer.protocols()[1].clone();
    let ext = offer.extensions()[0].to_string();
    let reply = offer
        .accept(
            &Accept::new()
                .protocol(chosen)
                .extensions(ext)
                .header("X-Server", "sluice"),
        )
        .unwrap();
    let (res, m) = parse_response(&reply, &req, &limits()).unwrap().unwrap();
    assert_eq!(m, reply.len());
    assert_eq!(res.protocol(), Some("v1.json"));
    assert_eq!(res.extensions(), req.extensions());
    assert_eq!(res.headers().get("x-server"), Some(&b"sluice"[..]));
}
