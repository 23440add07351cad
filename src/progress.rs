//! Live progress lines for commands that act on several apps: one line per app until it is
//! online or stopped, with the graceful-stop countdown. Drawn on stderr, and only when it is a
//! terminal and `--quiet` was not given: piped output stays plain.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{self, ClientError};
use crate::home::AppDir;
use crate::proto::{Request, Response};

/// Whether progress lines may be drawn.
pub fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal() && std::env::var_os("TPCTL_NO_PROGRESS").is_none()
}

/// Sends the requests like `client::broadcast`, showing a line per app meanwhile. `label` is
/// what is happening ("stopping"); `countdown[i]` is app i's kill_timeout, for stops.
pub fn broadcast(
    ids: &[String],
    items: Vec<(AppDir, Request)>,
    timeout: Duration,
    label: &str,
    countdown: Option<&[Duration]>,
    show: bool,
) -> Vec<Result<Response, ClientError>> {
    // One app gets its line too: a single stop may wait minutes for its kill_timeout, and
    // must not look hung meanwhile.
    if !show || ids.is_empty() {
        return client::broadcast(items, timeout);
    }
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let width = ids.iter().map(String::len).max().unwrap_or(0);
    let bars: Vec<ProgressBar> = ids
        .iter()
        .map(|id| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(format!("{id:<width$}"));
            bar.set_message(label.to_string());
            bar
        })
        .collect();
    let start = Instant::now();
    let (tx, rx) = mpsc::channel::<usize>();
    let results = std::thread::scope(|scope| {
        let tx = std::sync::Mutex::new(tx);
        let worker = scope.spawn(move || {
            client::broadcast_notify(items, timeout, &|i| {
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send(i);
                }
            })
        });
        let mut left = ids.len();
        while left > 0 && !worker.is_finished() {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(i) => {
                    if let Some(b) = bars.get(i) {
                        b.finish_with_message("done");
                    }
                    left -= 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let elapsed = start.elapsed();
                    for (i, b) in bars.iter().enumerate().filter(|(_, b)| !b.is_finished()) {
                        let msg = match countdown.and_then(|c| c.get(i)) {
                            Some(limit) if *limit > elapsed => format!(
                                "{label}… SIGKILL in {}",
                                crate::render::duration_ms(
                                    (*limit - elapsed).as_millis() as u64 / 1000 * 1000 + 1000
                                )
                            ),
                            Some(_) => format!("{label}… SIGKILL sent"),
                            None => format!("{label}…"),
                        };
                        b.set_message(msg);
                        b.tick();
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    for b in &bars {
        b.finish_and_clear();
    }
    let _ = multi.clear();
    results
}
