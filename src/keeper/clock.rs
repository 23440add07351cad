//! The keeper's clock work: the policy's timers, the memory sampler's next reading, and
//! `cron_restart` and `log_rotate`, each a cron pattern in the keeper's local time zone (TZ,
//! else /etc/localtime) whose next match is a deadline of the event loop.

use std::time::{Duration, Instant};

use super::{Keeper, Mode};
use crate::policy::{Event, Timer};
use crate::spec::AppSpec;

/// A status answer samples the process tree again when its last sample is older than this.
const FRESH_SAMPLE: Duration = Duration::from_millis(200);

impl Keeper {
    /// The memory sampler's reading came due: taken, and fed to the policy (memory limit).
    pub(super) fn sample_if_due(&mut self) {
        let now = Instant::now();
        if self.next_sample.is_none_or(|t| t > now) {
            return;
        }
        let Some(run) = &self.run else {
            self.next_sample = None;
            return;
        };
        self.last_sample = self.sampler.sample(run.pid.as_raw(), now);
        self.sampled_at = Some(now);
        let rss = self.last_sample.map(|s| s.rss_bytes);
        self.next_sample =
            crate::policy::sample_interval(rss, self.spec.max_memory_restart).map(|d| now + d);
        if let Some(rss_bytes) = rss {
            self.feed(Event::Memory { rss_bytes });
        }
    }

    /// A fresh sample for a status answer, unless the last one is recent.
    pub(super) fn refresh_sample(&mut self) {
        let now = Instant::now();
        if let Some(run) = &self.run
            && self
                .sampled_at
                .is_none_or(|t| now.duration_since(t) >= FRESH_SAMPLE)
        {
            self.last_sample = self.sampler.sample(run.pid.as_raw(), now);
            self.sampled_at = Some(now);
        }
    }

    /// A due `cron_restart` restarts a running app gracefully, then the next one is armed.
    pub(super) fn cron_if_due(&mut self) {
        if self.next_cron.is_none_or(|t| t > Instant::now()) {
            return;
        }
        tracing::info!("cron_restart is due: restarting the app gracefully");
        self.feed(Event::ScheduledRestart);
        self.next_cron = self.cron.as_ref().and_then(next_due);
    }

    /// `log_rotate` came due: every log file moves to its `.1`, losing no line (the keeper
    /// writes them all, between two of which this happens).
    pub(super) fn rotate_logs_if_due(&mut self) {
        if self.next_log_rotation.is_none_or(|t| t > Instant::now()) {
            return;
        }
        tracing::info!("log_rotate is due: rotating the log files");
        self.logs.rotate();
        self.next_log_rotation = self.log_clock.as_ref().and_then(next_due);
    }

    /// Takes the spec's `log_rotate` (after a restart with a re-read file).
    pub(super) fn rearm_log_clock(&mut self) {
        self.log_clock = log_clock_of(&self.spec, &self.mode);
        self.next_log_rotation = self.log_clock.as_ref().and_then(next_due);
    }

    /// Takes the spec's `cron_restart` (after a restart with a re-read file).
    pub(super) fn rearm_cron(&mut self) {
        self.cron = cron_of(&self.spec);
        self.next_cron = self.cron.as_ref().and_then(next_due);
    }
}

/// The clock of `log_rotate`, for a keeper that writes log files.
pub(super) fn log_clock_of(spec: &AppSpec, mode: &Mode) -> Option<croner::Cron> {
    if mode.terminal.is_some() {
        return None;
    }
    let every = spec.logs.rotate_every?;
    crate::spec::parse_cron(every.pattern()).ok()
}

pub(super) fn cron_of(spec: &AppSpec) -> Option<croner::Cron> {
    let pattern = spec.cron_restart.as_deref()?;
    match crate::spec::parse_cron(pattern) {
        Ok(c) => Some(c),
        Err(e) => {
            // The file was checked when it was read; a spec.json edited by hand is not.
            tracing::error!("{e}; no scheduled restarts");
            None
        }
    }
}

/// The next time `cron` matches, in local time (TZ, else /etc/localtime), as an Instant.
pub(super) fn next_due(cron: &croner::Cron) -> Option<Instant> {
    let now = chrono::Local::now();
    let next = cron.find_next_occurrence(&now, false).ok()?;
    let wait = (next - now).to_std().ok()?;
    Some(Instant::now() + wait)
}

impl Keeper {
    /// How long the poll may wait: until the next timer, sample, group check, cron or log
    /// rotation time, or health check deadline.
    pub(super) fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        self.timers
            .values()
            .copied()
            .chain(self.next_sample)
            .chain(self.next_group_check)
            .chain(self.next_cron)
            .chain(self.next_log_rotation)
            .chain(self.probe_deadline_at())
            .chain(self.look_deadline_at())
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    /// Feeds the policy every timer that is due.
    pub(super) fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in due {
            self.timers.remove(&t);
            self.feed(Event::Timer(t));
        }
    }
}
