//! When each line of a log file arrived, stored once by the keeper beside the file
//! (`out.log.times`): 16-byte records (little-endian byte offset in the log where a write
//! began, ms since the Unix epoch), one per write whose millisecond differs from the last.
//! `tpctl logs` and monit use it to merge stdout and stderr in the order the lines came and to
//! show when they came, instead of when they were read. Only the live file has an index: a
//! rotation starts a new one.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const RECORD: usize = 16;

/// The index file of a log file.
pub fn path_of(log: &Path) -> PathBuf {
    let mut p = log.as_os_str().to_owned();
    p.push(".times");
    PathBuf::from(p)
}

/// Appends one record; a short or failed write is the caller's to count, never fatal.
pub fn record(file: &mut File, offset: u64, ms: u64) -> io::Result<()> {
    let mut rec = [0u8; RECORD];
    rec[..8].copy_from_slice(&offset.to_le_bytes());
    rec[8..].copy_from_slice(&ms.to_le_bytes());
    file.write_all(&rec)
}

/// The arrival times of one log file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index(Vec<(u64, u64)>);

impl Index {
    /// Reads the index of `log`; `None` when there is none (an app started by an older keeper,
    /// an external file). A record cut short by a crash is ignored.
    pub fn read(log: &Path) -> Option<Index> {
        let mut bytes = Vec::new();
        File::open(path_of(log))
            .ok()?
            .read_to_end(&mut bytes)
            .ok()?;
        let mut out = Vec::with_capacity(bytes.len() / RECORD);
        for rec in bytes.chunks_exact(RECORD) {
            let offset = u64::from_le_bytes(rec[..8].try_into().ok()?);
            let ms = u64::from_le_bytes(rec[8..].try_into().ok()?);
            // Offsets only grow; anything else is a file truncated and written again.
            if out.last().is_some_and(|(o, _)| *o > offset) {
                out.clear();
            }
            out.push((offset, ms));
        }
        Some(Index(out))
    }

    /// When the line starting at byte `offset` arrived: the time of the last write that began
    /// at or before it.
    pub fn at(&self, offset: u64) -> Option<u64> {
        let i = self.0.partition_point(|(o, _)| *o <= offset);
        i.checked_sub(1).map(|i| self.0[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gets_the_time_of_the_write_it_came_in() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("out.log");
        let mut f = File::create(path_of(&log)).expect("create");
        record(&mut f, 0, 1_000).expect("write");
        record(&mut f, 300, 1_005).expect("write");
        // A crash mid-record leaves a few bytes: ignored.
        f.write_all(&[1, 2, 3]).expect("write");
        let idx = Index::read(&log).expect("index");
        assert_eq!(idx.at(0), Some(1_000));
        assert_eq!(idx.at(299), Some(1_000));
        assert_eq!(idx.at(300), Some(1_005));
        assert_eq!(idx.at(10_000), Some(1_005));
        assert_eq!(Index::read(&dir.path().join("none.log")), None);
    }
}
