//! Model-based test: random publish / poll / retention / restart / loss / disconnect
//! sequences, checked against a plain `Vec` reference of everything published per epoch.
//! Every client must see each event exactly once, in order, or have it accounted for by a gap
//! (exact count, and only for events really gone) or a reset; and once quiet, every client
//! must reach the head.

mod harness;

use std::time::Duration;

use harness::Net;
use proptest::prelude::*;
use sluice_longpoll::{ClientEvent, LogConfig, ServerConfig};

#[derive(Debug, Clone)]
enum Op {
    Publish(u8),
    Poll { client: usize, lose: bool },
    Advance(u16),
    Disconnect(usize),
    Restart,
}

const CLIENTS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..4).prop_map(Op::Publish),
        6 => (0..CLIENTS, proptest::bool::weighted(0.15))
            .prop_map(|(client, lose)| Op::Poll { client, lose }),
        3 => (0u16..30_000).prop_map(Op::Advance),
        1 => (0..CLIENTS).prop_map(Op::Disconnect),
        1 => Just(Op::Restart),
    ]
}

/// Checks one client's surfaced stream against the reference.
struct Checker {
    /// Index into `epochs` of the epoch the client is in; `None` right after a reset until
    /// the new epoch is known.
    epoch: Option<usize>,
    /// The epoch before the last reset.
    prev_epoch: usize,
    pos: u64,
    /// Gaps claimed per epoch index: (from seq, count).
    gaps: Vec<(usize, u64, u64)>,
    pending_gap: Vec<(u64, u64)>,
    delivered: u64,
}

impl Checker {
    fn check(&mut self, evs: Vec<ClientEvent>, epochs: &[(u64, Vec<String>)]) {
        for e in evs {
            match e {
                ClientEvent::End => panic!("nothing ends a stream in this model"),
                ClientEvent::Reset => {
                    if let Some(e) = self.epoch {
                        self.prev_epoch = e;
                    }
                    self.epoch = None;
                    self.pos = 0;
                    // Gaps of an epoch never identified: it is older than the next one, and
                    // only the final epoch's retention is checked.
                    self.pending_gap.clear();
                }
                ClientEvent::Gap { missed } => {
                    assert!(missed > 0, "empty gap");
                    self.pending_gap.push((self.pos + 1, missed));
                    self.pos += missed;
                }
                ClientEvent::Event(ev) => {
                    let idx = epochs
                        .iter()
                        .position(|(e, _)| *e == ev.id.epoch())
                        .expect("event from a known epoch");
                    match self.epoch {
                        Some(cur) => assert_eq!(idx, cur, "epoch changed without a reset"),
                        None => {
                            assert!(idx > self.prev_epoch, "reset went back in time");
                            self.epoch = Some(idx);
                        }
                    }
                    assert_eq!(ev.id.seq(), self.pos + 1, "out of order or duplicate");
                    let want = &epochs[idx].1[(ev.id.seq() - 1) as usize];
                    assert_eq!(&ev.data, want, "wrong data");
                    self.pos += 1;
                    self.delivered += 1;
                }
            }
            if let Some(idx) = self.epoch {
                for (from, n) in self.pending_gap.drain(..) {
                    self.gaps.push((idx, from, n));
                }
            }
        }
    }
}

fn run(ops: Vec<Op>, log_config: LogConfig, max_waiters: usize) {
    let mut sc = ServerConfig::default();
    sc.max_waiters = max_waiters;
    let mut net = Net::new(sc, log_config, CLIENTS);
    let mut epochs: Vec<(u64, Vec<String>)> = vec![(net.epoch, Vec::new())];
    let mut checkers: Vec<Checker> = (0..CLIENTS)
        .map(|_| Checker {
            epoch: Some(0),
            prev_epoch: 0,
            pos: 0,
            gaps: Vec::new(),
            pending_gap: Vec::new(),
            delivered: 0,
        })
        .collect();
    let mut counter = 0u32;
    for op in ops {
        match op {
            Op::Publish(n) => {
                for _ in 0..n {
                    counter += 1;
                    let data = format!("e{counter}");
                    let c = net.publish(&data);
                    let cur = epochs.last_mut().unwrap();
                    cur.1.push(data);
                    assert_eq!(c.seq(), cur.1.len() as u64);
                }
            }
            Op::Poll { client, lose } => {
                let _ = net.poll(client, lose);
            }
            Op::Advance(ms) => net.advance(Duration::from_millis(u64::from(ms))),
            Op::Disconnect(i) => net.disconnect(i),
            Op::Restart => {
                net.restart();
                epochs.push((net.epoch, Vec::new()));
            }
        }
        for (i, ch) in checkers.iter_mut().enumerate() {
            let evs = net.events(i);
            ch.check(evs, &epochs);
        }
        assert_eq!(net.server.parked(), net.pending.len(), "waiter accounting");
    }
    // Quiesce: drop parked polls, then plain-poll every client until it is at the head.
    for i in 0..CLIENTS {
        net.disconnect(i);
    }
    assert_eq!(net.server.parked(), 0, "no leaked waiter");
    let head = net.server.log(&harness::TOPIC).unwrap().head();
    for (i, ch) in checkers.iter_mut().enumerate() {
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 10_000, "client {i} never reached the head");
            let req = net.clients[i].next_request(net.now);
            if req.is_none() {
                let t = net.clients[i].poll_timeout().expect("backing off");
                net.advance(t.saturating_duration_since(net.now));
                continue;
            }
            let at_head = net.clients[i].cursor() == Some(head);
            if at_head {
                break;
            }
            let mut req = req.unwrap();
            req.timeout = Some(Duration::ZERO);
            match net.request(&req.to_query()) {
                sluice_longpoll::Handled::Ready(r) => net.deliver(i, &r, false),
                sluice_longpoll::Handled::Parked(_) => panic!("timeout=0 parked"),
            }
            let evs = net.events(i);
            ch.check(evs, &epochs);
        }
        if ch.epoch.is_none() {
            // Reset into an epoch with nothing delivered yet: the client's cursor names it.
            let e = net.clients[i].cursor().unwrap().epoch();
            let idx = epochs.iter().position(|(x, _)| *x == e).unwrap();
            assert!(idx > ch.prev_epoch);
            ch.epoch = Some(idx);
            for (from, n) in ch.pending_gap.drain(..) {
                ch.gaps.push((idx, from, n));
            }
        }
        assert_eq!(ch.epoch, Some(epochs.len() - 1));
        assert_eq!(ch.pos, head.seq());
        // No false gaps: every event a gap claims lost is really gone (retention is monotone,
        // so checking now is enough); earlier epochs are gone entirely.
        let last = epochs.len() - 1;
        let oldest = net.server.log(&harness::TOPIC).unwrap().oldest_seq();
        for &(idx, from, n) in &ch.gaps {
            if idx == last {
                assert!(
                    from + n <= oldest,
                    "gap claimed retained events: {from}+{n} vs {oldest}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_small_retention(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops, LogConfig::default().with_max_events(4).with_max_age(Duration::from_secs(40)), 2);
    }

    #[test]
    fn model_large_retention_no_gaps(ops in proptest::collection::vec(op(), 1..120)) {
        let ops: Vec<_> = ops.into_iter().filter(|o| !matches!(o, Op::Restart)).collect();
        run(ops.clone(), big_log(), 100);
        run_no_gap(ops);
    }
}

fn big_log() -> LogConfig {
    LogConfig::default()
        .with_max_events(1_000_000)
        .with_max_age(Duration::from_secs(1 << 30))
}

/// Retention never exceeded and no restart: nothing may be reported missing, ever.
fn run_no_gap(ops: Vec<Op>) {
    let mut sc = ServerConfig::default();
    sc.max_waiters = 100;
    let mut net = Net::new(sc, big_log(), CLIENTS);
    for op in ops {
        match op {
            Op::Publish(n) => {
                for k in 0..n {
                    net.publish(&format!("p{k}"));
                }
            }
            Op::Poll { client, lose } => {
                let _ = net.poll(client, lose);
            }
            Op::Advance(ms) => net.advance(Duration::from_millis(u64::from(ms))),
            Op::Disconnect(i) => net.disconnect(i),
            Op::Restart => unreachable!(),
        }
        for i in 0..CLIENTS {
            for e in net.events(i) {
                assert!(matches!(e, ClientEvent::Event(_)), "unexpected {e:?}");
            }
        }
    }
}
