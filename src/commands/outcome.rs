//! What happened to each app of a start or restart, and the waits that decide it: apps with
//! `notify = true` until they are ready, one-shots until they complete.

use std::time::Duration;

use super::inventory;
use crate::client;
use crate::home::Home;
use crate::policy::Status;
use crate::proto::{AppStatus, Request, Response};
use crate::spec::AppSpec;

/// How long to wait for a one-shot app to finish before giving up on its dependents.
const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub(super) fn report_of(status: AppStatus) -> Report {
    let note = describe_outcome(&status);
    report(status, note)
}

/// What happened to one app.
pub(super) struct Report {
    pub(super) status: Option<AppStatus>,
    pub(super) note: String,
    pub(super) ok: bool,
    pub(super) one_shot: bool,
    pub(super) printed: std::cell::Cell<bool>,
}

impl Report {
    pub(super) fn failed(note: String) -> Report {
        Report {
            status: None,
            note,
            ok: false,
            one_shot: false,
            printed: Default::default(),
        }
    }
}

/// True for a one-shot still running: its line waits for its end.
pub(super) fn waits(r: &Report) -> bool {
    r.one_shot && r.ok && r.status.as_ref().is_some_and(|s| !s.status.is_settled())
}

pub(super) fn report(status: AppStatus, note: String) -> Report {
    let ok = !matches!(
        status.status,
        Status::Errored | Status::Failed | Status::Lost | Status::Waiting
    );
    Report {
        status: Some(status),
        note,
        ok,
        one_shot: false,
        printed: Default::default(),
    }
}

/// `online (pid 12)`, `waiting (for scheduler: failed: …)`, `failed: exit code 1 — its last
/// stderr line`: what happened, with the app's own last word when it failed.
pub(super) fn describe_outcome(s: &AppStatus) -> String {
    let said = s
        .last_error
        .as_deref()
        .filter(|l| s.reason.as_deref() != Some(*l))
        .map(|l| format!(" — {l}"))
        .unwrap_or_default();
    match (s.status, s.pid, &s.reason) {
        (Status::Online, Some(pid), _) => format!("online (pid {pid})"),
        (Status::Waiting, _, Some(reason)) => format!("waiting ({reason})"),
        (Status::WaitingRestart, _, Some(reason)) => format!("failed: {reason}{said}"),
        (st, _, Some(reason)) => format!("{}: {reason}{said}", st.as_str()),
        (st, _, None) => format!("{}{said}", st.as_str()),
    }
}

/// Apps with `notify = true` are online only once they said READY=1: wait for each that is
/// still launching (its keeper answers a start once it is online, or the attempt failed),
/// bounded by its `ready_timeout`.
pub(super) fn wait_ready(home: &Home, wave: &[&AppSpec], reports: &mut [Report]) {
    let waiting: Vec<usize> = (0..wave.len())
        .filter(|i| wave[*i].notify.is_some())
        .filter(|i| {
            reports[*i]
                .status
                .as_ref()
                .is_some_and(|s| s.status == Status::Launching)
        })
        .collect();
    if waiting.is_empty() {
        return;
    }
    let patience = waiting
        .iter()
        .filter_map(|i| wave[*i].notify.map(|n| n.ready_timeout))
        .max()
        .unwrap_or_default()
        + wave
            .iter()
            .map(|s| s.kill_timeout)
            .max()
            .unwrap_or_default()
        + Duration::from_secs(5);
    let wait = Wait {
        request: Request::Start,
        patience,
        done: Status::Online,
        one_shot: false,
    };
    wait.answers(home, wave, &waiting, reports);
}

/// One-shot apps must complete before the next wave; wait for each that is still running.
pub(super) fn wait_one_shots(home: &Home, wave: &[&AppSpec], reports: &mut [Report]) {
    let waiting: Vec<usize> = (0..wave.len()).filter(|i| waits(&reports[*i])).collect();
    if waiting.is_empty() {
        return;
    }
    let names: Vec<&str> = waiting.iter().map(|i| wave[*i].id.as_str()).collect();
    crate::say!("… waiting for one-shot {} to complete", names.join(", "));
    let wait = Wait {
        request: Request::WaitSettled,
        patience: ONE_SHOT_TIMEOUT,
        done: Status::Completed,
        one_shot: true,
    };
    wait.answers(home, wave, &waiting, reports);
}

/// One wait for some apps of a wave: the request their keepers answer once the apps got where
/// they were going, and what counts as getting there.
struct Wait {
    request: Request,
    patience: Duration,
    done: Status,
    one_shot: bool,
}

impl Wait {
    fn answers(self, home: &Home, wave: &[&AppSpec], waiting: &[usize], reports: &mut [Report]) {
        let requests = waiting
            .iter()
            .map(|i| (home.app(&wave[*i].id), self.request.clone()))
            .collect();
        let answers = client::broadcast(requests, self.patience);
        for (i, answer) in waiting.iter().copied().zip(answers) {
            let status = match answer {
                Ok(Response::Status { status }) => status,
                // It finished before we asked, and its keeper exited: the state file has the end.
                _ => inventory::statuses(home, std::slice::from_ref(&wave[i].id)).remove(0),
            };
            let ok = status.status == self.done;
            let note = describe_outcome(&status);
            reports[i] = Report {
                status: Some(status),
                note,
                ok,
                one_shot: self.one_shot,
                printed: Default::default(),
            };
        }
    }
}
