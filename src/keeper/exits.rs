//! Reaping: the app's main process and its re-parented descendants, waiting for the rest of its
//! process group, and putting all its output on disk before the policy hears of the end.

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::time::Instant;

use super::logs::Kind;
use super::{GROUP_POLL, Keeper, child};
use crate::policy::{Event, Exit, Status};

impl Keeper {
    /// Reaps every exited child: the app's main process and re-parented descendants.
    pub(super) fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_reaped(pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.on_reaped(pid, Exit::Signal(sig as i32))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.check_exit();
    }

    pub(super) fn on_reaped(&mut self, pid: Pid, exit: Exit) {
        if self.on_probe_reaped(pid, exit) {
            return;
        }
        if self.run.as_ref().is_some_and(|r| r.pid == pid) {
            tracing::info!(pid = pid.as_raw(), %exit, "app exited");
            self.run = None;
            self.main_exit = Some(exit);
        }
    }

    /// Once the main process has exited: wait for the rest of its group, then report the end.
    pub(super) fn check_exit(&mut self) {
        let Some(exit) = self.main_exit else { return };
        let group = self.group;
        if let Some(g) = group
            && child::group_alive(g)
        {
            if !self.leftovers_reported && self.policy.status() != Status::Stopping {
                self.leftovers_reported = true;
                tracing::warn!(
                    pgid = g.as_raw(),
                    "the app exited but left processes in its group; stopping them"
                );
                self.feed(Event::Leftovers { exit });
            }
            self.next_group_check = Some(Instant::now() + GROUP_POLL);
            return;
        }
        self.next_group_check = None;
        self.main_exit = None;
        self.leftovers_reported = false;
        self.group = None;
        // Everything the app wrote is in the pipes now: put it on disk before any restart.
        if let Some(s) = &mut self.out {
            let _ = s.drain(&mut self.read_buf, self.logs.sink(Kind::Out), usize::MAX);
        }
        if let Some(s) = &mut self.err {
            let _ = s.drain(&mut self.read_buf, self.logs.sink(Kind::Err), usize::MAX);
        }
        self.close_stream(true);
        self.close_stream(false);
        if exit == Exit::Code(0) && self.spec.is_one_shot() {
            self.last_error = None;
        } else if exit != Exit::Code(0) && self.policy.status() != Status::Stopping {
            self.last_error = self
                .err_tail
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim_end().to_string())
                .or_else(|| self.last_error.take());
        }
        self.feed(Event::Ended { exit });
    }

    pub(super) fn close_stream(&mut self, is_out: bool) {
        let stream = if is_out {
            self.out.take()
        } else {
            self.err.take()
        };
        // Keep the stderr tail for the ledger entry that may follow.
        if let Some(s) = stream
            && !is_out
        {
            self.err_tail = s.tail();
        }
    }
}
