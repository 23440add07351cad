//! What is running: every known app's status, from its keeper or, when the keeper is gone, from
//! its state file. A keeper that died without settling its app is found here, marked `lost`,
//! and whatever it left of the app's processes is killed, once.

use std::time::Duration;

use crate::client::{self, ClientError};
use crate::home::{AppDir, Home};
use crate::keeper::{now_ms, state};
use crate::policy::Status;
use crate::proto::{AppStatus, Request, Response};

/// How long a status request may take; a keeper answers in microseconds unless it is wedged.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The status of the given app instances, in the same order.
pub fn statuses(home: &Home, ids: &[String]) -> Vec<AppStatus> {
    statuses_within(home, ids, STATUS_TIMEOUT)
}

/// `statuses`, each keeper given `timeout` to answer.
pub fn statuses_within(home: &Home, ids: &[String], timeout: Duration) -> Vec<AppStatus> {
    let requests = ids
        .iter()
        .map(|id| (home.app(id), Request::Status))
        .collect();
    let answers = client::broadcast(requests, timeout);
    let mut rows: Vec<AppStatus> = ids
        .iter()
        .zip(answers)
        .map(|(id, answer)| match answer {
            Ok(Response::Status { status }) => status,
            // A refusal (another user's keeper) or a protocol mismatch: said as it is.
            Ok(Response::Error { message }) => offline(home, id, Some(message)),
            Ok(other) => offline(
                home,
                id,
                Some(format!("unexpected answer from keeper: {other:?}")),
            ),
            Err(ClientError::NotRunning) => offline(home, id, None),
            Err(e) => offline(home, id, Some(e.to_string())),
        })
        .collect();
    number(home, &mut rows);
    rows
}

/// Fills in the numbers the rows lack (live keepers and state files carry theirs; apps seen
/// for the first time get one). Numbering is bookkeeping: a run directory that cannot be
/// written still shows status, without numbers.
pub fn number(home: &Home, rows: &mut [AppStatus]) {
    let ids: Vec<String> = rows
        .iter()
        .filter(|r| r.number.is_none())
        .map(|r| r.id.clone())
        .collect();
    if ids.is_empty() {
        return;
    }
    let numbers = home.numbers(&ids).unwrap_or_default();
    for r in rows.iter_mut().filter(|r| r.number.is_none()) {
        r.number = numbers.get(&r.id).copied();
    }
}

/// The status of every known app instance.
pub fn all(home: &Home) -> std::io::Result<Vec<AppStatus>> {
    let ids = home.app_ids()?;
    Ok(statuses(home, &ids))
}

/// Status of an app whose keeper did not answer.
fn offline(home: &Home, id: &str, problem: Option<String>) -> AppStatus {
    let dir = home.app(id);
    let saved = state::load(&dir.state_path());
    let mut status = match &saved {
        Some(s) => s.status.clone(),
        None => blank(home, id),
    };
    if status.source.is_none() {
        status.source = super::targets::saved_spec(home, id)
            .and_then(|s| s.source)
            .map(|p| p.display().to_string());
    }
    // A settled app's keeper has exited on purpose: show the final state without live figures.
    status.pid = None;
    status.keeper_pid = None;
    status.cpu_percent = None;
    status.memory_bytes = None;
    status.uptime_ms = None;
    if let Some(problem) = problem {
        status.reason = Some(format!("keeper not answering: {problem}"));
        return status;
    }
    if status.status.is_settled() {
        return status;
    }
    recover_lost(&dir, saved).unwrap_or(status)
}

fn blank(home: &Home, id: &str) -> AppStatus {
    let spec = super::targets::saved_spec(home, id);
    let name = spec.as_ref().map_or(id, |s| s.name.as_str());
    AppStatus::stopped(id, name, spec.as_ref().and_then(|s| s.instance), 0)
}

/// The keeper is gone but its app was not settled: the keeper died (SIGKILL, OOM killer...).
/// Under the app's lock, kill what is left of the app and record it as lost. `None` when a
/// keeper holds the lock after all (it is starting up).
fn recover_lost(dir: &AppDir, saved: Option<state::PersistedState>) -> Option<AppStatus> {
    let _lock = dir.try_lock().ok()??;
    let mut st = saved?;
    let was = st.status.status;
    let killed = st
        .session
        .map_or(0, |sid| crate::leftovers::kill_session(sid, &st.status.id));
    let seen = st.status.since_ms;
    st.status.status = Status::Lost;
    st.status.pid = None;
    st.status.keeper_pid = None;
    st.status.uptime_ms = None;
    st.status.cpu_percent = None;
    st.status.memory_bytes = None;
    st.status.since_ms = now_ms();
    st.status.reason = Some(format!(
        "keeper died while the app was {} (last keeper record at {}); the app died with it{}; `tpctl start {}` brings it back",
        was.as_str(),
        crate::render::timestamp(seen),
        if killed > 0 {
            format!(", {killed} leftover process(es) killed")
        } else {
            String::new()
        },
        st.status.id
    ));
    st.session = None;
    if let Err(e) = state::save(&dir.state_path(), &st) {
        tracing::warn!(error = %e, "cannot record the lost keeper");
    }
    alert_lost(dir, &st.status);
    Some(st.status)
}

/// Nobody else will tell: a keeper that died cannot, so the command that found it does.
fn alert_lost(dir: &AppDir, status: &AppStatus) {
    let Some(spec) = std::fs::read(dir.spec_path())
        .ok()
        .and_then(|b| serde_json::from_slice::<crate::spec::AppSpec>(&b).ok())
    else {
        return;
    };
    let Some(rules) = &spec.alerts else { return };
    let detail = status.reason.clone().unwrap_or_default();
    let alert = crate::alerts::Alert::new(
        crate::policy::AlertKind::Lost,
        &detail,
        status,
        &spec.env,
        now_ms(),
    );
    if let Ok(crate::alerts::queue::Raised::Queued(_)) =
        crate::alerts::queue::raise(dir, rules, alert)
    {
        crate::alerts::start_sender(dir);
    }
}
