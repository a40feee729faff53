//! One resume point across transports and reconnects, and the dedupe it gives: the hub's
//! cursors are the same string on WebSocket, SSE and long-poll, and within an epoch event `n`
//! has sequence number `n` (docs/longpoll.md §2), so "delivered already" is one comparison.

use sluice_longpoll::{Cursor, Start};

/// What to do with an item that arrived on some connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: hand it to the application.
    Deliver,
    /// Seen already (a replay after a reconnect or a transport switch): drop it.
    Duplicate,
}

/// The subscription's position: where the next connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    start: Start,
}

impl Position {
    /// The verdict on an item of the subscription: events, gaps and resets move the
    /// position (or are replays); live items (presence, ephemeral) and the end have none.
    pub(crate) fn item(&mut self, it: &crate::Item) -> Verdict {
        use crate::Item;
        match it {
            Item::Event { id, .. } => self.event(id),
            Item::Gap { missed } => self.gap(*missed),
            Item::Reset => self.reset(),
            _ => Verdict::Deliver,
        }
    }

    pub(crate) fn new(start: Start) -> Self {
        Self { start }
    }

    /// Where a new connection starts.
    pub(crate) fn start(&self) -> Start {
        self.start
    }

    /// The `cursor` query value (`None`: live from now).
    pub(crate) fn param(&self) -> Option<String> {
        match self.start {
            Start::Now => None,
            Start::Earliest => Some("earliest".into()),
            Start::At(c) => Some(c.encode().as_str().to_owned()),
        }
    }

    /// The resume point as a string (`None` before the subscription has one).
    pub(crate) fn cursor(&self) -> Option<String> {
        match self.start {
            Start::At(c) => Some(c.encode().as_str().to_owned()),
            _ => None,
        }
    }

    /// An event with id `id`. An id that is not a cursor (another server) is delivered and
    /// leaves the position alone.
    pub(crate) fn event(&mut self, id: &str) -> Verdict {
        let Ok(c) = Cursor::parse(id) else {
            return Verdict::Deliver;
        };
        if let Start::At(p) = self.start
            && p.epoch() == c.epoch()
            && c.seq() <= p.seq()
        {
            return Verdict::Duplicate;
        }
        self.start = Start::At(c);
        Verdict::Deliver
    }

    /// `missed` events were lost right after the position: the next event is past them, so a
    /// reconnect before it does not report the same gap twice.
    pub(crate) fn gap(&mut self, missed: u64) -> Verdict {
        if let Start::At(p) = self.start {
            self.start = Start::At(Cursor::new(p.epoch(), p.seq().saturating_add(missed)));
        }
        Verdict::Deliver
    }

    /// The position's epoch is gone: events restart from the oldest of the new epoch, which is
    /// where a reconnect must start too (and it gets no second reset).
    pub(crate) fn reset(&mut self) -> Verdict {
        if self.start == Start::Earliest {
            // Already past a reset with no event since: the same reset again.
            return Verdict::Duplicate;
        }
        self.start = Start::Earliest;
        Verdict::Deliver
    }

    /// The head announced by a subscription that started live (the WebSocket `cursor` frame,
    /// the SSE stream's opening `id:`): the resume point until the first event.
    pub(crate) fn opening(&mut self, head: &str) {
        if self.start == Start::Now
            && let Ok(c) = Cursor::parse(head)
        {
            self.start = Start::At(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(epoch: u64, seq: u64) -> String {
        Cursor::new(epoch, seq).encode().as_str().to_owned()
    }

    #[test]
    fn replays_are_dropped_within_an_epoch() {
        let mut p = Position::new(Start::Earliest);
        assert_eq!(p.event(&id(7, 1)), Verdict::Deliver);
        assert_eq!(p.event(&id(7, 2)), Verdict::Deliver);
        assert_eq!(p.event(&id(7, 1)), Verdict::Duplicate);
        assert_eq!(p.event(&id(7, 2)), Verdict::Duplicate);
        assert_eq!(p.event(&id(7, 3)), Verdict::Deliver);
        assert_eq!(p.param(), Some(id(7, 3)));
    }

    #[test]
    fn gap_moves_the_position() {
        let mut p = Position::new(Start::At(Cursor::new(7, 3)));
        assert_eq!(p.gap(4), Verdict::Deliver);
        assert_eq!(p.cursor(), Some(id(7, 7)));
        assert_eq!(p.event(&id(7, 8)), Verdict::Deliver);
    }

    #[test]
    fn one_reset_then_the_new_epoch() {
        let mut p = Position::new(Start::At(Cursor::new(7, 3)));
        assert_eq!(p.reset(), Verdict::Deliver);
        assert_eq!(p.param().as_deref(), Some("earliest"));
        // Cut before the first event of the new epoch: the reconnect asks from earliest and
        // can get no reset; a second reset notice anyway is the same one.
        assert_eq!(p.reset(), Verdict::Duplicate);
        assert_eq!(p.event(&id(9, 1)), Verdict::Deliver);
        assert_eq!(p.event(&id(9, 1)), Verdict::Duplicate);
    }

    #[test]
    fn a_live_start_takes_the_opening_cursor() {
        let mut p = Position::new(Start::Now);
        assert_eq!(p.param(), None);
        p.opening(&id(5, 40));
        assert_eq!(p.param(), Some(id(5, 40)));
        // Only once: a later opening (another connection) does not move it back.
        p.opening(&id(5, 10));
        assert_eq!(p.param(), Some(id(5, 40)));
        assert_eq!(p.event(&id(5, 40)), Verdict::Duplicate);
        assert_eq!(p.event(&id(5, 41)), Verdict::Deliver);
    }

    proptest::proptest! {
        /// Connections that replay from any earlier point (a reconnect from a stale position, a
        /// transport switch, an overlapping answer) and drop at any point: the application sees
        /// every event of the log exactly once, in order.
        #[test]
        fn replays_from_anywhere_deliver_each_event_once(
            n in 1u64..200,
            restarts in proptest::collection::vec((0u64..200, 0u64..200), 0..20),
        ) {
            let mut p = Position::new(Start::Earliest);
            let mut delivered = Vec::new();
            let mut connections = restarts.clone();
            connections.push((0, n));
            for (back, len) in connections {
                // A connection starts `back` events before the position (never before 1) and
                // delivers up to `len` events.
                let at = match p.start() {
                    Start::At(c) => c.seq(),
                    _ => 0,
                };
                let first = at.saturating_sub(back) + 1;
                for seq in (first..=n).take(len as usize) {
                    if p.event(&id(3, seq)) == Verdict::Deliver {
                        delivered.push(seq);
                    }
                }
            }
            proptest::prop_assert_eq!(delivered, (1..=n).collect::<Vec<_>>());
        }
    }
}
