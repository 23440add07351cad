//! Repeatable jobs the legacy way TestPlanIt's scheduler makes them (`Queue.add` with
//! `repeat.pattern` and a `jobId`): the md5 repeat key, the next run time from a cron pattern
//! in the process's local time zone (or `tz`), and the next iteration produced when a worker
//! takes the current one. (shared/specs/bullmq-v5.md 6)

use chrono::{DateTime, Local, LocalResult, Offset, TimeZone, Utc};
use croner::Cron;
use serde::{Deserialize, Serialize};

/// The `repeat` option.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    /// A cron pattern: 5 fields, or 6 with leading seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Milliseconds between runs, instead of a pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// IANA time zone of the pattern; the process's local zone when absent (as Node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(rename = "startDate", skip_serializing_if = "Option::is_none")]
    pub start_date: Option<u64>,
    #[serde(rename = "endDate", skip_serializing_if = "Option::is_none")]
    pub end_date: Option<u64>,
}

/// The legacy repeat key: md5 hex of `name:jobId:endDate:tz:pattern-or-every`.
pub fn repeat_key(name: &str, job_id: Option<&str>, r: &Repeat) -> String {
    let end = r.end_date.map(|e| e.to_string()).unwrap_or_default();
    let suffix = r
        .pattern
        .clone()
        .or_else(|| r.every.map(|e| e.to_string()))
        .unwrap_or_default();
    let text = format!(
        "{name}:{}:{end}:{}:{suffix}",
        job_id.unwrap_or(""),
        r.tz.as_deref().unwrap_or("")
    );
    // md-5, the one MD5 the workspace links (sqlx uses it too).
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(text.as_bytes()))
}

/// When the job runs next after `after_ms`, or why it cannot be computed; `None` when it has
/// no next run (past its end date).
pub fn next_millis(r: &Repeat, after_ms: u64) -> Result<Option<u64>, String> {
    let after = after_ms.max(r.start_date.unwrap_or(0));
    let next = if let Some(every) = r.every.filter(|e| *e > 0) {
        after / every * every + every
    } else if let Some(pattern) = &r.pattern {
        let cron = Cron::new(pattern)
            .with_seconds_optional()
            .parse()
            .map_err(|e| format!("invalid cron pattern {pattern:?}: {e}"))?;
        let start = Utc
            .timestamp_millis_opt(after as i64)
            .single()
            .ok_or("time out of range")?;
        let next_utc: DateTime<Utc> = match &r.tz {
            Some(tz) => {
                let zone: chrono_tz::Tz = tz
                    .parse()
                    .map_err(|_| format!("unknown time zone {tz:?}"))?;
                next_in(&cron, &zone, start)?
            }
            None => next_in(&cron, &Local, start)?,
        };
        next_utc.timestamp_millis() as u64
    } else {
        return Err("a repeat needs a pattern or every".into());
    };
    Ok(if r.end_date.is_some_and(|end| next > end) {
        None
    } else {
        Some(next)
    })
}

/// The next run after `after` of `cron` on the wall clock of `zone`, as Node's cron-parser
/// finds it: like croner, except for a wall-clock time that a spring-forward skips (02:30
/// on the night clocks go from 02:00 to 03:00), which cron-parser reads with the offset
/// before the skip (so 03:30) where croner runs at the end of the gap (03:00), a time the
/// pattern does not name.
fn next_in<Z: TimeZone>(
    cron: &Cron,
    zone: &Z,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let by_instant = cron
        .find_next_occurrence(&after.with_timezone(zone), false)
        .map_err(|e| e.to_string())?
        .with_timezone(&Utc);
    let wall = after.with_timezone(zone).naive_local();
    let wall_next = cron
        .find_next_occurrence(&Utc.from_utc_datetime(&wall), false)
        .map_err(|e| e.to_string())?
        .naive_utc();
    if let LocalResult::None = zone.from_local_datetime(&wall_next) {
        // Offsets change at most twice a year: twelve hours earlier is before the skip.
        let before = zone
            .offset_from_utc_datetime(&(wall_next - chrono::Duration::hours(12)))
            .fix();
        let skipped = Utc.from_utc_datetime(
            &(wall_next - chrono::Duration::seconds(i64::from(before.local_minus_utc()))),
        );
        if skipped > after {
            return Ok(skipped);
        }
    }
    Ok(by_instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_keys_are_nodes_md5() {
        // Seen live with bullmq 5.67.2: name "rep", jobId "tenant-x", pattern "0 3 * * *".
        let r = Repeat {
            pattern: Some("0 3 * * *".into()),
            ..Default::default()
        };
        assert_eq!(
            repeat_key("rep", Some("tenant-x"), &r),
            "8cc96c9308921df41797fa71902ce622"
        );
    }

    #[test]
    fn daily_patterns_land_on_the_next_run_in_the_given_zone() {
        let r = Repeat {
            pattern: Some("0 3 * * *".into()),
            tz: Some("UTC".into()),
            ..Default::default()
        };
        // 2026-11-28 12:00:00 UTC → 2026-11-29 03:00:00 UTC.
        assert_eq!(
            next_millis(&r, 1_795_867_200_000),
            Ok(Some(1_795_921_200_000))
        );
        let berlin = Repeat {
            tz: Some("Europe/Berlin".into()),
            ..r.clone()
        };
        // 03:00 in Berlin (UTC+1 in November) is 02:00 UTC.
        assert_eq!(
            next_millis(&berlin, 1_795_867_200_000),
            Ok(Some(1_795_917_600_000))
        );
        let secs = Repeat {
            pattern: Some("*/2 * * * * *".into()),
            tz: Some("UTC".into()),
            ..Default::default()
        };
        assert_eq!(
            next_millis(&secs, 1_795_867_200_500),
            Ok(Some(1_795_867_202_000))
        );
        assert!(
            next_millis(
                &Repeat {
                    pattern: Some("bogus".into()),
                    ..Default::default()
                },
                0
            )
            .is_err()
        );
    }

    #[test]
    fn every_aligns_to_its_period() {
        let r = Repeat {
            every: Some(1000),
            ..Default::default()
        };
        assert_eq!(next_millis(&r, 5_500), Ok(Some(6_000)));
    }
}
