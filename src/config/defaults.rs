//! Every default value of ecosystem.toml, in one place (README's key table mirrors this file).

use std::time::Duration;

/// Consecutive runs shorter than `min_uptime` before an app is `errored` (PM2's default).
pub const MAX_RESTARTS: u32 = 16;
/// A run at least this long counts as stable: it resets the crash-loop count and the back-off.
pub const MIN_UPTIME: Duration = Duration::from_secs(1);
/// TestPlanIt's Node workers trap only SIGINT, as PM2 sends.
pub const KILL_SIGNAL: i32 = libc::SIGINT;
/// Long enough for a BullMQ job to finish within its default 30 s lock (PM2's 1.6 s cuts jobs in half).
pub const KILL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an app with `notify = true` has to send READY=1 (systemd's TimeoutStartSec is 90s;
/// a worker that connects to Valkey and PostgreSQL needs far less).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// First delay before a failed one-shot that others need runs again (doubling to the cap).
pub const ONE_SHOT_RETRY_BASE: Duration = Duration::from_secs(1);
/// Upper bound of the exponential restart back-off.
pub const EXP_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// The file `tpctl start` reads when given no file or name.
pub const ECOSYSTEM_FILE: &str = "ecosystem.toml";
/// Log files rotate before they grow past this.
pub const LOG_MAX_SIZE: u64 = 10 << 20;
/// Rotated log files kept per stream.
pub const LOG_KEEP: u32 = 5;
