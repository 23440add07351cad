//! When to send a tracker request again, decided from what the last attempt got and the time:
//! pure, so every rule is tested without a network.
//!
//! Better than TestPlanIt's base adapter, which retried only thrown errors and turned every
//! 429 or 5xx into an immediate failure: transient failures (connect errors, timeouts, 429,
//! 5xx) are retried with back-off; a server's `Retry-After`, and GitHub's exhausted
//! `x-ratelimit-*` window, are waited out instead of hammered; other answers are final.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Attempts per request: the first and three more (Node's 3 retries).
pub const ATTEMPTS: u32 = 4;
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

/// Back-off before attempt `n + 1` after attempt `n` (1-based) failed: 1, 2, 4 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6))
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

/// What to do after attempt number `attempt` (1-based) got `got`.
pub fn decide(got: &Attempt, attempt: u32, now: SystemTime) -> Decision {
    let wait = match got {
        Attempt::Transport => backoff(attempt),
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
            asked.unwrap_or_else(|| backoff(attempt))
        }
    };
    if attempt >= ATTEMPTS {
        return Decision::Exhausted;
    }
    if wait > MAX_WAIT {
        return Decision::TooLong(wait);
    }
    Decision::Retry(wait)
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
            assert_eq!(decide(&answer(s), 1, at(0)), Decision::Accept, "{s}");
        }
    }

    #[test]
    fn transient_failures_back_off_1_2_4_then_stop() {
        for got in [answer(500), answer(503), answer(429), Attempt::Transport] {
            assert_eq!(
                decide(&got, 1, at(0)),
                Decision::Retry(Duration::from_secs(1))
            );
            assert_eq!(
                decide(&got, 2, at(0)),
                Decision::Retry(Duration::from_secs(2))
            );
            assert_eq!(
                decide(&got, 3, at(0)),
                Decision::Retry(Duration::from_secs(4))
            );
            assert_eq!(decide(&got, 4, at(0)), Decision::Exhausted);
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
            decide(&got, 1, at(0)),
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
            decide(&long, 1, at(0)),
            Decision::TooLong(Duration::from_secs(3600))
        );
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
            decide(&got, 1, at(100)),
            Decision::Retry(Duration::from_secs(31))
        );
        // A 403 with quota left is a real refusal.
        let refused = Attempt::Answer {
            status: 403,
            retry_after: None,
            remaining: Some(10),
            reset: Some(130),
        };
        assert_eq!(decide(&refused, 1, at(100)), Decision::Accept);
        assert_eq!(
            rate_window(Some(0), Some(50), at(100)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(rate_window(Some(3), Some(50), at(100)), None);
    }
}
