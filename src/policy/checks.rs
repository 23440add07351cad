//! The policy's part in readiness, the watchdog and health checks: the timers a run arms and
//! disarms, and what a health check's verdict leads to.

use std::time::Instant;

use super::{AfterStop, Cause, Effect, Policy, Status, Timer};

impl Policy {
    /// The readiness, watchdog, health and consumption timers of a run that is ending.
    pub(super) fn notify_disarms(&self) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.limits.notify.is_some() {
            fx.extend([
                Effect::Disarm(Timer::Ready),
                Effect::Disarm(Timer::Watchdog),
            ]);
        }
        if self.limits.health.is_some() {
            fx.push(Effect::Disarm(Timer::Health));
        }
        if self.limits.consumption.is_some() {
            fx.push(Effect::Disarm(Timer::Consumption));
        }
        fx
    }

    /// The first health check of a run that just came online.
    pub(super) fn health_arm(&self) -> Vec<Effect> {
        self.limits
            .health
            .as_ref()
            .map(|h| Effect::Arm(Timer::Health, h.every))
            .into_iter()
            .collect()
    }

    /// A check is due: it runs, and the next is armed first, `every` after this one's start
    /// (a fixed cadence, as `every` reads, however long answers take). Armed before the check
    /// runs, since a check that cannot even start gives its verdict at once and a restart it
    /// leads to disarms the timer again.
    pub(super) fn health_due(&self) -> Vec<Effect> {
        let mut fx = self.health_arm();
        fx.push(Effect::CheckHealth);
        fx
    }

    /// A check's verdict: counted (after `grace`), `retries` failures in a row restart the
    /// app (unless `restart = false`).
    pub(super) fn on_health(&mut self, now: Instant, ok: bool, detail: String) -> Vec<Effect> {
        let Some(h) = self.limits.health.clone() else {
            return vec![];
        };
        if ok {
            self.health_failures = 0;
            self.health = Some(Ok(()));
            let since = *self.healthy_since.get_or_insert(now);
            // Healthy this long makes the run a stable one (see `failed_run`).
            let stable_after = (h.every * h.retries).max(self.limits.restart.min_uptime);
            if now.saturating_duration_since(since) >= stable_after {
                self.healthy_stable = true;
            }
            return vec![];
        }
        self.healthy_since = None;
        self.health = Some(Err(detail.clone()));
        if self.uptime(now) < h.grace {
            return vec![];
        }
        self.health_failures += 1;
        if self.health_failures >= h.retries && h.restart {
            let cause = Cause::Health { detail };
            self.reason = Some(format!("restarted: {cause}"));
            return self.begin_stop(AfterStop::Restart(cause));
        }
        vec![]
    }

    /// `healthy`, `unhealthy: <reason>` or `checking` for an online app with health checks.
    pub fn health(&self) -> Option<String> {
        self.limits.health.as_ref()?;
        if self.status != Status::Online {
            return None;
        }
        Some(match &self.health {
            None => "checking".into(),
            Some(Ok(())) => "healthy".into(),
            Some(Err(e)) => format!("unhealthy: {e}"),
        })
    }
}
