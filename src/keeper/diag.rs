//! The keeper's diagnostics: a minimal `tracing` subscriber that writes one line per event to
//! stderr (keeper.log). tracing-subscriber's fmt layer costs a keeper ~30 KiB of heap; this
//! costs nothing until an event is written, and keepers are many.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Writes INFO and above as `2026-11-28T12:30:28.640Z INFO message key=value ...`.
pub struct KeeperLog;

impl KeeperLog {
    /// Installs the subscriber for the whole process.
    pub fn install() {
        let _ = tracing::subscriber::set_global_default(KeeperLog);
    }
}

struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for KeeperLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!(
            "{} {:<5}",
            crate::render::rfc3339_millis(crate::keeper::now_ms()),
            event.metadata().level()
        ));
        event.record(&mut line);
        line.0.push('\n');
        // One write per line, so lines from a dying keeper are never torn.
        let _ = std::io::stderr().lock().write_all(line.0.as_bytes());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
