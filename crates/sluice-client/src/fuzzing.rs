//! The parts of a subscription that see the hub's bytes, public for the fuzz targets (feature
//! `fuzzing`; not a stable API).

use sluice_longpoll::Start;

use crate::frames::{Item, WsFrame};
use crate::position::{Position, Verdict};

/// A subscription's WebSocket frame parser and dedupe, without the network.
#[derive(Debug)]
pub struct Dedupe {
    pos: Position,
}

impl Dedupe {
    /// A subscription starting at `start`.
    pub fn new(start: Start) -> Self {
        Self {
            pos: Position::new(start),
        }
    }

    /// One hub WebSocket text frame: the item the application would see (`None`: not an
    /// item, the opening cursor, or a replay).
    pub fn ws_frame(&mut self, text: &str) -> Option<Item> {
        let it = match WsFrame::parse(text)? {
            WsFrame::Cursor(c) => {
                self.pos.opening(&c);
                return None;
            }
            WsFrame::Item(it) => it,
        };
        let v = self.pos.item(&it);
        (v == Verdict::Deliver).then_some(it)
    }

    /// Where a reconnection would start.
    pub fn cursor(&self) -> Option<String> {
        self.pos.cursor()
    }
}
