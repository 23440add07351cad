//! One log file: appends whole lines, rotates by size (rename and reopen, never copy-truncate),
//! and never lets a failing disk block the app: what cannot be written is counted, and a marker
//! line says how much was lost as soon as writing works again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// When and how a file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the file past this size; 0 disables rotation.
    pub max_size: u64,
    /// Rotated files kept (`out.log.1` ... `out.log.N`).
    pub keep: u32,
    /// Gzip rotated files (`out.log.1.gz`).
    pub compress: bool,
}

/// A log file the keeper appends to.
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    rotation: Rotation,
    /// Bytes lost since the last successful write, waiting for their marker line.
    pending_drop: u64,
    last_error: Option<String>,
    /// Bytes lost over the file's life.
    pub dropped_total: u64,
    /// The last write ended in the middle of a line (a failed write cut it).
    mid_line: bool,
    /// The compression of the last rotated file, if still running.
    compressing: Option<std::thread::JoinHandle<()>>,
    /// The arrival-time index beside the file (`logtimes`), and the ms of its last record.
    times: Option<File>,
    last_ms: u64,
}

impl LogFile {
    /// Opens (creating, 0640) `path` for appending. A file that cannot be opened now is retried
    /// on every write; meanwhile output is counted as dropped.
    pub fn open(path: PathBuf, rotation: Rotation) -> LogFile {
        let mut lf = LogFile {
            path,
            file: None,
            size: 0,
            rotation,
            pending_drop: 0,
            last_error: None,
            dropped_total: 0,
            mid_line: false,
            compressing: None,
            times: None,
            last_ms: 0,
        };
        lf.ensure_open();
        lf
    }

    fn ensure_open(&mut self) -> bool {
        if self.file.is_some() {
            return true;
        }
        if let Some(parent) = self.path.parent() {
            let _ = fs::create_dir_all(parent);
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&self.path)
        {
            Ok(f) => {
                self.size = f.metadata().map_or(0, |m| m.len());
                self.file = Some(f);
                self.times = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o640)
                    .open(crate::logtimes::path_of(&self.path))
                    .ok();
                self.last_ms = 0;
                true
            }
            Err(e) => {
                self.last_error = Some(format!("cannot open {}: {e}", self.path.display()));
                false
            }
        }
    }

    /// Appends whole lines. Never blocks on a failing disk and never fails: losses are counted.
    pub fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.rotation.max_size > 0
            && self.size > 0
            && self.size + bytes.len() as u64 > self.rotation.max_size
        {
            self.rotate();
        }
        if !self.ensure_open() {
            self.drop_bytes(bytes.len() as u64);
            return;
        }
        if self.pending_drop > 0 && !self.write_marker() {
            self.drop_bytes(bytes.len() as u64);
            return;
        }
        self.note_time();
        let written = self.write_raw(bytes);
        if written < bytes.len() {
            self.mid_line = written > 0;
            self.drop_bytes((bytes.len() - written) as u64);
        }
    }

    /// Records when the next write arrives, once per millisecond. A failed record costs only
    /// that write's time, never its bytes.
    fn note_time(&mut self) {
        let ms = super::now_ms();
        if ms != self.last_ms
            && let Some(t) = &mut self.times
            && crate::logtimes::record(t, self.size, ms).is_ok()
        {
            self.last_ms = ms;
        }
    }

    /// Writes as much as the file takes; returns how many bytes went in.
    fn write_raw(&mut self, bytes: &[u8]) -> usize {
        let Some(file) = &mut self.file else { return 0 };
        let mut done = 0;
        while done < bytes.len() {
            match file.write(&bytes[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.last_error = Some(format!("cannot write {}: {e}", self.path.display()));
                    break;
                }
            }
        }
        self.size += done as u64;
        done
    }

    fn drop_bytes(&mut self, n: u64) {
        self.pending_drop += n;
        self.dropped_total += n;
    }

    /// Says how much was lost; true when the marker itself could be written.
    fn write_marker(&mut self) -> bool {
        let reason = self
            .last_error
            .clone()
            .unwrap_or_else(|| "write failed".into());
        let lead = if self.mid_line { "\n" } else { "" };
        let marker = format!(
            "{lead}[tpctl] {} bytes of output were dropped ({reason})\n",
            self.pending_drop
        );
        if self.write_raw(marker.as_bytes()) == marker.len() {
            self.pending_drop = 0;
            self.mid_line = false;
            true
        } else {
            false
        }
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames `path` to `path.1` (shifting older ones, dropping beyond `keep`) and reopens.
    pub fn rotate(&mut self) {
        self.file = None;
        // The index describes the live file only: the new file starts a new one.
        self.times = None;
        let _ = fs::remove_file(crate::logtimes::path_of(&self.path));
        // Shifting names under a running compression would compress the wrong file.
        if let Some(previous) = self.compressing.take() {
            let _ = previous.join();
        }
        let keep = self.rotation.keep;
        let ext = if self.rotation.compress { ".gz" } else { "" };
        let numbered =
            |i: u32, ext: &str| PathBuf::from(format!("{}.{i}{ext}", self.path.display()));
        if keep == 0 {
            let _ = fs::remove_file(&self.path);
        } else {
            // Each rename replaces its target atomically, so the oldest copy is dropped by
            // being overwritten, and no numbered file is ever missing to a reader.
            for i in (1..keep).rev() {
                let _ = fs::rename(numbered(i, ext), numbered(i + 1, ext));
            }
            let first = numbered(1, "");
            if fs::rename(&self.path, &first).is_ok() && self.rotation.compress {
                self.compressing = compress_in_background(first);
            }
        }
        self.size = 0;
        self.ensure_open();
    }

    /// Reopens the file by name (after an external logrotate moved it).
    pub fn reopen(&mut self) {
        self.file = None;
        self.times = None;
        self.ensure_open();
    }

    /// Empties the file and removes its rotated copies while the app keeps writing.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(f) = &self.file {
            // O_APPEND writes continue at the new end, so nothing is written into a hole.
            f.set_len(0)?;
            if let Some(t) = &self.times {
                t.set_len(0)?;
            }
            self.last_ms = 0;
        } else {
            let _ = fs::remove_file(&self.path);
        }
        self.size = 0;
        for entry in rotated_files(&self.path)? {
            fs::remove_file(entry)?;
        }
        self.ensure_open();
        Ok(())
    }
}

/// `path.1`, `path.2.gz`, ...: the rotated copies of `path`.
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(vec![]);
    };
    let prefix = format!("{name}.");
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                let Some(n) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if let Some(rest) = n.strip_prefix(&prefix)
                    && rest.trim_end_matches(".gz").parse::<u32>().is_ok()
                {
                    out.push(e.path());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort();
    Ok(out)
}

/// Gzips a rotated file off the event loop: a 10 MiB file takes ~100 ms to compress, which the
/// app's pipe must not wait for.
fn compress_in_background(path: PathBuf) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("gzip".into())
        .spawn(move || {
            let gz = PathBuf::from(format!("{}.gz", path.display()));
            let result = (|| -> io::Result<()> {
                let mut input = File::open(&path)?;
                let out = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .mode(0o640)
                    .open(&gz)?;
                let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
                io::copy(&mut input, &mut enc)?;
                enc.finish()?;
                fs::remove_file(&path)
            })();
            if let Err(e) = result {
                tracing::warn!(file = %path.display(), error = %e, "cannot compress rotated log");
                let _ = fs::remove_file(&gz);
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_keeping_n_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.log");
        let mut f = LogFile::open(
            path.clone(),
            Rotation {
                max_size: 100,
                keep: 2,
                compress: false,
            },
        );
        for i in 0..10 {
            f.write(format!("line {i:03} {}\n", "x".repeat(30)).as_bytes());
        }
        // 40-byte lines, 100-byte files: two lines per file, ten lines, the current file and two kept.
        let current = fs::read_to_string(&path).expect("current");
        assert_eq!(current.lines().count(), 2);
        assert!(current.starts_with("line 008"));
        assert!(
            fs::read_to_string(dir.path().join("out.log.1"))
                .expect("1")
                .starts_with("line 006")
        );
        assert!(
            fs::read_to_string(dir.path().join("out.log.2"))
                .expect("2")
                .starts_with("line 004")
        );
        assert!(!dir.path().join("out.log.3").exists());
        assert_eq!(rotated_files(&path).expect("list").len(), 2);
    }

    #[test]
    fn rotated_files_can_be_gzipped() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.log");
        let mut f = LogFile::open(
            path.clone(),
            Rotation {
                max_size: 20,
                keep: 2,
                compress: true,
            },
        );
        f.write(b"first file, long line\n");
        f.write(b"second\n");
        if let Some(h) = f.compressing.take() {
            h.join().expect("gzip thread");
        }
        let gz = dir.path().join("out.log.1.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&gz).expect("gz exists"))
            .read_to_string(&mut text)
            .expect("gunzip");
        assert_eq!(text, "first file, long line\n");
        assert!(!dir.path().join("out.log.1").exists());
        assert_eq!(fs::read(&path).expect("current"), b"second\n");
    }

    #[test]
    fn flush_empties_the_file_and_removes_rotated_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("err.log");
        let mut f = LogFile::open(
            path.clone(),
            Rotation {
                max_size: 10,
                keep: 3,
                compress: false,
            },
        );
        f.write(b"0123456789\n");
        f.write(b"abc\n");
        f.flush().expect("flush");
        f.write(b"after\n");
        assert_eq!(fs::read(&path).expect("read"), b"after\n");
        assert!(rotated_files(&path).expect("list").is_empty());
    }
}
