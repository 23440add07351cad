//! Resident memory and CPU of an app's whole process tree, read from /proc.
//!
//! The tree is walked from the main pid through every thread's `children` file, so a worker's
//! child processes count against its memory limit (PM2 only looks at the main pid).

use std::fs;
use std::time::Instant;

/// One reading of the tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub rss_bytes: u64,
    /// Share of one core used since the previous sample, in percent.
    pub cpu_percent: Option<f64>,
    pub processes: usize,
}

/// Samples one process tree, remembering the previous CPU reading to turn ticks into percent.
pub struct Sampler {
    page_size: u64,
    ticks_per_sec: f64,
    previous: Option<(Instant, u64)>,
    /// CPU seconds of the runs before this one, and the most this run's tree has shown: the
    /// total only grows, though a child that exits takes its ticks with it.
    cpu_before: f64,
    cpu_this_run: f64,
    /// The root's /proc files, kept open: a sample of a single process is two preads.
    root: Option<RootFiles>,
}

struct RootFiles {
    pid: i32,
    stat: fs::File,
    children: fs::File,
}

impl RootFiles {
    fn open(pid: i32) -> Option<RootFiles> {
        Some(RootFiles {
            pid,
            stat: fs::File::open(format!("/proc/{pid}/stat")).ok()?,
            children: fs::File::open(format!("/proc/{pid}/task/{pid}/children")).ok()?,
        })
    }
}

/// Reads a small /proc file from the start into `buf`; `None` if it does not fit or is gone.
fn pread<'b>(file: &fs::File, buf: &'b mut [u8]) -> Option<&'b str> {
    use std::os::unix::fs::FileExt;
    let n = file.read_at(buf, 0).ok()?;
    if n == buf.len() {
        return None;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    pub fn new() -> Sampler {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Sampler {
            page_size: if page_size > 0 {
                page_size as u64
            } else {
                4096
            },
            ticks_per_sec: if ticks > 0 { ticks as f64 } else { 100.0 },
            previous: None,
            cpu_before: 0.0,
            cpu_this_run: 0.0,
            root: None,
        }
    }

    /// Forgets the CPU baseline (a new run started); the last run's CPU time stays counted.
    pub fn reset(&mut self) {
        self.previous = None;
        self.cpu_before += self.cpu_this_run;
        self.cpu_this_run = 0.0;
    }

    /// CPU seconds used by every run this keeper supervised: a counter for `/metrics`.
    pub fn cpu_seconds_total(&self) -> f64 {
        self.cpu_before + self.cpu_this_run
    }

    /// Reads the tree rooted at `pid`; `None` when the root is gone.
    pub fn sample(&mut self, pid: i32, now: Instant) -> Option<Sample> {
        let mut stack = vec![pid];
        let mut rss_pages = 0u64;
        let mut ticks = 0u64;
        let mut processes = 0usize;
        let mut root_seen = false;
        if self.root.as_ref().is_none_or(|r| r.pid != pid) {
            self.root = RootFiles::open(pid);
        }
        let mut buf = [0u8; 4096];
        while let Some(p) = stack.pop() {
            if p == pid
                && let Some(root) = &self.root
            {
                // The common case, one process: two preads on files kept open.
                let Some(stat) = pread(&root.stat, &mut buf).and_then(parse_stat) else {
                    self.root = None;
                    continue;
                };
                root_seen = true;
                processes += 1;
                rss_pages += stat.rss_pages;
                ticks += stat.cpu_ticks;
                match (stat.threads <= 1)
                    .then(|| pread(&root.children, &mut buf))
                    .flatten()
                {
                    Some(children) => stack.extend(
                        children
                            .split_ascii_whitespace()
                            .filter_map(|c| c.parse::<i32>().ok()),
                    ),
                    None => push_children(p, stat.threads, &mut stack),
                }
                continue;
            }
            let Some(stat) = read_stat(p) else {
                continue;
            };
            root_seen |= p == pid;
            processes += 1;
            rss_pages += stat.rss_pages;
            ticks += stat.cpu_ticks;
            push_children(p, stat.threads, &mut stack);
            if processes > 4096 {
                break; // a fork bomb should not stall the keeper
            }
        }
        if !root_seen {
            return None;
        }
        let cpu_percent = self.previous.and_then(|(t0, ticks0)| {
            let secs = now.saturating_duration_since(t0).as_secs_f64();
            (secs > 0.0)
                .then(|| ticks.saturating_sub(ticks0) as f64 / self.ticks_per_sec / secs * 100.0)
        });
        self.previous = Some((now, ticks));
        self.cpu_this_run = self.cpu_this_run.max(ticks as f64 / self.ticks_per_sec);
        Some(Sample {
            rss_bytes: rss_pages * self.page_size,
            cpu_percent,
            processes,
        })
    }
}

/// The pids of the process tree rooted at `pid`, the root first (at most 4096).
pub fn tree(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Some(stat) = read_stat(p) else {
            continue;
        };
        out.push(p);
        push_children(p, stat.threads, &mut stack);
        if out.len() >= 4096 {
            break;
        }
    }
    out
}

/// What the sampler reads from /proc/<pid>/stat.
struct Stat {
    rss_pages: u64,
    cpu_ticks: u64,
    threads: u64,
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After ')': state is field 3 of the man page, so man field N is index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let threads: u64 = fields.get(17)?.parse().ok()?;
    let rss: i64 = fields.get(21)?.parse().ok()?;
    Some(Stat {
        rss_pages: rss.max(0) as u64,
        cpu_ticks: utime + stime,
        threads,
    })
}

/// Children are listed per thread; a single-threaded process has one list to read.
fn push_children(pid: i32, threads: u64, stack: &mut Vec<i32>) {
    if threads <= 1 {
        if let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            stack.extend(
                children
                    .split_ascii_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
        return;
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Ok(children) = fs::read_to_string(task.path().join("children")) {
            stack.extend(
                children
                    .split_ascii_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_own_process_with_memory_and_then_cpu() {
        let mut s = Sampler::new();
        let me = std::process::id() as i32;
        let first = s
            .sample(me, Instant::now())
            .expect("own process is readable");
        assert!(first.rss_bytes > 0);
        assert!(first.cpu_percent.is_none());
        let second = s
            .sample(me, Instant::now() + std::time::Duration::from_millis(10))
            .expect("sample");
        assert!(second.cpu_percent.is_some());
    }

    #[test]
    fn missing_process_gives_none() {
        assert!(
            Sampler::new()
                .sample(i32::MAX - 7, Instant::now())
                .is_none()
        );
    }
}
