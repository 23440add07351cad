//! The keeper's diagnostics: a minimal `tracing` subscriber that writes one line per event to
//! stderr, which is keeper.log. tracing-subscriber's fmt layer costs a keeper ~30 KiB of heap;
//! this costs nothing until an event is written, and keepers are many. keeper.log is rotated
//! at `MAX_LOG` (one old copy kept), so a crash-looping app cannot fill the disk through it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// keeper.log is rotated past this size.
pub const MAX_LOG: u64 = 1 << 20;

/// Writes INFO and above as `2026-11-28T12:30:28.640Z INFO  message key=value ...`.
pub struct KeeperLog {
    /// keeper.log, when stderr is that file (rotation needs its name).
    path: Option<PathBuf>,
    size: AtomicU64,
}

impl KeeperLog {
    /// Installs the subscriber for the whole process; `path` is the file stderr points at.
    pub fn install(path: Option<PathBuf>) {
        let size = path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        let _ = tracing::subscriber::set_global_default(KeeperLog {
            path,
            size: AtomicU64::new(size),
        });
    }

    /// Moves keeper.log to keeper.log.1 and points stderr at a fresh keeper.log.
    fn rotate(&self) {
        let Some(path) = &self.path else { return };
        let old = PathBuf::from(format!("{}.1", path.display()));
        if std::fs::rename(path, &old).is_err() {
            return;
        }
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
        {
            // SAFETY: dup2 onto stderr, which this process owns.
            unsafe { libc::dup2(f.as_raw_fd(), libc::STDERR_FILENO) };
        }
        self.size.store(0, Ordering::Relaxed);
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
        if self.size.fetch_add(line.0.len() as u64, Ordering::Relaxed) > MAX_LOG {
            self.rotate();
        }
        // One write per line, so lines from a dying keeper are never torn.
        let _ = std::io::stderr().lock().write_all(line.0.as_bytes());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
