//! What follows a failed run: another after the back-off, or a crash loop; a needed
//! one-shot retried until it completes.

use std::time::{Duration, Instant};

use super::{AlertKind, Cause, EXP_BACKOFF_CAP, Effect, Exit, Policy, Status, Timer, short_exit};

impl Policy {
    /// A run that failed (exited, never got ready, missed its watchdog): another follows after
    /// the back-off, unless too many short runs in a row make it a crash loop. A run that
    /// never got ready is never a stable one.
    pub(super) fn failed_run(
        &mut self,
        now: Instant,
        uptime: Duration,
        cause: Cause,
        words: String,
    ) -> Vec<Effect> {
        let spec = &self.limits.restart;
        // A run that never got ready is never stable; one ended by its health check only if it
        // had been healthy for a while (a flapping check must not reset the crash count); one
        // that stopped consuming only if it had been consuming.
        let stable = match cause {
            Cause::NotReady { .. } => false,
            Cause::Health { .. } => self.healthy_stable,
            Cause::NotConsuming { .. } => self.watching.consumed(),
            _ => uptime >= spec.min_uptime,
        };
        if stable {
            self.unstable_runs = 0;
            self.backoff = None;
        } else {
            self.unstable_runs += 1;
            if self.unstable_runs >= spec.max_restarts {
                self.status = Status::Errored;
                self.cause = Some(format!("crash loop ({words})"));
                let never = match cause {
                    Cause::NotReady { .. } => Some("got ready"),
                    Cause::NotConsuming { .. } => Some("consumed their queue"),
                    _ => None,
                };
                let reason = if let Some(never) = never {
                    format!(
                        "crash loop: {} consecutive runs that never {never}, last {cause}",
                        self.unstable_runs
                    )
                } else {
                    format!(
                        "crash loop: {} consecutive runs shorter than min_uptime ({} ms), last {cause}",
                        self.unstable_runs,
                        spec.min_uptime.as_millis()
                    )
                };
                self.reason = Some(reason.clone());
                return vec![self.alert(AlertKind::Errored, reason)];
            }
        }

        let delay = match spec.exp_backoff_restart_delay {
            Some(base) => {
                let next = match self.backoff {
                    Some(prev) => (prev * 2).min(EXP_BACKOFF_CAP),
                    None => base,
                };
                self.backoff = Some(next);
                next
            }
            None => spec.restart_delay,
        };

        self.restarts += 1;
        let mut fx: Vec<Effect> = self.count_restart(now).into_iter().collect();
        fx.push(Effect::Record { cause, uptime });
        if delay.is_zero() {
            fx.extend(self.launch());
        } else {
            self.status = Status::WaitingRestart;
            fx.push(Effect::Arm(Timer::Restart, delay));
        }
        fx
    }

    /// A one-shot that others need failed: run it again after the back-off, until it
    /// completes or has failed `max_restarts` times in a row.
    pub(super) fn retry_one_shot(
        &mut self,
        now: Instant,
        uptime: Duration,
        exit: Exit,
    ) -> Vec<Effect> {
        let spec = &self.limits.restart;
        self.unstable_runs += 1;
        if self.unstable_runs >= spec.max_restarts {
            self.status = Status::Failed;
            let reason = format!(
                "{exit}, failed {} times in a row (max_restarts); `tpctl restart` tries again",
                self.unstable_runs
            );
            self.reason = Some(reason.clone());
            return vec![self.alert(AlertKind::Failed, reason)];
        }
        let base = spec
            .exp_backoff_restart_delay
            .unwrap_or(crate::config::defaults::ONE_SHOT_RETRY_BASE);
        let delay = match self.backoff {
            Some(prev) => (prev * 2).min(EXP_BACKOFF_CAP),
            None => base,
        };
        self.backoff = Some(delay);
        self.restarts += 1;
        self.status = Status::WaitingRestart;
        self.cause = Some(format!(
            "failed ({}), retry in {}",
            short_exit(exit),
            crate::config::units::format_duration(delay)
        ));
        self.reason = Some(format!(
            "{exit}; retrying in {}, failure {} of {}",
            crate::config::units::format_duration(delay),
            self.unstable_runs,
            spec.max_restarts
        ));
        let mut fx: Vec<Effect> = self.count_restart(now).into_iter().collect();
        fx.push(Effect::Record {
            cause: Cause::Exit { exit },
            uptime,
        });
        fx.push(Effect::Arm(Timer::Restart, delay));
        fx
    }
}
