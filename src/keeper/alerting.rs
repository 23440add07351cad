//! The keeper's side of alerts: an `Effect::Alert` of the policy becomes an alert in the app's
//! queue (filtered by its rules there), and the sender is started to deliver it.

use super::{Keeper, now_ms};
use crate::alerts::queue::{self, Raised};
use crate::alerts::{self, Alert};
use crate::policy::AlertKind;

impl Keeper {
    /// Carries out `Effect::Alert`.
    pub(super) fn raise_alert(&mut self, kind: AlertKind, detail: &str) {
        let (Some(rules), Some(dir)) = (&self.spec.alerts, self.mode.dir()) else {
            return;
        };
        let alert = Alert::new(kind, detail, &self.status(), &self.spec.env, now_ms());
        match queue::raise(dir, rules, alert) {
            Ok(Raised::Queued(_)) => {
                tracing::info!(event = kind.as_str(), "alert queued");
                alerts::start_sender(dir);
            }
            Ok(Raised::Off) => {}
            Ok(Raised::HeldBack(why)) => {
                tracing::info!(event = kind.as_str(), %why, "alert held back")
            }
            Err(e) => tracing::error!(event = kind.as_str(), error = %e, "cannot queue the alert"),
        }
    }

    /// A new keeper delivers what an earlier one left queued.
    pub(super) fn resume_alerts(&self) {
        if let Some(dir) = self.mode.dir()
            && self.spec.alerts.is_some()
            && !queue::pending(dir).is_empty()
        {
            alerts::start_sender(dir);
        }
    }
}
