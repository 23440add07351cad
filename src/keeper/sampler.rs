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
        }
    }

    /// Forgets the CPU baseline (a new run started).
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// Reads the tree rooted at `pid`; `None` when the root is gone.
    pub fn sample(&mut self, pid: i32, now: Instant) -> Option<Sample> {
        let mut stack = vec![pid];
        let mut rss_pages = 0u64;
        let mut ticks = 0u64;
        let mut processes = 0usize;
        let mut root_seen = false;
        while let Some(p) = stack.pop() {
            let Some((rss, cpu)) = read_stat(p) else {
                continue;
            };
            root_seen |= p == pid;
            processes += 1;
            rss_pages += rss;
            ticks += cpu;
            push_children(p, &mut stack);
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
        Some(Sample {
            rss_bytes: rss_pages * self.page_size,
            cpu_percent,
            processes,
        })
    }
}

/// (resident pages, utime + stime ticks) from /proc/<pid>/stat.
fn read_stat(pid: i32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After ')': state is field 3 of the man page, so man field N is index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let rss: i64 = fields.get(21)?.parse().ok()?;
    Some((rss.max(0) as u64, utime + stime))
}

fn push_children(pid: i32, stack: &mut Vec<i32>) {
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
