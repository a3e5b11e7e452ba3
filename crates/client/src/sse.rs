//! The one reader of server-sent events: the host's event log stream and a run's attach
//! stream. [`Parser`] is the framing alone, so it is tested without a connection.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};

use crate::error::{Error, Result};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its `id:` (the host puts the event's sequence number there).
    pub id: Option<String>,
    /// Its `event:`, `message` when none is given.
    pub event: String,
    /// Its `data:` lines, joined by newlines.
    pub data: String,
}

/// Splits a byte stream into messages; bytes may arrive cut anywhere.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
}

impl Parser {
    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived. Keep-alive comments come out as messages
    /// with empty data.
    pub fn next_message(&mut self) -> Option<Message> {
        let end = self.buffer.windows(2).position(|w| w == b"\n\n")?;
        let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
        let text = String::from_utf8_lossy(&block);
        let mut message = Message {
            id: None,
            event: "message".into(),
            data: String::new(),
        };
        for line in text.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => message.id = Some(value.to_string()),
                "event" => message.event = value.to_string(),
                "data" => {
                    if !message.data.is_empty() {
                        message.data.push('\n');
                    }
                    message.data.push_str(value);
                }
                _ => {}
            }
        }
        Some(message)
    }
}

type Bytes = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Server-sent events off a response body.
pub struct EventStream {
    bytes: Bytes,
    parser: Parser,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// Reads the events of `response`, which must be a `text/event-stream` answer.
    pub fn new(response: reqwest::Response) -> EventStream {
        EventStream {
            bytes: Box::pin(response.bytes_stream()),
            parser: Parser::default(),
        }
    }

    /// The next event, keep-alives skipped; `None` when the host closed the stream, an error
    /// ([`Error::NoHost`]) when the connection broke (the host died).
    pub async fn next(&mut self) -> Result<Option<Message>> {
        loop {
            if let Some(message) = self.parser.next_message() {
                if message.data.is_empty() {
                    continue;
                }
                return Ok(Some(message));
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => self.parser.push(&chunk),
                Some(Err(_)) => return Err(Error::NoHost),
                None => return Ok(None),
            }
        }
    }

    /// The next event's data, read as JSON.
    pub async fn next_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>> {
        match self.next().await? {
            Some(message) => serde_json::from_str(&message.data)
                .map(Some)
                .map_err(|e| Error::Decode(e.to_string())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_whole_however_the_bytes_are_cut() {
        let text = "id: 7\nevent: status\ndata: {\"a\":\ndata: 1}\n\n: keep-alive\n\ndata: two\n\n";
        for cut in 1..text.len() {
            let mut parser = Parser::default();
            let mut messages = Vec::new();
            for piece in [&text[..cut], &text[cut..]] {
                parser.push(piece.as_bytes());
                while let Some(message) = parser.next_message() {
                    messages.push(message);
                }
            }
            assert_eq!(messages.len(), 3, "cut at {cut}");
            assert_eq!(messages[0].id.as_deref(), Some("7"));
            assert_eq!(messages[0].event, "status");
            assert_eq!(messages[0].data, "{\"a\":\n1}");
            assert_eq!(messages[1].data, "", "a comment has no data");
            assert_eq!(messages[2].event, "message");
            assert_eq!(messages[2].data, "two");
        }
    }

    #[test]
    fn an_unfinished_message_waits_for_its_end() {
        let mut parser = Parser::default();
        parser.push(b"data: half");
        assert_eq!(parser.next_message(), None);
        parser.push(b"\n\n");
        assert_eq!(parser.next_message().map(|m| m.data), Some("half".into()));
    }
}
