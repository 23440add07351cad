//! The keeper's side of the control protocol: one handler per request, parked requests
//! answered when the app reaches the state they wait for, and the state file written after.

use nix::unistd::Pid;

use super::control::Until;
use super::logs::LogSet;
use super::{Keeper, state, write_spec};
use crate::policy::{Event, Status};
use crate::proto::{Request, Response};
use crate::spec::AppSpec;

impl Keeper {
    pub(super) fn handle_requests(&mut self) {
        let mut i = 0;
        while i < self.conns.len() {
            if let Some(req) = self.conns[i].request.take() {
                match self.conns[i].refusal.take() {
                    Some(message) => self.conns[i].respond(&Response::Error { message }),
                    None => self.handle(i, req),
                }
            }
            i += 1;
        }
    }

    pub(super) fn handle(&mut self, i: usize, req: Request) {
        match req {
            Request::Status => {
                self.refresh_sample();
                let status = self.status();
                self.conns[i].respond(&Response::Status { status });
            }
            Request::Describe => {
                self.refresh_sample();
                let response = Response::Describe {
                    status: self.status(),
                    spec: Box::new(self.spec.clone()),
                    ledger: self.ledger.iter().cloned().collect(),
                };
                self.conns[i].respond(&response);
            }
            Request::Start => {
                if self.policy.status().is_settled() {
                    self.last_error = None;
                    self.mark_operator("started by operator");
                }
                self.supersede_stops("start");
                self.conns[i].parked = Some(Until::Running);
                self.feed(Event::Start);
            }
            Request::Stop => {
                if !self.policy.status().is_settled() {
                    self.mark_operator("stopped by operator");
                }
                self.conns[i].parked = Some(Until::Settled);
                self.feed(Event::Stop);
            }
            Request::Restart { spec } => {
                if let Some(spec) = spec {
                    self.replace_spec(*spec);
                }
                self.last_error = None;
                self.dependency_ids = None;
                self.supersede_stops("restart");
                self.conns[i].parked = Some(Until::Running);
                self.feed(Event::Restart);
            }
            Request::ReopenLogs => {
                self.logs.reopen();
                let status = self.status();
                self.conns[i].respond(&Response::Status { status });
            }
            Request::FlushLogs => {
                let response = match self.logs.flush() {
                    Ok(()) => Response::Status {
                        status: self.status(),
                    },
                    Err(e) => Response::Error {
                        message: format!("cannot empty the log files: {e}"),
                    },
                };
                self.conns[i].respond(&response);
            }
            Request::WaitSettled => {
                self.conns[i].parked = Some(Until::Outcome);
            }
        }
    }

    /// Answers the requests waiting for the app to settle before a start or restart moves
    /// it on: settled already (its stop finished in this same turn), they get that status;
    /// still stopping, the start wins (the app starts again as soon as it has stopped, so it
    /// is never seen settled) and they are told so. Either way none of them waits for ever.
    fn supersede_stops(&mut self, by: &str) {
        let status = self.policy.status();
        let response = if status.is_settled() {
            Response::Status {
                status: self.status(),
            }
        } else if status == Status::Stopping {
            Response::Error {
                message: format!(
                    "a {by} request came in while the app was stopping; it is starting again"
                ),
            }
        } else {
            return;
        };
        for c in &mut self.conns {
            if c.parked == Some(Until::Settled) {
                c.respond(&response);
            }
        }
    }

    pub(super) fn replace_spec(&mut self, spec: AppSpec) {
        self.policy.set_limits(crate::policy::Limits::of(&spec));
        if spec.notify.is_some() && self.notify.is_none() {
            self.notify = super::notify::open_for(&spec, self.mode.dir());
        }
        self.launcher = super::notify::launcher(&spec, self.notify.as_ref());
        if spec.logs != self.spec.logs
            && self.mode.terminal.is_none()
            && let Some(dir) = self.mode.dir()
        {
            self.logs = LogSet::files(&spec.logs, dir);
        }
        let cron_changed = spec.cron_restart != self.spec.cron_restart;
        let clock_changed = spec.logs.rotate_every != self.spec.logs.rotate_every;
        self.spec = spec;
        if cron_changed {
            self.rearm_cron();
        }
        if clock_changed {
            self.rearm_log_clock();
        }
        if let Some(dir) = self.mode.dir()
            && let Err(e) = write_spec(dir, &self.spec)
        {
            tracing::error!(error = %e, "cannot save the new spec");
        }
    }

    /// Persists a changed state and answers parked requests whose condition now holds.
    pub(super) fn after_events(&mut self) {
        let status = self.policy.status();
        let settled = status.is_settled();
        // Waiting for the apps it runs `after` is an answer to a start too, and so is a
        // failed attempt waiting to be retried (an app that never got ready, say).
        let running = matches!(
            status,
            Status::Online | Status::Waiting | Status::WaitingRestart
        ) || settled;
        // A one-shot that failed and will be retried has an outcome to report.
        let outcome = settled || (status == Status::WaitingRestart && self.spec.is_one_shot());
        let mut answer = Vec::new();
        for (i, c) in self.conns.iter().enumerate() {
            match c.parked {
                Some(Until::Running) if running => answer.push(i),
                Some(Until::Settled) if settled => answer.push(i),
                Some(Until::Outcome) if outcome => answer.push(i),
                _ => {}
            }
        }
        // Answer first: the state file is written before the socket closes, which is all a
        // client that finds no keeper relies on.
        if !answer.is_empty() {
            let response = Response::Status {
                status: self.status(),
            };
            for i in answer {
                self.conns[i].respond(&response);
            }
        }
        if self.dirty {
            self.persist();
        }
        self.conns.retain(|c| !c.done || c.wants_write());
    }

    pub(super) fn persist(&mut self) {
        self.dirty = false;
        let Some(dir) = self.mode.dir() else {
            return;
        };
        let st = state::PersistedState {
            format: state::FORMAT,
            status: self.status(),
            session: self.group.map(Pid::as_raw),
            ledger: self.ledger.clone(),
        };
        if let Err(e) = state::save(&dir.state_path(), &st) {
            tracing::error!(error = %e, "cannot write state.json");
        }
    }
}
