//! Ended streams (`docs/longpoll.md` §7.1): the end takes a sequence number after the last
//! event, is not itself an event, and every reader — parked, behind, new, or already past it —
//! gets `"end": true` at once; nothing is appended after it.

mod harness;

use std::time::Duration;

use bytes::Bytes;
use harness::{Net, Polled, TOPIC, json, render};
use sluice_longpoll::{
    AppendError, Client, ClientConfig, Cursor, END_EVENT_TYPE, Handled, LogConfig, PublishError,
    ServerConfig, Start,
};

fn end(net: &mut Net) -> Cursor {
    let c = net
        .server
        .publish(net.now, &TOPIC, END_EVENT_TYPE, Bytes::new())
        .expect("end");
    net.pump();
    c
}

fn ready(h: Handled) -> serde_json::Value {
    match h {
        Handled::Ready(r) => json(&r),
        Handled::Parked(id) => panic!("parked {id:?}"),
    }
}

#[test]
fn parked_reader_gets_the_events_then_the_end() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 2);
    net.publish("a");
    assert_eq!(net.poll(0, false), Polled::Answered(200));
    assert_eq!(net.poll(0, false), Polled::Parked);
    net.publish("b");
    assert_eq!(net.poll(0, false), Polled::Parked);
    let c = end(&mut net);
    assert_eq!(c.seq(), 3, "the end takes the next sequence number");
    assert_eq!(render(&net.events(0)), ["a", "b", "end"]);
    assert!(net.clients[0].is_ended());
    assert_eq!(net.clients[0].cursor(), Some(c));
    assert_eq!(
        net.poll(0, false),
        Polled::BackingOff,
        "no request after the end"
    );
    // A reader that was behind gets everything, then the end, in one answer.
    assert_eq!(net.poll(1, false), Polled::Answered(200));
    assert_eq!(render(&net.events(1)), ["a", "b", "end"]);
}

#[test]
fn wire_form_of_the_end() {
    let mut net = Net::new(ServerConfig::default(), LogConfig::default(), 0);
    net.publish("a");
    let c = end(&mut net);
    let at = |seq| format!("cursor={}&timeout=20", Cursor::new(0x5eed, seq));
    let v = ready(net.request(&at(0)));
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        1,
        "the end is no event"
    );
    assert_eq!(v["events"][0]["data"], "a");
    assert_eq!(v["cursor"], c.to_string());
    assert_eq!(v["end"], true);
    // At the end: answered at once (no parking), still ended.
    let v = ready(net.request(&at(2)));
    assert_eq!(v["events"], serde_json::json!([]));
    assert_eq!(
        (v["cursor"].as_str(), v["end"].as_bool()),
        (Some(&*c.to_string()), Some(true))
    );
    // From now (a new reader: what is retained, then the end) and from the earliest.
    let v = ready(net.request("cursor="));
    assert_eq!(
        (v["events"][0]["data"].as_str(), v["end"].as_bool()),
        (Some("a"), Some(true))
    );
    let v = ready(net.request("cursor=earliest"));
    assert_eq!(
        (v["events"][0]["data"].as_str(), v["end"].as_bool()),
        (Some("a"), Some(true))
    );
    // A batch cut by `max` before the end does not say end.
    net.publish_more_is_refused();
    let v = ready(net.request(&format!("cursor={}&max=1", Cursor::new(0x5eed, 0))));
    assert_eq!(v["more"], true);
    assert!(v.get("end").is_none());
}

trait Refuse {
    fn publish_more_is_refused(&mut self);
}

impl Refuse for Net {
    fn publish_more_is_refused(&mut self) {
        let r = self
            .server
            .publish(self.now, &TOPIC, "m", Bytes::from_static(b"late"));
        assert_eq!(r, Err(PublishError::Append(AppendError::Ended)));
        let r = self
            .server
            .publish(self.now, &TOPIC, END_EVENT_TYPE, Bytes::new());
        assert_eq!(r, Err(PublishError::Append(AppendError::Ended)), "one end");
    }
}

#[test]
fn end_outlives_its_retention_and_a_gap_before_it_is_exact() {
    let cfg = LogConfig::default().with_max_age(Duration::from_secs(10));
    let mut net = Net::new(ServerConfig::default(), cfg, 1);
    net.publish("a");
    net.publish("b");
    end(&mut net);
    net.advance(Duration::from_secs(11));
    net.server.handle_timeout(net.now);
    let v = ready(net.request("cursor=earliest"));
    assert_eq!(
        (v["events"].as_array().map(Vec::len), v["end"].as_bool()),
        (Some(0), Some(true))
    );
    // A client at seq 0 missed both events: one exact gap of 2, then the end.
    assert_eq!(net.poll(0, false), Polled::Answered(200));
    assert_eq!(render(&net.events(0)), ["gap2", "end"]);
}

#[test]
fn client_rejects_an_end_at_zero_and_resumes_at_the_end() {
    let body =
        br#"{"cursor":"1.5eed.0","events":[],"more":false,"gap":null,"reset":false,"end":true}"#;
    let mut c = Client::new(ClientConfig::default(), Start::Now);
    let now = std::time::Instant::now();
    assert!(c.handle_response(now, 200, None, body, 1).is_err());
    // A client resumed exactly at the end's id: the end, no gap.
    let mut c = Client::new(
        ClientConfig::default(),
        Start::At(Cursor::parse("1.5eed.3").unwrap()),
    );
    let body =
        br#"{"cursor":"1.5eed.3","events":[],"more":false,"gap":null,"reset":false,"end":true}"#;
    c.handle_response(now, 200, None, body, 1).unwrap();
    assert_eq!(
        render(&std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>()),
        ["end"]
    );
}
