//! Property tests of the opening handshake: chunking never changes the outcome, header-name
//! and token case never matter, and arbitrary offers round-trip client → server → client; the
//! public generators' exchanges parse in every split, and head-shaped garbage answers the same
//! however it is cut.

use proptest::prelude::*;
use sluice_ws::handshake::*;

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// A random valid client request (the crate's public generator: nonce, path, protocols,
/// extension offers with parameters, extra fields).
fn client_request() -> impl Strategy<Value = ClientHandshake> {
    sluice_ws::strategy::handshake().prop_map(|h| h.request)
}

/// Cut points for a buffer of `len` bytes, sorted.
fn cuts(len: usize, raw: Vec<usize>) -> Vec<usize> {
    let mut c: Vec<usize> = raw.into_iter().map(|x| x % (len + 1)).collect();
    c.push(len);
    c.sort_unstable();
    c.dedup();
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Feeding any growing prefixes gives `None` until the head is complete, then the same
    /// request and length as parsing the whole buffer, for both the stateless and the
    /// resumable parser; trailing bytes are never consumed.
    #[test]
    fn any_split_gives_same_request(req in client_request(), raw in prop::collection::vec(any::<usize>(), 0..12), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        let head = req.encode();
        let mut buf = head.clone();
        buf.extend_from_slice(&tail);
        let limits = HandshakeLimits::default();
        let whole = parse_request(&buf, &limits).unwrap().unwrap();
        prop_assert_eq!(whole.1, head.len());
        let mut parser = RequestParser::new(limits);
        let mut got = None;
        for cut in cuts(buf.len(), raw) {
            let stateless = parse_request(&buf[..cut], &limits).unwrap();
            let resumed = parser.parse(&buf[..cut]).unwrap();
            prop_assert_eq!(&stateless, &resumed);
            if cut < head.len() {
                prop_assert!(stateless.is_none());
            } else {
                got = stateless;
                break;
            }
        }
        prop_assert_eq!(got, Some(whole));
    }

    /// Header names and the `websocket` / `upgrade` tokens are ASCII case-insensitive.
    #[test]
    fn random_header_case_is_accepted(req in client_request(), flips in prop::collection::vec(any::<bool>(), 512)) {
        let text = String::from_utf8(req.encode()).unwrap();
        let (request_line, rest) = text.split_once("\r\n").unwrap();
        let mut flipped = format!("{request_line}\r\n");
        let mut k = 0;
        for line in rest.split("\r\n") {
            let (name, value) = match line.split_once(':') {
                Some(p) => p,
                None => { flipped.push_str(line); flipped.push_str("\r\n"); continue; }
            };
            let mut flip = |s: &str| -> String {
                s.chars().map(|c| { k += 1; if flips[k % flips.len()] { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() } }).collect()
            };
            let name2 = flip(name);
            let value2 = if name.eq_ignore_ascii_case("upgrade") || name.eq_ignore_ascii_case("connection") { flip(value) } else { value.to_owned() };
            flipped.push_str(&format!("{name2}:{value2}\r\n"));
        }
        flipped.truncate(flipped.len() - 2);
        let a = parse_request(text.as_bytes(), &HandshakeLimits::default()).unwrap().unwrap().0;
        let b = parse_request(flipped.as_bytes(), &HandshakeLimits::default()).unwrap().unwrap().0;
        prop_assert_eq!(a.path(), b.path());
        prop_assert_eq!(a.host(), b.host());
        prop_assert_eq!(a.key(), b.key());
        prop_assert_eq!(a.protocols(), b.protocols());
        prop_assert_eq!(a.extensions(), b.extensions());
        prop_assert_eq!(a.headers().len(), b.headers().len());
    }

    /// encode → parse_request → accept (any offered choice) → parse_response agrees end to end,
    /// under a random split of the answer.
    #[test]
    fn round_trip(req in client_request(), pick in any::<prop::sample::Index>(), take_ext in any::<bool>(), split in any::<prop::sample::Index>()) {
        let limits = HandshakeLimits::default();
        let (offer, _) = parse_request(&req.encode(), &limits).unwrap().unwrap();
        prop_assert_eq!(offer.protocols(), req.protocols());
        prop_assert_eq!(offer.extensions(), req.extensions());
        let mut accept = Accept::new();
        let protocol = (!offer.protocols().is_empty()).then(|| pick.get(offer.protocols()).clone());
        if let Some(p) = &protocol {
            accept = accept.protocol(p.clone());
        }
        let ext = (take_ext && !offer.extensions().is_empty()).then(|| pick.get(offer.extensions()).clone());
        if let Some(e) = &ext {
            accept = accept.extensions(e.to_string());
        }
        let answer = offer.accept(&accept).unwrap();
        let cut = split.index(answer.len());
        prop_assert_eq!(parse_response(&answer[..cut], &req, &limits).unwrap(), None);
        let (res, n) = parse_response(&answer, &req, &limits).unwrap().unwrap();
        prop_assert_eq!(n, answer.len());
        prop_assert_eq!(res.protocol(), protocol.as_deref());
        prop_assert_eq!(res.extensions(), ext.as_slice());
    }

    /// Extension lists survive format → parse.
    #[test]
    fn extension_list_round_trip(exts in prop::collection::vec((token(), prop::collection::vec((token(), prop::option::of(token())), 0..4)), 1..4)) {
        let list: Vec<Extension> = exts.iter().map(|(n, ps)| {
            ps.iter().fold(Extension::new(n).unwrap(), |e, (pn, pv)| e.with_param(pn, pv.as_deref()).unwrap())
        }).collect();
        let text = Extension::format_list(&list);
        prop_assert_eq!(Extension::parse_list(text.as_bytes()).unwrap(), list);
    }
}

proptest! {
    #[test]
    fn generated_exchanges_parse_and_answer_in_every_split(h in sluice_ws::strategy::handshake()) {
        let parsed = sluice_ws::split::request_under_splits(
            &h.request_bytes, HandshakeLimits::default(), sluice_ws::split::Splits::Every,
        );
        let (req, n) = parsed.unwrap().unwrap();
        prop_assert_eq!(n, h.request_bytes.len());
        prop_assert_eq!(req.key(), h.request.key());
        let resp = parse_response(&h.response_bytes, &h.request, &HandshakeLimits::default());
        prop_assert!(matches!(resp, Ok(Some(_))), "{:?}", resp);
    }

    #[test]
    fn raw_heads_answer_the_same_however_cut(raw in sluice_ws::strategy::raw_head(), seed in any::<u64>()) {
        let _ = sluice_ws::split::request_under_splits(
            &raw.0, HandshakeLimits::default(), sluice_ws::split::Splits::Random { sets: 16, seed },
        );
    }
}
