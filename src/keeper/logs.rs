//! The app's log destinations: two files (or one, merged) with rotation under the run
//! directory, or the terminal of `tpctl run`. Owned by the keeper, kept open across restarts.

use std::io::Write;

use super::logfile::{LogFile, Rotation};
use super::output::LineSink;
use super::timestamp::DateFormat;
use crate::home::AppDir;
use crate::spec::LogSpec;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Out,
    Err,
}

/// Where an app's output goes.
// One per keeper, never moved in a hot path: boxing the files would only add an indirection.
#[allow(clippy::large_enum_variant)]
pub enum LogSet {
    /// Log files; `err` is `None` when stderr is merged into the stdout file.
    Files { out: LogFile, err: Option<LogFile> },
    /// `tpctl run`: the terminal, each line prefixed.
    Terminal { out: Prefixed, err: Prefixed },
}

/// Lines to our stdout, each with a prefix (`name | `), or each as a JSON object.
pub struct Prefixed {
    prefix: Vec<u8>,
    /// JSON lines instead: the app's id and the stream's name.
    json: Option<(String, &'static str)>,
}

impl LineSink for Prefixed {
    fn write_lines(&mut self, lines: &[u8]) {
        let mut out = Vec::with_capacity(lines.len() + 16);
        for line in lines.split_inclusive(|b| *b == b'\n') {
            match &self.json {
                Some((app, stream)) => {
                    let text = String::from_utf8_lossy(line);
                    let object = serde_json::json!({
                        "time": crate::render::rfc3339_millis(super::now_ms()),
                        "app": app,
                        "stream": stream,
                        "line": text.strip_suffix('\n').unwrap_or(&text),
                    });
                    out.extend_from_slice(object.to_string().as_bytes());
                    out.push(b'\n');
                }
                None => {
                    out.extend_from_slice(&self.prefix);
                    out.extend_from_slice(line);
                }
            }
        }
        // A closed terminal is no reason to disturb the app.
        let _ = std::io::stdout().lock().write_all(&out);
    }
}

impl LineSink for LogFile {
    fn write_lines(&mut self, lines: &[u8]) {
        self.write(lines);
    }
}

impl LogSet {
    /// The app's files as its spec says, defaulting to `logs/out.log` and `logs/err.log`.
    pub fn files(spec: &LogSpec, dir: &AppDir) -> LogSet {
        let rotation = Rotation {
            max_size: spec.max_size,
            keep: spec.keep,
            compress: spec.compress,
        };
        let (out_path, err_path) = paths(spec, dir);
        LogSet::Files {
            out: LogFile::open(out_path, rotation),
            err: err_path.map(|p| LogFile::open(p, rotation)),
        }
    }

    /// The terminal, with one prefix for stdout lines and one for stderr lines.
    pub fn terminal(out_prefix: Vec<u8>, err_prefix: Vec<u8>) -> LogSet {
        LogSet::Terminal {
            out: Prefixed {
                prefix: out_prefix,
                json: None,
            },
            err: Prefixed {
                prefix: err_prefix,
                json: None,
            },
        }
    }

    /// The terminal, one JSON object per line (for a container's log collector).
    pub fn json_lines(app: &str) -> LogSet {
        LogSet::Terminal {
            out: Prefixed {
                prefix: Vec::new(),
                json: Some((app.to_string(), "out")),
            },
            err: Prefixed {
                prefix: Vec::new(),
                json: Some((app.to_string(), "err")),
            },
        }
    }

    /// The sink for one pipe.
    pub fn sink(&mut self, kind: Kind) -> &mut dyn LineSink {
        match (self, kind) {
            (LogSet::Files { err: Some(err), .. }, Kind::Err) => err,
            (LogSet::Files { out, .. }, _) => out,
            (LogSet::Terminal { out, .. }, Kind::Out) => out,
            (LogSet::Terminal { err, .. }, Kind::Err) => err,
        }
    }

    /// Output bytes that could not be written, over the keeper's life.
    pub fn dropped(&self) -> u64 {
        match self {
            LogSet::Files { out, err } => {
                out.dropped_total + err.as_ref().map_or(0, |e| e.dropped_total)
            }
            LogSet::Terminal { .. } => 0,
        }
    }

    /// True when the stdout file holds anything.
    pub fn has_output(&self) -> bool {
        match self {
            LogSet::Files { out, .. } => std::fs::metadata(out.path()).is_ok_and(|m| m.len() > 0),
            LogSet::Terminal { .. } => false,
        }
    }

    /// Rotates the files now (`log_rotate` came due); an empty file is left as it is.
    pub fn rotate(&mut self) {
        if let LogSet::Files { out, err } = self {
            for f in std::iter::once(out).chain(err.as_mut()) {
                if std::fs::metadata(f.path()).is_ok_and(|m| m.len() > 0) {
                    f.rotate();
                }
            }
        }
    }

    /// Reopens the files by name (`tpctl reload-logs`, after an external logrotate).
    pub fn reopen(&mut self) {
        if let LogSet::Files { out, err } = self {
            out.reopen();
            if let Some(e) = err {
                e.reopen();
            }
        }
    }

    /// Empties the files and their rotated copies (`tpctl flush`).
    pub fn flush(&mut self) -> std::io::Result<()> {
        if let LogSet::Files { out, err } = self {
            out.flush()?;
            if let Some(e) = err {
                e.flush()?;
            }
        }
        Ok(())
    }
}

/// The stdout file and, unless merged, the stderr file of an app.
pub fn paths(spec: &LogSpec, dir: &AppDir) -> (std::path::PathBuf, Option<std::path::PathBuf>) {
    let out = spec
        .out_file
        .clone()
        .unwrap_or_else(|| dir.logs_dir().join("out.log"));
    let err = (!spec.merge).then(|| {
        spec.error_file
            .clone()
            .unwrap_or_else(|| dir.logs_dir().join("err.log"))
    });
    (out, err)
}

/// The timestamp format of a spec, if lines get one.
pub fn stamp(spec: &LogSpec) -> Option<DateFormat> {
    spec.time.then(|| {
        spec.date_format
            .as_deref()
            .map_or_else(DateFormat::rfc3339, DateFormat::parse)
    })
}
