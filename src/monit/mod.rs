//! `tpctl monit`: process figures from the keepers beside each queue's figures from Valkey,
//! the selected app's log, and keys to act on both.
//!
//! `model` is the pure state (keys in, effects out), `view` draws it, `feeds` does the I/O on
//! threads of its own. The drawing loop only waits on the terminal, at most `INPUT_WAIT`,
//! and redraws when something changed (ratatui writes only the cells that differ, so nothing
//! flickers).

mod cells;
mod details;
mod feeds;
mod log_pane;
mod model;
mod view;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::commands::{CommandError, Ctx, Outcome};
use crate::keeper::now_ms;
use crate::queues;
use model::{Effect, Model, Valkey};

/// How long the loop waits for a key before looking at the feeds again.
const INPUT_WAIT: Duration = Duration::from_millis(100);
/// How often the selected app's log files are read.
const LOG_POLL: Duration = Duration::from_millis(250);

/// `tpctl monit [--interval SECONDS]`.
pub fn run(ctx: &Ctx, every: Duration) -> Result<Outcome, CommandError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CommandError::Usage(
            "monit needs a terminal; for scripts use `tpctl status --json` and `tpctl queues --json`".into(),
        ));
    }
    let io = |what: &str| {
        let what = what.to_string();
        move |source| CommandError::Io { what, source }
    };
    let queues::Located {
        valkey: found,
        configured,
    } = queues::locate(&ctx.home).map_err(|e| match e {
        queues::LocateError::Config(c) => CommandError::Config(c),
        other => CommandError::Usage(other.to_string()),
    })?;
    let valkey = match &found {
        Some(v) => Valkey::Connecting {
            address: tp_bullmq::connect::redacted(&v.url),
        },
        None => Valkey::NotConfigured,
    };

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(sig, stop.clone()).map_err(io("cannot handle signals"))?;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let poke = feeds::start(
        ctx.home.clone(),
        found.clone(),
        configured,
        every,
        tx.clone(),
    )
    .map_err(io("cannot start monit's readers"))?;

    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(io("cannot set up the terminal")(e));
        }
    };
    let mut shell = Shell {
        ctx,
        model: Model::new(valkey),
        valkey: found,
        tx,
        rx,
        poke,
        tail: None,
        last_log_poll: Instant::now(),
    };
    let result = shell.run(&mut terminal, &stop);
    ratatui::restore();
    let _ = ratatui::crossterm::execute!(std::io::stdout(), ratatui::crossterm::cursor::Show);
    result.map_err(io("terminal error"))?;
    Ok(Outcome::Success)
}

enum Input {
    Ready,
    None,
    /// The terminal hung up (its window closed, the ssh session dropped).
    Gone,
}

/// Waits up to `timeout` for the terminal to have input. crossterm's own read loops forever
/// on a hung-up terminal (read returns 0 again and again), so the hang-up is noticed here.
fn wait_for_input(timeout: Duration) -> std::io::Result<Input> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, ms) {
        Ok(0) => Ok(Input::None),
        Ok(_) => {
            let r = fds[0].revents().unwrap_or(PollFlags::empty());
            if r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                Ok(Input::Gone)
            } else {
                Ok(Input::Ready)
            }
        }
        Err(nix::errno::Errno::EINTR) => Ok(Input::None),
        Err(e) => Err(e.into()),
    }
}

/// The drawing loop and what it owns.
struct Shell<'a> {
    ctx: &'a Ctx,
    model: Model,
    valkey: Option<queues::Valkey>,
    tx: Sender<feeds::Msg>,
    rx: Receiver<feeds::Msg>,
    poke: feeds::Poke,
    tail: Option<feeds::LogTail>,
    last_log_poll: Instant,
}

impl Shell<'_> {
    fn run(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        stop: &AtomicBool,
    ) -> std::io::Result<()> {
        let mut dirty = true;
        let mut shown_second = 0;
        while !stop.load(Ordering::Relaxed) {
            dirty |= self.take_messages();
            dirty |= self.follow_log();
            let now = now_ms();
            // The clock in the header moves once a second.
            if dirty || now / 1000 != shown_second {
                terminal.draw(|f| view::draw(f, &self.model, now))?;
                shown_second = now / 1000;
                dirty = false;
            }
            match wait_for_input(INPUT_WAIT)? {
                Input::Gone => return Ok(()),
                Input::None => {}
                Input::Ready => {}
            }
            // Events crossterm has read already (several keys in one read, a resize) are
            // taken without waiting.
            while event::poll(Duration::ZERO)? {
                dirty = true;
                match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        // Debug builds only: lets the tests check the terminal is restored
                        // after a panic.
                        #[cfg(debug_assertions)]
                        if key.code == event::KeyCode::Char('!')
                            && std::env::var_os("TPCTL_MONIT_TEST_PANIC").is_some()
                        {
                            panic!("panic requested by TPCTL_MONIT_TEST_PANIC");
                        }
                        match self.model.on_key(key) {
                            Some(Effect::Quit) => return Ok(()),
                            Some(Effect::Run(action)) => feeds::run(
                                action,
                                self.valkey.clone(),
                                self.tx.clone(),
                                self.poke.clone(),
                            ),
                            None => {}
                        }
                    }
                    Event::Resize(..) => terminal.autoresize()?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Applies what the feeds sent; true when anything changed.
    fn take_messages(&mut self) -> bool {
        let mut changed = false;
        while let Ok(msg) = self.rx.try_recv() {
            changed = true;
            match msg {
                feeds::Msg::Apps(Ok(apps)) => self.model.set_apps(apps),
                feeds::Msg::Apps(Err(e)) => self.model.apps_error = Some(e),
                feeds::Msg::Ledger { id, entries } => {
                    self.model.ledgers.insert(id, entries);
                }
                feeds::Msg::Queues { result, warnings } => {
                    let address = self
                        .valkey
                        .as_ref()
                        .map(|v| tp_bullmq::connect::redacted(&v.url))
                        .unwrap_or_default();
                    match result {
                        Ok(figures) => self.model.set_queues(address, figures),
                        Err(reason) => self.model.queues_down(address, reason, now_ms()),
                    }
                    if let Some(w) = warnings.into_iter().next() {
                        self.model.finished(format!("Valkey: {w}"), true);
                    }
                }
                feeds::Msg::Done { text, ok } => self.model.finished(text, !ok),
            }
        }
        changed
    }

    /// Keeps the log lines of the selected app; true when they changed.
    fn follow_log(&mut self) -> bool {
        let selected = self.model.selected().map(|a| a.status.id.clone());
        let Some(id) = selected else { return false };
        if self.tail.as_ref().is_none_or(|t| t.id != id) {
            let (tail, lines) = feeds::LogTail::open(&self.ctx.home, &id);
            self.tail = Some(tail);
            self.model.set_logs(&id, lines);
            self.last_log_poll = Instant::now();
            return true;
        }
        if self.last_log_poll.elapsed() < LOG_POLL {
            return false;
        }
        self.last_log_poll = Instant::now();
        let lines = self.tail.as_mut().map(|t| t.poll()).unwrap_or_default();
        if lines.is_empty() {
            return false;
        }
        self.model.push_logs(lines);
        true
    }
}
