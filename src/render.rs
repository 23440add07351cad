//! Human-readable rendering: times, durations, sizes, and the status table.

use crate::policy::{Exit, Status};
use crate::proto::AppStatus;

/// "1 app", "2 apps": a count with its noun in the right number (nouns that take an "s").
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2026-11-28 12:34:56Z` from milliseconds since the Unix epoch (UTC, no time-zone database needed).
pub fn timestamp(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let c = Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// A UTC calendar time.
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub millis: u64,
}

impl Civil {
    /// From milliseconds since the Unix epoch.
    pub fn from_ms(ms: u64) -> Civil {
        let secs = ms / 1000;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis: ms % 1000,
        }
    }
}

/// `2026-11-28T12:34:56.789Z`, for log lines.
pub fn rfc3339_millis(ms: u64) -> String {
    let c = Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `3d 4h`, `12m 5s`, `850ms`: the two largest units.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3600, "h"),
        (s % 3600 / 60, "m"),
        (s % 60, "s"),
    ];
    let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .take(2)
        .filter(|(v, _)| *v > 0 || first == 3)
        .map(|(v, u)| format!("{v}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `45.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn exit(e: Option<Exit>) -> String {
    match e {
        None => "-".into(),
        Some(Exit::Code(c)) => format!("code {c}"),
        Some(Exit::Signal(s)) => crate::config::units::signal_name(s),
    }
}

fn status_color(s: Status) -> &'static str {
    match s {
        Status::Online | Status::Completed => "32",
        Status::Waiting | Status::Launching | Status::Stopping | Status::WaitingRestart => "33",
        Status::Stopped => "90",
        Status::Errored | Status::Failed | Status::Lost => "31",
    }
}

/// The status table, fitted to the terminal: number, name (instance id), status, pid,
/// uptime, restarts, cpu, memory, and why the last run ended. When it is too wide the cause
/// is ellipsized first, then cpu, pid, uptime, the number and memory go, as `ps` drops
/// columns.
pub fn status_table(rows: &[AppStatus], color: bool) -> String {
    status_table_within(rows, color, crate::fit::width(), false)
}

/// True when the apps come from more than one ecosystem file: then `status` shows each app's.
pub fn several_files(rows: &[AppStatus]) -> bool {
    let mut files = rows.iter().filter_map(|r| r.source.as_deref());
    files
        .next()
        .is_some_and(|first| files.any(|other| other != first))
}

/// A file's path as an operator reads it: relative under the working directory, `~/` under
/// HOME, else absolute.
pub fn short_path(path: &str) -> String {
    let p = std::path::Path::new(path);
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = p.strip_prefix(&cwd)
    {
        return rel.display().to_string();
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
        && let Ok(rel) = p.strip_prefix(&home)
    {
        return format!("~/{}", rel.display());
    }
    path.to_string()
}

/// The status table; `wide` adds each app's ecosystem file (also shown, without it, when
/// the apps come from several files).
pub fn status_table_within(
    rows: &[AppStatus],
    color: bool,
    width: Option<usize>,
    wide: bool,
) -> String {
    use crate::fit::Column;
    let col = |f: &dyn Fn(&AppStatus) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let mut columns = vec![
        Column::new(
            "id",
            col(&|r| r.number.map_or("-".into(), |n| n.to_string())),
        )
        .drop_rank(3),
        Column::new("name", col(&|r| r.id.clone())),
        Column::new("status", col(&|r| r.status.as_str().to_string()))
            .colors(rows.iter().map(|r| Some(status_color(r.status))).collect()),
        Column::new("pid", col(&|r| r.pid.map_or("-".into(), |p| p.to_string()))).drop_rank(1),
        Column::new(
            "uptime",
            col(&|r| r.uptime_ms.map_or("-".into(), duration_ms)),
        )
        .drop_rank(2),
        Column::new("↺", col(&|r| r.restarts.to_string())).drop_rank(5),
        Column::new(
            "cpu",
            col(&|r| r.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%"))),
        )
        .drop_rank(0),
        Column::new("memory", col(&|r| r.memory_bytes.map_or("-".into(), bytes))).drop_rank(4),
        Column::new(
            "cause",
            col(&|r| {
                // A failing health check or a queue not consumed is the news while it runs.
                r.health
                    .clone()
                    .filter(|h| h.starts_with("unhealthy"))
                    .or_else(|| r.not_consuming(crate::keeper::now_ms()))
                    .or_else(|| r.cause.clone())
                    .or_else(|| r.last_exit.map(|e| exit(Some(e))))
                    // What a notify app says of itself, while nothing went wrong.
                    .or_else(|| r.notify_status.clone())
                    .unwrap_or_else(|| "-".into())
            }),
        )
        .shrink_to(12)
        .drop_rank(6),
    ];
    if wide || several_files(rows) {
        columns.insert(
            2,
            Column::new(
                "file",
                col(&|r| r.source.as_deref().map_or("-".into(), short_path)),
            )
            .drop_rank(2),
        );
    }
    crate::fit::render(columns, width, color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "-");
        assert_eq!(timestamp(1_795_869_296_000), "2026-11-28 12:34:56Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(5_000), "5s");
        assert_eq!(duration_ms(725_000), "12m 5s");
        assert_eq!(duration_ms(3 * 86_400_000 + 4 * 3_600_000 + 5000), "3d 4h");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(47_395_635), "45.2 MiB");
    }
}
