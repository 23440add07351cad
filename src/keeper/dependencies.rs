//! Whether the apps this one runs `after` are up, asked of their keepers (or read from their
//! state files when none runs) exactly as `tpctl status` does; the policy decides what follows.

use std::time::Duration;

use super::Keeper;
use crate::commands::{inventory, targets};
use crate::home::Home;
use crate::policy::{Event, Status};
use crate::proto::AppStatus;

/// How long a dependency's keeper may take to answer (it answers in microseconds when well).
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

impl Keeper {
    /// Carries out `Effect::CheckDependencies`.
    pub(super) fn check_dependencies(&mut self) {
        // Without a run directory (a `tpctl run` without a usable TPCTL_HOME) there is no one
        // to ask: `run` then starts the apps in order itself.
        let pending = match self.mode.dir().and_then(|d| d.path().parent()?.parent()) {
            Some(root) => pending(&Home::at(root), &self.spec.after, &mut self.dependency_ids),
            None => None,
        };
        match pending {
            None => self.feed(Event::DependenciesMet),
            Some(reason) => {
                if self.policy.reason() != Some(format!("for {reason}").as_str()) {
                    tracing::info!(%reason, "waiting for the apps it runs after");
                }
                self.feed(Event::DependenciesPending { reason })
            }
        }
    }
}

/// Why the app cannot start yet (`scheduler: failed: …`), or `None` when every app it runs
/// `after` is online, or completed for a one-shot. `ids` caches the instances found.
fn pending(home: &Home, after: &[String], ids: &mut Option<Vec<(String, bool)>>) -> Option<String> {
    if ids.as_ref().is_none_or(|found| found.is_empty()) {
        let known = match home.app_ids() {
            Ok(k) => k,
            Err(e) => {
                return Some(format!(
                    "cannot list the apps in {}: {e}",
                    home.root().display()
                ));
            }
        };
        let mut found = Vec::new();
        for dep in after {
            let instances: Vec<(String, bool)> = known
                .iter()
                .filter_map(|id| {
                    let spec = targets::saved_spec(home, id)?;
                    (spec.name == *dep).then(|| (id.clone(), spec.is_one_shot()))
                })
                .collect();
            if instances.is_empty() {
                return Some(format!(
                    "{dep}: not known to tpctl (`tpctl start {dep}`, or remove it from `after`)"
                ));
            }
            found.extend(instances);
        }
        *ids = Some(found);
    }
    let found = ids.as_deref().unwrap_or_default();
    let names: Vec<String> = found.iter().map(|(id, _)| id.clone()).collect();
    let statuses = inventory::statuses_within(home, &names, ASK_TIMEOUT);
    found
        .iter()
        .zip(&statuses)
        .find(|((_, one_shot), st)| !is_up(st, *one_shot))
        .map(|((_, one_shot), st)| format!("{}: {}", st.id, why(st, *one_shot)))
}

fn is_up(st: &AppStatus, one_shot: bool) -> bool {
    st.status == Status::Completed || (st.status == Status::Online && !one_shot)
}

/// `failed: VALKEY_URL is not set (exit code 1; retrying in 2s, failure 1 of 16)`.
fn why(st: &AppStatus, one_shot: bool) -> String {
    let word = match st.status {
        Status::Online | Status::Launching if one_shot => "running",
        Status::WaitingRestart if one_shot => "failed",
        s => s.as_str(),
    };
    match (st.last_error.as_deref(), st.reason.as_deref()) {
        (Some(line), Some(reason)) if line != reason => format!("{word}: {line} ({reason})"),
        (Some(line), _) => format!("{word}: {line}"),
        (None, Some(reason)) => format!("{word} ({reason})"),
        (None, None) => word.to_string(),
    }
}
