//! A bounded ring of recent log lines, filled by a `tracing` layer and served over IPC
//! (`tern logs`, the GUI's log view). Lines carry increasing sequence numbers so a client can
//! ask for "everything after N" and then follow new lines.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ipc::{LogLevel, LogLine};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// How many lines the ring keeps.
pub const DEFAULT_CAPACITY: usize = 2000;

/// The ring of recent lines; cheap to clone (shared).
#[derive(Clone)]
pub struct LogBuffer {
    inner: Arc<Mutex<Ring>>,
    followers: broadcast::Sender<LogLine>,
}

struct Ring {
    lines: VecDeque<LogLine>,
    capacity: usize,
    next_seq: u64,
}

impl LogBuffer {
    /// A ring that keeps the last `capacity` lines.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (followers, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Mutex::new(Ring {
                lines: VecDeque::with_capacity(capacity.min(4096)),
                capacity: capacity.max(1),
                next_seq: 1,
            })),
            followers,
        }
    }

    /// Appends a line, dropping the oldest when full, and hands it to followers.
    pub fn push(&self, level: LogLevel, target: &str, message: String) {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let line = {
            let Ok(mut ring) = self.inner.lock() else {
                return;
            };
            let line = LogLine {
                seq: ring.next_seq,
                unix_ms,
                level,
                target: target.to_owned(),
                message,
            };
            ring.next_seq += 1;
            if ring.lines.len() == ring.capacity {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.clone());
            line
        };
        // No follower is fine; a lagging follower loses lines, never blocks us.
        let _ = self.followers.send(line);
    }

    /// Lines with a sequence number above `since` (all kept lines for `None`), oldest first.
    #[must_use]
    pub fn since(&self, since: Option<u64>) -> Vec<LogLine> {
        let Ok(ring) = self.inner.lock() else {
            return Vec::new();
        };
        let after = since.unwrap_or(0);
        ring.lines
            .iter()
            .filter(|l| l.seq > after)
            .cloned()
            .collect()
    }

    /// New lines from now on.
    #[must_use]
    pub fn follow(&self) -> broadcast::Receiver<LogLine> {
        self.followers.subscribe()
    }

    /// The `tracing` layer that feeds this ring.
    #[must_use]
    pub fn layer(&self) -> LogBufferLayer {
        LogBufferLayer {
            buffer: self.clone(),
        }
    }
}

/// A `tracing` layer that copies every event it sees into a [`LogBuffer`].
pub struct LogBufferLayer {
    buffer: LogBuffer,
}

impl<S: tracing::Subscriber> Layer<S> for LogBufferLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        };
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        self.buffer.push(level, meta.target(), visitor.text);
    }
}

/// Renders `message` first, then `key=value` for the other fields.
#[derive(Default)]
struct MessageVisitor {
    text: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}");
            if !rest.is_empty() {
                self.text.push(' ');
                self.text.push_str(&rest);
            }
        } else {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            let _ = write!(self.text, "{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn keeps_the_newest_lines_with_sequence_numbers() {
        let buffer = LogBuffer::new(3);
        for i in 0..5 {
            buffer.push(LogLevel::Info, "t", format!("line {i}"));
        }
        let lines = buffer.since(None);
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(buffer.since(Some(4)).len(), 1);
        assert!(buffer.since(Some(5)).is_empty());
    }

    #[test]
    fn tracing_events_land_in_the_ring_and_reach_followers() {
        let buffer = LogBuffer::new(10);
        let mut follower = buffer.follow();
        let subscriber = tracing_subscriber::registry().with(buffer.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(peer = 5, "refused a client");
        });
        let lines = buffer.since(None);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].level, LogLevel::Warn);
        assert_eq!(lines[0].message, "refused a client peer=5");
        assert_eq!(follower.try_recv().unwrap().seq, 1);
    }
}
