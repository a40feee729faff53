//! The hub's wire items, whatever the transport, as one vocabulary ([`Item`]).

use serde_json::Value;

/// One item of a hub subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// An event.
    Event {
        /// Its cursor (pass it as `cursor` to resume right after it).
        id: String,
        /// Its type (`message` by default).
        event: String,
        /// Its data.
        data: String,
    },
    /// Exactly `missed` events were lost here (they fell out of the hub's retention).
    Gap {
        /// How many.
        missed: u64,
    },
    /// The hub lost the history the position was in (a restart without a store, a topic
    /// re-created): events continue from the oldest of the new history.
    Reset,
    /// A client joined the topic (subscriptions with presence notices, WebSocket and SSE).
    Join(PresenceMember),
    /// A client left the topic.
    Leave(PresenceMember),
    /// An ephemeral event: live only, never replayed, no id (WebSocket and SSE).
    Ephemeral {
        /// Its type.
        event: String,
        /// Its data.
        data: String,
    },
    /// The topic ended (`POST /close/{topic}`) after the events before it: nothing will
    /// follow, and the subscription finishes after this item (no reconnect).
    End,
}

/// A client present on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceMember {
    /// Its client id.
    pub client: String,
    /// The `sub` of its token, if any.
    pub sub: Option<String>,
    /// `ws`, `sse` or `poll`.
    pub transport: String,
    /// Since when (Unix milliseconds; only in `GET /presence` answers).
    pub since: Option<u64>,
}

impl PresenceMember {
    /// From the hub's JSON (`{"client","sub","transport"[,"since"]}`).
    pub(crate) fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            client: v.get("client")?.as_str()?.to_owned(),
            sub: v.get("sub").and_then(Value::as_str).map(str::to_owned),
            transport: v.get("transport")?.as_str()?.to_owned(),
            since: v.get("since").and_then(Value::as_u64),
        })
    }
}

/// The `event` (default `message`) and `data` members of a hub JSON object.
fn event_and_data(v: &Value) -> Option<(String, String)> {
    let event = v.get("event").and_then(Value::as_str).unwrap_or("message");
    Some((event.to_owned(), v.get("data")?.as_str()?.to_owned()))
}

/// `{"event":…,"data":…}` of an ephemeral event.
fn ephemeral(v: &Value) -> Option<Item> {
    let (event, data) = event_and_data(v)?;
    Some(Item::Ephemeral { event, data })
}

/// A WebSocket text frame of the hub (`docs/hub.md` §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsFrame {
    Item(Item),
    /// `{"cursor":"…"}`: the head at the start of a live subscription.
    Cursor(String),
}

impl WsFrame {
    /// Parses a frame; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<WsFrame> {
        let v: Value = serde_json::from_str(text).ok()?;
        if let Some(n) = v.get("gap") {
            return n
                .get("missed")?
                .as_u64()
                .map(|missed| WsFrame::Item(Item::Gap { missed }));
        }
        if v.get("reset").and_then(Value::as_bool) == Some(true) {
            return Some(WsFrame::Item(Item::Reset));
        }
        if v.get("end").and_then(Value::as_bool) == Some(true) {
            return Some(WsFrame::Item(Item::End));
        }
        if let Some(c) = v.get("cursor") {
            return c.as_str().map(|c| WsFrame::Cursor(c.to_owned()));
        }
        if let Some(m) = v.get("join") {
            return PresenceMember::from_json(m).map(|m| WsFrame::Item(Item::Join(m)));
        }
        if let Some(m) = v.get("leave") {
            return PresenceMember::from_json(m).map(|m| WsFrame::Item(Item::Leave(m)));
        }
        if let Some(e) = v.get("ephemeral") {
            return ephemeral(e).map(WsFrame::Item);
        }
        let id = v.get("id")?.as_str()?.to_owned();
        let (event, data) = event_and_data(&v)?;
        Some(WsFrame::Item(Item::Event { id, event, data }))
    }
}

/// An SSE event of the hub (`docs/hub.md` §2.3): `sluice-gap` / `sluice-reset` notices, else
/// an event with its `id:`. `None` for a malformed notice.
pub(crate) fn from_sse(ev: &sluice_sse::MessageEvent) -> Option<Item> {
    Some(match ev.event_type() {
        "sluice-reset" => Item::Reset,
        "sluice-end" => Item::End,
        "sluice-gap" => Item::Gap {
            missed: gap_count(&ev.data)?,
        },
        "sluice-join" => Item::Join(PresenceMember::from_json(
            &serde_json::from_str(&ev.data).ok()?,
        )?),
        "sluice-leave" => Item::Leave(PresenceMember::from_json(
            &serde_json::from_str(&ev.data).ok()?,
        )?),
        "sluice-ephemeral" => ephemeral(&serde_json::from_str(&ev.data).ok()?)?,
        t => Item::Event {
            id: ev.last_event_id().to_owned(),
            event: t.to_owned(),
            data: ev.data.clone(),
        },
    })
}

/// The `missed` count of a `sluice-gap` event's data: `{"missed": n}` (or a bare number).
pub(crate) fn gap_count(data: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(data).ok()?;
    v.get("missed")
        .and_then(Value::as_u64)
        .or_else(|| v.get("gap")?.get("missed")?.as_u64())
        .or_else(|| v.as_u64())
}

/// A long-poll client event.
pub(crate) fn from_poll(ev: sluice_longpoll::ClientEvent) -> Item {
    match ev {
        sluice_longpoll::ClientEvent::Event(e) => Item::Event {
            id: e.id.to_string(),
            event: e.event.to_string(),
            data: e.data.to_string(),
        },
        sluice_longpoll::ClientEvent::Gap { missed } => Item::Gap { missed },
        sluice_longpoll::ClientEvent::Reset => Item::Reset,
        sluice_longpoll::ClientEvent::End => Item::End,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_frames() {
        assert_eq!(
            WsFrame::parse(r#"{"id":"1.a.1","event":"m","data":"x\ny"}"#),
            Some(WsFrame::Item(Item::Event {
                id: "1.a.1".into(),
                event: "m".into(),
                data: "x\ny".into()
            }))
        );
        assert_eq!(
            WsFrame::parse(r#"{"gap":{"missed":3}}"#),
            Some(WsFrame::Item(Item::Gap { missed: 3 }))
        );
        assert_eq!(
            WsFrame::parse(r#"{"reset":true}"#),
            Some(WsFrame::Item(Item::Reset))
        );
        assert_eq!(
            WsFrame::parse(r#"{"cursor":"1.a.9"}"#),
            Some(WsFrame::Cursor("1.a.9".into()))
        );
        assert_eq!(
            WsFrame::parse(r#"{"join":{"client":"a","sub":null,"transport":"ws"}}"#),
            Some(WsFrame::Item(Item::Join(PresenceMember {
                client: "a".into(),
                sub: None,
                transport: "ws".into(),
                since: None
            })))
        );
        assert_eq!(
            WsFrame::parse(r#"{"ephemeral":{"event":"typing","data":"x"}}"#),
            Some(WsFrame::Item(Item::Ephemeral {
                event: "typing".into(),
                data: "x".into()
            }))
        );
        assert_eq!(WsFrame::parse("nope"), None);
        assert_eq!(WsFrame::parse(r#"{"data":"no id"}"#), None);
    }

    #[test]
    fn gap_data_forms() {
        assert_eq!(gap_count(r#"{"missed":4}"#), Some(4));
        assert_eq!(gap_count(r#"{"gap":{"missed":5}}"#), Some(5));
        assert_eq!(gap_count("6"), Some(6));
        assert_eq!(gap_count("x"), None);
    }
}
