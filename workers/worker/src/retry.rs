//! The one retry policy of the worker's outbound HTTP (trackers, the search server, S3): when
//! to send a request again, decided from what the last attempt got and the time; pure, so
//! every rule is tested without a network. Each client has its number of attempts and first
//! wait; the rules are the same for all.
//!
//! Better than TestPlanIt's tracker adapter, which retried only thrown errors and turned every
//! 429 or 5xx into an immediate failure: transient failures (connect errors, timeouts, 429,
//! 5xx) are retried with back-off doubling from the first wait; a server's `Retry-After`, and
//! GitHub's exhausted `x-ratelimit-*` window, are waited out instead of hammered; other
//! answers are final.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many attempts a request gets, and the wait after the first failure (doubling after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub attempts: u32,
    pub first: Duration,
}

impl Policy {
    /// Tracker requests: the first attempt and three more (Node's 3 retries), 1, 2, 4 s.
    pub const TRACKERS: Policy = Policy {
        attempts: 4,
        first: Duration::from_secs(1),
    };
    /// The search server: 4 attempts, 0.25, 0.5, 1 s.
    pub const SEARCH: Policy = Policy {
        attempts: 4,
        first: Duration::from_millis(250),
    };
    /// S3 (opening an export): 5 attempts, as the web app's client makes, 0.5 s doubling.
    pub const S3: Policy = Policy {
        attempts: 5,
        first: Duration::from_millis(500),
    };

    /// Back-off before attempt `n + 1` after attempt `n` (1-based) failed.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.first * (1u32 << attempt.saturating_sub(1).min(6))
    }

    /// What to do after attempt number `attempt` (1-based) got `got`.
    pub fn decide(&self, got: &Attempt, attempt: u32, now: SystemTime) -> Decision {
        let wait = match got {
            Attempt::Transport => self.backoff(attempt),
            Attempt::Answer {
                status,
                retry_after: ra,
                remaining,
                reset,
            } => {
                let asked = ra
                    .as_deref()
                    .and_then(|v| retry_after(v, now))
                    .or_else(|| rate_window(*remaining, *reset, now));
                // GitHub answers an exhausted window with 403 (primary limit) or 429.
                let limited = transient(*status)
                    || (*status == 403 && rate_window(*remaining, *reset, now).is_some());
                if !limited {
                    return Decision::Accept;
                }
                asked.unwrap_or_else(|| self.backoff(attempt))
            }
        };
        if attempt >= self.attempts {
            return Decision::Exhausted;
        }
        if wait > MAX_WAIT {
            return Decision::TooLong(wait);
        }
        Decision::Retry(wait)
    }
}

/// The longest wait we accept from a server: beyond it the request fails, saying when the
/// tracker will take requests again, rather than holding the job for hours.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered.
    Answer {
        status: u16,
        /// `Retry-After`, as sent.
        retry_after: Option<String>,
        /// GitHub's `x-ratelimit-remaining` and `x-ratelimit-reset` (epoch seconds).
        remaining: Option<u64>,
        reset: Option<u64>,
    },
    /// No answer: connect error, reset connection, timeout.
    Transport,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Use this answer (success, or a final error such as 404).
    Accept,
    /// Try again after this long.
    Retry(Duration),
    /// Give up: the server asked for a wait longer than [`MAX_WAIT`].
    TooLong(Duration),
    /// Give up: the attempts are spent.
    Exhausted,
}

/// `Retry-After` as seconds or an HTTP date, as a wait from `now`.
pub fn retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(at.timestamp()).ok()?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait until GitHub's window resets, when the answer says it is used up.
pub fn rate_window(
    remaining: Option<u64>,
    reset: Option<u64>,
    now: SystemTime,
) -> Option<Duration> {
    if remaining != Some(0) {
        return None;
    }
    let at = UNIX_EPOCH + Duration::from_secs(reset?);
    // A second more: the reset time is whole seconds and clocks differ a little.
    Some(at.duration_since(now).unwrap_or(Duration::ZERO) + Duration::from_secs(1))
}

/// Whether a status is worth another try.
fn transient(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn answer(status: u16) -> Attempt {
        Attempt::Answer {
            status,
            retry_after: None,
            remaining: None,
            reset: None,
        }
    }

    #[test]
    fn final_answers_are_accepted_at_once() {
        for s in [200, 201, 204, 400, 401, 403, 404, 410, 422] {
            assert_eq!(
                Policy::TRACKERS.decide(&answer(s), 1, at(0)),
                Decision::Accept,
                "{s}"
            );
        }
    }

    #[test]
    fn transient_failures_back_off_1_2_4_then_stop() {
        for got in [answer(500), answer(503), answer(429), Attempt::Transport] {
            assert_eq!(
                Policy::TRACKERS.decide(&got, 1, at(0)),
                Decision::Retry(Duration::from_secs(1))
            );
            assert_eq!(
                Policy::TRACKERS.decide(&got, 2, at(0)),
                Decision::Retry(Duration::from_secs(2))
            );
            assert_eq!(
                Policy::TRACKERS.decide(&got, 3, at(0)),
                Decision::Retry(Duration::from_secs(4))
            );
            assert_eq!(Policy::TRACKERS.decide(&got, 4, at(0)), Decision::Exhausted);
        }
    }

    #[test]
    fn retry_after_is_honoured_in_seconds_or_as_a_date() {
        let got = Attempt::Answer {
            status: 429,
            retry_after: Some("7".into()),
            remaining: None,
            reset: None,
        };
        assert_eq!(
            Policy::TRACKERS.decide(&got, 1, at(0)),
            Decision::Retry(Duration::from_secs(7))
        );
        let now = at(1_445_412_470); // 2015-10-21T07:27:50Z
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        let long = Attempt::Answer {
            status: 503,
            retry_after: Some("3600".into()),
            remaining: None,
            reset: None,
        };
        assert_eq!(
            Policy::TRACKERS.decide(&long, 1, at(0)),
            Decision::TooLong(Duration::from_secs(3600))
        );
    }

    #[test]
    fn each_client_has_its_attempts_and_first_wait_under_the_same_rules() {
        let ms = Duration::from_millis;
        let waits = |p: Policy| -> Vec<Decision> {
            (1..=p.attempts)
                .map(|n| p.decide(&Attempt::Transport, n, at(0)))
                .collect()
        };
        assert_eq!(
            waits(Policy::SEARCH),
            [ms(250), ms(500), ms(1000)]
                .map(Decision::Retry)
                .into_iter()
                .chain([Decision::Exhausted])
                .collect::<Vec<_>>()
        );
        assert_eq!(
            waits(Policy::S3),
            [ms(500), ms(1000), ms(2000), ms(4000)]
                .map(Decision::Retry)
                .into_iter()
                .chain([Decision::Exhausted])
                .collect::<Vec<_>>()
        );
        // A server's Retry-After counts for the search server and S3 as for trackers.
        let busy = Attempt::Answer {
            status: 503,
            retry_after: Some("3".into()),
            remaining: None,
            reset: None,
        };
        for p in [Policy::SEARCH, Policy::S3, Policy::TRACKERS] {
            assert_eq!(p.decide(&busy, 1, at(0)), Decision::Retry(ms(3000)));
            assert_eq!(p.decide(&answer(404), 1, at(0)), Decision::Accept);
        }
    }

    #[test]
    fn an_exhausted_github_window_is_waited_out_even_on_403() {
        let got = Attempt::Answer {
            status: 403,
            retry_after: None,
            remaining: Some(0),
            reset: Some(130),
        };
        assert_eq!(
            Policy::TRACKERS.decide(&got, 1, at(100)),
            Decision::Retry(Duration::from_secs(31))
        );
        // A 403 with quota left is a real refusal.
        let refused = Attempt::Answer {
            status: 403,
            retry_after: None,
            remaining: Some(10),
            reset: Some(130),
        };
        assert_eq!(
            Policy::TRACKERS.decide(&refused, 1, at(100)),
            Decision::Accept
        );
        assert_eq!(
            rate_window(Some(0), Some(50), at(100)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(rate_window(Some(3), Some(50), at(100)), None);
    }
}
