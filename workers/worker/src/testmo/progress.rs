//! The scan's progress line: a report at every whole percent of the bytes read, with the time
//! left from the average rate once two seconds have passed (TestPlanIt's rule).

use std::time::Duration;

pub struct Progress {
    total: u64,
    last: Option<u64>,
}

/// One report: the percentage and the estimated seconds left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub percent: u64,
    pub eta_seconds: Option<u64>,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        Progress { total, last: None }
    }

    /// After `read` bytes in `elapsed`: a report when a new whole percent is reached.
    pub fn at(&mut self, read: u64, elapsed: Duration) -> Option<Report> {
        if self.total == 0 {
            return None;
        }
        let percent = (u128::from(read) * 100 / u128::from(self.total)).min(100) as u64;
        if self.last.is_some_and(|l| percent < l + 1) {
            return None;
        }
        self.last = Some(percent);
        let secs = elapsed.as_secs_f64();
        let eta_seconds = (secs >= 2.0 && read > 0 && percent > 0).then(|| {
            let rate = read as f64 / secs;
            (self.total.saturating_sub(read) as f64 / rate).ceil() as u64
        });
        Some(Report {
            percent,
            eta_seconds,
        })
    }
}

/// A count as `toLocaleString()` prints it in English: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_per_whole_percent_with_an_eta_after_two_seconds() {
        let mut p = Progress::new(1_000);
        let s = Duration::from_secs;
        assert_eq!(
            p.at(0, s(0)),
            Some(Report {
                percent: 0,
                eta_seconds: None
            })
        );
        assert_eq!(p.at(5, s(0)), None);
        assert_eq!(
            p.at(10, s(1)),
            Some(Report {
                percent: 1,
                eta_seconds: None
            })
        );
        assert_eq!(p.at(15, s(1)), None);
        assert_eq!(
            p.at(250, s(5)),
            Some(Report {
                percent: 25,
                eta_seconds: Some(15)
            })
        );
        assert_eq!(
            p.at(1_000, s(20)),
            Some(Report {
                percent: 100,
                eta_seconds: Some(0)
            })
        );
        assert_eq!(Progress::new(0).at(10, s(1)), None);
    }

    #[test]
    fn counts_print_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
