//! `tpctl logs`, `tpctl flush` and `tpctl reload-logs`.
//!
//! `logs` reads the files the keepers write, so it works whether or not an app is running. In
//! follow mode it notices rotation (the path's inode changes: the old file is read to its end
//! first), flushes (the file shrinks: start again from the top) and, for `all`, apps started
//! after it began.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{CommandError, Ctx, Outcome, targets};
use crate::cli::LogsArgs;
use crate::client::{self, ClientError};
use crate::keeper::logs::paths;
use crate::keeper::now_ms;
use crate::proto::{Request, Response};
use crate::render;

/// How often a follower looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// How often `logs all -f` looks for new apps.
const RESCAN: Duration = Duration::from_secs(1);

/// One log file of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) app: String,
    pub(crate) stream: &'static str,
    pub(crate) path: PathBuf,
}

/// The files behind the given apps, stdout before stderr.
fn sources(ctx: &Ctx, ids: &[String], args: &LogsArgs) -> Vec<Source> {
    sources_of(&ctx.home, ids, !args.err, !args.out)
}

/// The files behind the given apps: their stdout (`out`), their stderr (`err`).
pub(crate) fn sources_of(
    home: &crate::home::Home,
    ids: &[String],
    out_too: bool,
    err_too: bool,
) -> Vec<Source> {
    let mut out = Vec::new();
    for id in ids {
        let Some(spec) = targets::saved_spec(home, id) else {
            continue;
        };
        let (out_path, err_path) = paths(&spec.logs, &home.app(id));
        if out_too {
            let stream = if err_path.is_none() { "out+err" } else { "out" };
            out.push(Source {
                app: id.clone(),
                stream,
                path: out_path,
            });
        }
        if let Some(p) = err_path.filter(|_| err_too) {
            out.push(Source {
                app: id.clone(),
                stream: "err",
                path: p,
            });
        }
    }
    out
}

fn resolve(ctx: &Ctx, targets: &[String]) -> Result<Vec<String>, CommandError> {
    if targets.is_empty() {
        targets::ids(&ctx.home, &["all".to_string()])
    } else {
        targets::ids(&ctx.home, targets)
    }
}

/// `tpctl logs [NAME...|all]`.
pub fn logs(ctx: &Ctx, args: &LogsArgs) -> Result<Outcome, CommandError> {
    let ids = resolve(ctx, &args.targets)?;
    let follow = args.follow || (!args.nostream && std::io::stdout().is_terminal());
    if ids.is_empty() {
        eprintln!(
            "no apps in {} yet{}: start some with `tpctl start`",
            ctx.home.root().display(),
            if follow {
                " (waiting for their output)"
            } else {
                ""
            }
        );
    }
    let mut printer = Printer::new(ctx, args);
    let mut srcs = sources(ctx, &ids, args);
    printer.widen(&srcs);
    let mut backlog = Vec::new();
    for s in &srcs {
        match last_lines_at(&s.path, args.lines) {
            Ok(lines) => backlog.push((s, lines)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("tpctl logs: cannot read {}: {e}", s.path.display()),
        }
    }
    for (s, at, l) in in_arrival_order(backlog) {
        printer.line(s, &l, at);
    }
    let _ = printer.flush();
    if !follow {
        return Ok(Outcome::Success);
    }
    let every_app = args.targets.is_empty() || args.targets.iter().any(|t| t == "all");
    let mut followers: Vec<Follower> = srcs
        .iter()
        .cloned()
        .map(|s| Follower::new(s, true))
        .collect();
    let mut last_scan = Instant::now();
    loop {
        std::thread::sleep(FOLLOW_POLL);
        if every_app && last_scan.elapsed() >= RESCAN {
            last_scan = Instant::now();
            if let Ok(ids) = resolve(ctx, &[]) {
                for s in sources(ctx, &ids, args) {
                    if !srcs.contains(&s) {
                        printer.widen(std::slice::from_ref(&s));
                        srcs.push(s.clone());
                        // A new app: everything it wrote so far is new to us.
                        followers.push(Follower::new(s, false));
                    }
                }
            }
        }
        for (s, at, line) in poll_in_order(&mut followers) {
            // A line from a file rotated away has lost its index: it arrived about now.
            printer.line(&s, &line, Some(at.unwrap_or_else(now_ms)));
        }
        if printer.flush().is_err() {
            // Our reader went away (`| head`): done.
            return Ok(Outcome::Success);
        }
    }
}

/// A line with the byte offset it starts at in its file.
pub(crate) type Placed = (u64, Vec<u8>);

/// A line, where it came from, and when it arrived if known.
pub(crate) type Arrived<'a> = (&'a Source, Option<u64>, Vec<u8>);

/// What every follower has new, in the order it arrived.
pub(crate) fn poll_in_order(followers: &mut [Follower]) -> Vec<(Source, Option<u64>, Vec<u8>)> {
    let polled: Vec<(Source, Vec<Placed>)> = followers
        .iter_mut()
        .map(|f| (f.source.clone(), f.poll_at()))
        .collect();
    let batches = polled.iter().map(|(s, l)| (s, l.clone())).collect();
    in_arrival_order(batches)
        .into_iter()
        .map(|(s, at, l)| (s.clone(), at, l))
        .collect()
}

/// The last `n` lines of a file, reading backwards in blocks, with the byte offset each
/// starts at.
pub(crate) fn last_lines_at(path: &PathBuf, n: usize) -> io::Result<Vec<Placed>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if n == 0 || len == 0 {
        return Ok(vec![]);
    }
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    const BLOCK: u64 = 64 * 1024;
    // Stop once the buffer holds n newlines before its last byte (n whole lines), or at the top.
    while pos > 0 && memchr::memchr_iter(b'\n', &buf[..buf.len().saturating_sub(1)]).count() < n {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        pos = start;
    }
    let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
    // Having stopped at n newlines, a partial first line (we started mid-file) is beyond n.
    let mut end = pos + body.len() as u64;
    let mut lines: Vec<Placed> = body
        .rsplit(|b| *b == b'\n')
        .take(n)
        .map(|l| {
            let start = end - l.len() as u64;
            end = start.saturating_sub(1);
            (start, l.to_vec())
        })
        .collect();
    lines.reverse();
    Ok(lines)
}

/// Lines from several files in the order they arrived, by the keeper's index of arrival times
/// (`logtimes`); a file without one keeps its place after the others, in its own order.
/// Each line comes with its arrival time when known.
pub(crate) fn in_arrival_order(batches: Vec<(&Source, Vec<Placed>)>) -> Vec<Arrived<'_>> {
    let mut out: Vec<Arrived> = Vec::new();
    for (src, lines) in batches {
        if lines.is_empty() {
            continue;
        }
        let index = crate::logtimes::Index::read(&src.path);
        for (offset, line) in lines {
            let at = index.as_ref().and_then(|i| i.at(offset));
            out.push((src, at, line));
        }
    }
    // Stable: lines of one time keep their file order; untimed lines sort last.
    out.sort_by_key(|(_, at, _)| at.unwrap_or(u64::MAX));
    out
}

/// Follows one file across appends, rotation and truncation.
pub(crate) struct Follower {
    pub(crate) source: Source,
    file: Option<File>,
    inode: u64,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Follows `source` from its current end, or from its start (an app that just appeared).
    pub(crate) fn new(source: Source, at_end: bool) -> Follower {
        let mut f = Follower {
            source,
            file: None,
            inode: 0,
            offset: 0,
            partial: Vec::new(),
        };
        f.open(at_end);
        f
    }

    fn open(&mut self, at_end: bool) {
        if let Ok(file) = File::open(&self.source.path)
            && let Ok(meta) = file.metadata()
        {
            self.inode = meta.ino();
            self.offset = if at_end { meta.len() } else { 0 };
            self.file = Some(file);
        }
    }

    /// New whole lines since the last poll, each with the offset it starts at in its file.
    pub(crate) fn poll_at(&mut self) -> Vec<Placed> {
        let mut lines = Vec::new();
        if self.file.is_none() {
            self.open(false);
        }
        self.read_new(&mut lines);
        // Rotated: the path now names another file. Finish the old one, then switch.
        if let Ok(meta) = std::fs::metadata(&self.source.path)
            && meta.ino() != self.inode
        {
            self.read_new(&mut lines);
            self.flush_partial(&mut lines);
            self.file = None;
            self.open(false);
            self.read_new(&mut lines);
        }
        lines
    }

    fn read_new(&mut self, lines: &mut Vec<Placed>) {
        let Some(file) = &mut self.file else { return };
        let len = file.metadata().map_or(self.offset, |m| m.len());
        if len < self.offset {
            // Flushed (truncated): what is there now is new.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut chunk = Vec::new();
        if let Ok(n) = file.take(len - self.offset).read_to_end(&mut chunk) {
            self.offset += n as u64;
        }
        self.partial.extend_from_slice(&chunk);
        if let Some(last) = memchr::memrchr(b'\n', &self.partial) {
            let mut at = self.partial_start();
            let rest = self.partial.split_off(last + 1);
            let whole = std::mem::replace(&mut self.partial, rest);
            for l in whole[..whole.len() - 1].split(|b| *b == b'\n') {
                lines.push((at, l.to_vec()));
                at += l.len() as u64 + 1;
            }
        }
    }

    /// Where in the file the unfinished line we hold begins.
    fn partial_start(&self) -> u64 {
        self.offset - self.partial.len() as u64
    }

    fn flush_partial(&mut self, lines: &mut Vec<Placed>) {
        if !self.partial.is_empty() {
            let at = self.partial_start();
            lines.push((at, std::mem::take(&mut self.partial)));
        }
    }
}

/// One line of `logs --json`.
#[derive(Serialize)]
struct JsonLine<'a> {
    app: &'a str,
    stream: &'a str,
    /// When the keeper received the line (its index of arrival times), or the time stored at
    /// its start (`time = true` with the default format); null for a file without an index.
    time: Option<String>,
    line: String,
}

/// Formats and buffers output lines.
struct Printer {
    out: io::BufWriter<io::Stdout>,
    json: bool,
    color: bool,
    timestamp: bool,
    width: usize,
}

impl Printer {
    fn new(ctx: &Ctx, args: &LogsArgs) -> Printer {
        Printer {
            out: io::BufWriter::new(io::stdout()),
            json: args.json,
            color: ctx.color,
            timestamp: args.timestamp,
            width: 0,
        }
    }

    fn widen(&mut self, srcs: &[Source]) {
        self.width = srcs
            .iter()
            .map(|s| s.app.len())
            .max()
            .unwrap_or(0)
            .max(self.width);
    }

    fn line(&mut self, s: &Source, line: &[u8], read_at: Option<u64>) {
        let result = if self.json {
            let text = String::from_utf8_lossy(line).into_owned();
            let time = stored_time(&text)
                .map(str::to_string)
                .or_else(|| read_at.map(render::rfc3339_millis));
            let j = JsonLine {
                app: &s.app,
                stream: s.stream,
                time,
                line: text,
            };
            serde_json::to_writer(&mut self.out, &j)
                .map_err(io::Error::other)
                .and_then(|()| self.out.write_all(b"\n"))
        } else {
            let mut prefix = super::run::prefix(&s.app, self.width, self.color);
            if s.stream == "err" {
                prefix = prefix.replacen('|', "!", 1);
            }
            // A line the keeper stamped (`time = true`) already says when: never twice.
            if self.timestamp && stored_time(&String::from_utf8_lossy(line)).is_none() {
                prefix = format!(
                    "{} {prefix}",
                    render::rfc3339_millis(read_at.unwrap_or_else(now_ms))
                );
            }
            self.out
                .write_all(prefix.as_bytes())
                .and_then(|()| self.out.write_all(line))
                .and_then(|()| self.out.write_all(b"\n"))
        };
        let _ = result;
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `2026-11-28T12:34:56.789Z` at the start of a line (`time = true`, default format).
pub(crate) fn stored_time(line: &str) -> Option<&str> {
    let t = line.get(..24)?;
    let b = t.as_bytes();
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    (shape
        && t.bytes()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23) || c.is_ascii_digit()))
    .then_some(t)
}

/// `tpctl flush [NAME...|all]`.
pub fn flush(ctx: &Ctx, t: &crate::cli::Targets) -> Result<Outcome, CommandError> {
    let args = targets::args_of(t);
    // Emptying logs loses them: as stop and delete, it wants its apps named, `all` included.
    if args.is_empty() {
        return Err(CommandError::Usage(
            "no apps given: name the apps whose logs to empty, or `tpctl flush all` for every app"
                .into(),
        ));
    }
    let ids = targets::ids(&ctx.home, &args)?;
    let ids = targets::keep_only_ids(&ctx.home, ids, &t.only)?;
    let answers = client::broadcast(
        ids.iter()
            .map(|id| (ctx.home.app(id), Request::FlushLogs))
            .collect(),
        Duration::from_secs(5),
    );
    let mut outcome = Outcome::Success;
    for (id, answer) in ids.iter().zip(answers) {
        let result = match answer {
            Ok(Response::Status { .. }) => Ok(()),
            Ok(Response::Error { message }) => Err(message),
            Ok(other) => Err(format!("unexpected answer: {other:?}")),
            // No keeper: empty the files ourselves, under the app's lock so none starts meanwhile.
            Err(ClientError::NotRunning) => flush_offline(ctx, id),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => crate::say!("✓ {id}: logs emptied"),
            Err(e) => {
                println!("✗ {id}: {e}");
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}

fn flush_offline(ctx: &Ctx, id: &str) -> Result<(), String> {
    let dir = ctx.home.app(id);
    let _lock = dir
        .lock_within(Duration::from_secs(2))
        .map_err(|e| e.to_string())?
        .ok_or("its keeper is starting; try again")?;
    let spec = targets::saved_spec(&ctx.home, id).ok_or("no saved settings")?;
    let (out, err) = paths(&spec.logs, &dir);
    for p in std::iter::once(out).chain(err) {
        let rotated = crate::keeper::logfile::rotated_files(&p).map_err(|e| e.to_string())?;
        for f in rotated {
            std::fs::remove_file(&f).map_err(|e| format!("cannot remove {}: {e}", f.display()))?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot empty {}: {e}", p.display())),
        }
    }
    Ok(())
}

/// `tpctl reload-logs`: every live keeper reopens its files by name.
pub fn reload(ctx: &Ctx) -> Result<Outcome, CommandError> {
    let ids = resolve(ctx, &[])?;
    let answers = client::broadcast(
        ids.iter()
            .map(|id| (ctx.home.app(id), Request::ReopenLogs))
            .collect(),
        Duration::from_secs(5),
    );
    let mut reopened = 0;
    let mut outcome = Outcome::Success;
    for (id, answer) in ids.iter().zip(answers) {
        match answer {
            Ok(Response::Status { .. }) => reopened += 1,
            Err(ClientError::NotRunning) => {}
            other => {
                println!("✗ {id}: {other:?}");
                outcome = Outcome::Failed;
            }
        }
    }
    crate::say!(
        "{} reopened {} log files",
        crate::render::count(reopened, "running app"),
        if reopened == 1 { "its" } else { "their" }
    );
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_reads_backwards_across_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("out.log");
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, &text).expect("write");
        let got = last_lines_at(&p, 3).expect("read");
        let offset =
            |i: usize| text[..text.find(&format!("line {i}\n")).expect("line")].len() as u64;
        assert_eq!(
            got,
            vec![
                (offset(19997), b"line 19997".to_vec()),
                (offset(19998), b"line 19998".to_vec()),
                (offset(19999), b"line 19999".to_vec())
            ]
        );
        let all = last_lines_at(&p, 30_000).expect("all");
        assert_eq!(all.len(), 20_000);
        assert_eq!(all[0], (0, b"line 0".to_vec()));
        std::fs::write(&p, "only\n").expect("write");
        assert_eq!(
            last_lines_at(&p, 15).expect("one"),
            vec![(0, b"only".to_vec())]
        );
        // A last line still being written counts, from where it starts.
        std::fs::write(&p, "one\ntwo").expect("write");
        assert_eq!(
            last_lines_at(&p, 15).expect("two"),
            vec![(0, b"one".to_vec()), (4, b"two".to_vec())]
        );
    }

    #[test]
    fn stored_times_are_recognised() {
        assert_eq!(
            stored_time("2026-11-28T12:34:56.789Z hello"),
            Some("2026-11-28T12:34:56.789Z")
        );
        assert_eq!(stored_time("hello 2026-11-28T12:34:56.789Z"), None);
        assert_eq!(stored_time("short"), None);
    }
}
