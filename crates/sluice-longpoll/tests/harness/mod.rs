//! An in-memory network: one server topic, N clients, every request and response passed as
//! bytes (query string in, status + headers + JSON body out).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_longpoll::{
    Client, ClientConfig, ClientEvent, Cursor, Handled, LogConfig, Request, Response, Server,
    ServerConfig, Start, WaiterId,
};

pub const TOPIC: &str = "t";

pub struct Net {
    pub server: Server<&'static str>,
    pub server_config: ServerConfig,
    pub log_config: LogConfig,
    pub now: Instant,
    pub epoch: u64,
    pub clients: Vec<Client>,
    /// Parked requests: waiter → (client, lose the response).
    pub pending: HashMap<WaiterId, (usize, bool)>,
    rng: u64,
}

/// What happened to one poll.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    Answered(u16),
    Parked,
    BackingOff,
}

impl Net {
    pub fn new(server_config: ServerConfig, log_config: LogConfig, clients: usize) -> Self {
        let mut n = Self {
            server: Server::new(server_config.clone()),
            server_config,
            log_config,
            now: Instant::now(),
            epoch: 0x5eed,
            clients: Vec::new(),
            pending: HashMap::new(),
            rng: 0x2545_f491_4f6c_dd1d,
        };
        n.server.create_topic(TOPIC, n.epoch, n.log_config.clone());
        for _ in 0..clients {
            n.clients.push(Client::new(
                ClientConfig::default(),
                Start::At(Cursor::new(n.epoch, 0)),
            ));
        }
        n
    }

    pub fn random(&mut self) -> u64 {
        // xorshift64*: deterministic test randomness.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn publish(&mut self, data: &str) -> Cursor {
        let c = self
            .server
            .publish(
                self.now,
                &TOPIC,
                "m",
                Bytes::copy_from_slice(data.as_bytes()),
            )
            .expect("publish");
        self.pump();
        c
    }

    /// Send a query string as the wire would carry it.
    pub fn request(&mut self, query: &str) -> Handled {
        let req = Request::parse_query(query).expect("valid query");
        let jitter = self.random();
        self.server.handle_request(self.now, &TOPIC, &req, jitter)
    }

    /// Client `i` polls (if not backing off); `lose`: the response never reaches it.
    pub fn poll(&mut self, i: usize, lose: bool) -> Polled {
        let Some(req) = self.clients[i].next_request(self.now) else {
            return Polled::BackingOff;
        };
        match self.request(&req.to_query()) {
            Handled::Ready(r) => {
                let s = r.status().as_u16();
                self.deliver(i, &r, lose);
                Polled::Answered(s)
            }
            Handled::Parked(id) => {
                self.pending.insert(id, (i, lose));
                Polled::Parked
            }
        }
    }

    pub fn deliver(&mut self, i: usize, r: &Response, lose: bool) {
        let rnd = self.random();
        if lose {
            self.clients[i].handle_transport_error(self.now, rnd);
            return;
        }
        let ra = r.retry_after().map(|s| s.to_string());
        let _ = self.clients[i].handle_response(
            self.now,
            r.status().as_u16(),
            ra.as_deref(),
            r.body(),
            rnd,
        );
    }

    /// Deliver every queued server response.
    pub fn pump(&mut self) {
        while let Some((id, r)) = self.server.poll_response() {
            let (i, lose) = self
                .pending
                .remove(&id)
                .expect("response for a known waiter");
            self.deliver(i, &r, lose);
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.server.handle_timeout(self.now);
        self.pump();
    }

    /// Client `i` disconnects every parked request it has.
    pub fn disconnect(&mut self, i: usize) {
        let ids: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, (c, _))| *c == i)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            assert!(self.server.cancel(id));
            self.pending.remove(&id);
            let rnd = self.random();
            self.clients[i].handle_transport_error(self.now, rnd);
        }
    }

    /// The process restarts with an in-memory log: new epoch, parked connections dropped.
    pub fn restart(&mut self) {
        self.epoch = self
            .epoch
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.server = Server::new(self.server_config.clone());
        self.server
            .create_topic(TOPIC, self.epoch, self.log_config.clone());
        let pending: Vec<_> = self.pending.drain().collect();
        for (_, (i, _)) in pending {
            let rnd = self.random();
            self.clients[i].handle_transport_error(self.now, rnd);
        }
    }

    pub fn events(&mut self, i: usize) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.clients[i].poll_event()).collect()
    }
}

/// Render client events compactly: data strings, `gapN`, `reset`.
pub fn render(evs: &[ClientEvent]) -> Vec<String> {
    evs.iter()
        .map(|e| match e {
            ClientEvent::Event(e) => e.data.clone(),
            ClientEvent::Gap { missed } => format!("gap{missed}"),
            ClientEvent::Reset => "reset".into(),
            ClientEvent::End => "end".into(),
        })
        .collect()
}

/// Parse a 200 body as JSON.
pub fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(r.body()).expect("JSON body")
}
