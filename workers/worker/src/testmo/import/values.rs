//! Reading Testmo's loosely typed row values the way the Node importer reads them: ids and
//! counts that may be strings, booleans that may be `1` or `"yes"`, timestamps without a
//! zone (UTC), and durations that Testmo sometimes stores in micro- or nanoseconds.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// A finite number from a number or a numeric string (`toNumberValue`).
pub fn number_f(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            t.parse::<f64>().ok().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

/// An integer id or count; fractional values are not ids.
pub fn number(v: &Value) -> Option<i64> {
    number_f(v)
        .filter(|f| f.fract() == 0.0 && f.abs() < 9.007e15)
        .map(|f| f as i64)
}

/// A non-blank trimmed string, or a number's text (`toStringValue`).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(crate::search::text::js_number(
            n.as_f64().unwrap_or(f64::NAN),
        )),
        _ => None,
    }
}

/// `toBooleanValue`: `1`, `"true"`, `"yes"` are true; blank or odd values are `fallback`.
pub fn boolean(v: Option<&Value>, fallback: bool) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => {
            let t = s.trim().to_lowercase();
            if t.is_empty() {
                fallback
            } else {
                t == "1" || t == "true" || t == "yes"
            }
        }
        _ => fallback,
    }
}

/// A timestamp: Testmo writes `2024-01-02 03:04:05` (UTC, no zone) or ISO 8601; a number
/// is milliseconds since the epoch.
pub fn date(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            if let Ok(d) = DateTime::parse_from_rfc3339(t) {
                return Some(d.with_timezone(&Utc));
            }
            let t = t.trim_end_matches('Z');
            for f in [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M",
            ] {
                if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
                    return Some(n.and_utc());
                }
            }
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        }
        Value::Number(n) => n
            .as_f64()
            .and_then(|ms| DateTime::from_timestamp_millis(ms as i64)),
        _ => None,
    }
}

/// How a duration was brought into the int32 columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    Microseconds,
    Nanoseconds,
    Milliseconds,
    Clamped,
}

/// Durations (estimates, elapsed, forecasts) in seconds as int32: values too large are read
/// as micro-, then nano-, then milliseconds, else clamped (Node's `normalizeEstimate`).
pub fn estimate(v: Option<&Value>) -> (Option<i32>, Option<Adjustment>) {
    let Some(f) = v.and_then(number_f) else {
        return (None, None);
    };
    let fits = |x: f64| x.abs() <= f64::from(i32::MAX);
    let rounded = f.round();
    if fits(rounded) {
        return (Some(rounded as i32), None);
    }
    for (factor, adj) in [
        (1e6, Adjustment::Microseconds),
        (1e9, Adjustment::Nanoseconds),
        (1e3, Adjustment::Milliseconds),
    ] {
        let scaled = (f / factor).round();
        if fits(scaled) {
            return (Some(scaled as i32), Some(adj));
        }
    }
    (
        Some(if f > 0.0 { i32::MAX } else { i32::MIN }),
        Some(Adjustment::Clamped),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_values() {
        assert_eq!(number(&json!("12")), Some(12));
        assert_eq!(number(&json!(" ")), None);
        assert_eq!(number(&json!(1.5)), None);
        assert_eq!(text(&json!("  a ")), Some("a".into()));
        assert_eq!(text(&json!(7)), Some("7".into()));
        assert!(boolean(Some(&json!("Yes")), false));
        assert!(!boolean(Some(&json!(0)), true));
        assert!(boolean(Some(&json!("")), true));
    }

    #[test]
    fn dates_without_a_zone_are_utc() {
        let d = date(&json!("2024-01-02 03:04:05")).unwrap();
        assert_eq!(d.to_rfc3339(), "2024-01-02T03:04:05+00:00");
        assert_eq!(
            date(&json!("2024-01-02T03:04:05.250Z"))
                .unwrap()
                .timestamp_millis(),
            1704164645250
        );
        assert_eq!(date(&json!("never")), None);
    }

    #[test]
    fn oversized_durations_are_rescaled_or_clamped() {
        assert_eq!(estimate(Some(&json!(90.4))), (Some(90), None));
        assert_eq!(
            estimate(Some(&json!(3_600_000_000_i64))),
            (Some(3600), Some(Adjustment::Microseconds))
        );
        assert_eq!(
            estimate(Some(&json!(1e300))),
            (Some(i32::MAX), Some(Adjustment::Clamped))
        );
        assert_eq!(estimate(None), (None, None));
    }
}
