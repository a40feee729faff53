//! Request query parsing and handling. Invariants: a parsed request re-serialises to a query
//! that parses to the same request; the server's effective timeout and max respect its caps;
//! handling any parsed request on a topic with history answers 200 with a valid JSON body
//! (or 400 for a cursor ahead of the head), or parks within the cap — never a panic.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_longpoll::{Handled, LogConfig, Request, Server, ServerConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(req) = Request::parse_query(q) else {
        return;
    };
    assert_eq!(Request::parse_query(&req.to_query()), Ok(req));
    let cfg = ServerConfig::default();
    let jitter = (data.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let t = cfg.effective_timeout(&req, jitter);
    assert!(t <= cfg.max_timeout);
    let m = cfg.effective_max(&req);
    assert!((1..=cfg.max_max).contains(&m));

    let now = Instant::now();
    let mut s: Server<u8> = Server::new(cfg);
    s.create_topic(0, 0x5eed, LogConfig::default().with_max_events(3));
    for i in 0..5u8 {
        s.publish(now, &0, "m", Bytes::from(vec![b'a' + i]))
            .unwrap();
    }
    match s.handle_request(now, &0, &req, jitter) {
        Handled::Ready(r) => {
            let v: serde_json::Value = serde_json::from_slice(r.body()).expect("JSON body");
            match r.status().as_u16() {
                200 => {
                    let n = v["events"].as_array().expect("events").len();
                    assert!(n <= m as usize);
                }
                400 => assert_eq!(v["error"], "cursor_ahead"),
                s => panic!("unexpected status {s}"),
            }
        }
        Handled::Parked(_) => {
            assert_eq!(s.parked(), 1);
            let deadline = s.poll_timeout().expect("timer armed");
            assert!(deadline <= now + Duration::from_secs(25));
        }
    }
});
