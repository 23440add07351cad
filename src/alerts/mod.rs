//! Alerts: word to a person of what needs them (errored, failed, start failure, memory
//! restart, lost, too many restarts, recovery).
//!
//! The policy decides the event (`Effect::Alert`); the keeper that saw it builds the alert
//! (`record`), and the queue in the app's run directory filters it (events, dedup, rate) and
//! keeps it on disk (`queue`). Delivery (`send`) is a short-lived process of its own, started
//! by the keeper: it retries with back-off until every destination has the alert, never
//! blocks the keeper, survives the keeper's exit (an errored app's keeper is done), and no
//! keeper carries HTTP or SMTP state. `message` renders the bodies.

pub mod message;
pub mod queue;
pub mod record;
pub mod send;

use std::process::{Command, Stdio};

use crate::home::AppDir;

pub use record::Alert;

/// Starts the alert sender for an app's queue, detached (it outlives the caller); a sender
/// already at work keeps the queue and this one exits at once.
pub fn start_sender(dir: &AppDir) {
    let Ok(exe) = std::env::current_exe() else {
        tracing::error!("cannot find tpctl's own binary to start the alert sender");
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.arg("alert-sender")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own session: a stop of the app's group or the keeper's terminal does not reach it.
    // SAFETY: setsid in the child between fork and exec touches no memory of ours.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::setsid();
            Ok(())
        });
    }
    match cmd.spawn() {
        // Reaped by whoever inherits it: the keeper is a subreaper, and reaps every child.
        Ok(child) => drop(child),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the alert sender; the alert stays queued")
        }
    }
}
