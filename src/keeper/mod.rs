//! The keeper: one small process per app instance that runs it and keeps it running.
//!
//! A single-threaded `poll` loop turns child exits, pipe data, control requests, timers and
//! memory samples into `policy::Event`s and carries out the `Effect`s the policy returns. It
//! holds the app's lock for its whole life, answers on the app's control socket and writes
//! `state.json`. When the app settles (stopped, errored, completed, failed) the keeper exits.

mod alerting;
pub mod child;
mod clients;
mod clock;
mod consumption;
pub mod control;
mod dependencies;
pub mod diag;
mod exchange;
mod exits;
mod health;
mod http_answer;
pub mod launch;
pub mod logfile;
pub mod logs;
mod mode;
mod notify;
pub mod output;
pub mod readbuf;
mod requests;
pub mod sampler;
mod sockets;
pub mod state;
pub mod timestamp;

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::unistd::Pid;

use crate::home::AppDir;
use crate::policy::{Effect, Event, Exit, Limits, Policy, Status, Timer};
use crate::proto::{AppStatus, LedgerEntry};
use crate::spec::AppSpec;
use clock::{cron_of, log_clock_of, next_due};
use control::Conn;
use logs::{Kind, LogSet};
pub use mode::{Mode, RunDir, Terminal};
use output::{Drained, Stream};
use readbuf::ReadBuffer;
use sampler::{Sample, Sampler};

/// How often to look whether leftover processes of an exited app are gone.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// Pipe reads per stream per loop turn, so one chatty app cannot starve the control socket.
const READS_PER_TURN: usize = 16;
/// The poll slot of the first control connection (after the wake pipe, listener, stdout,
/// stderr, notify socket, health probe and consumption look).
const FIRST_CONN: usize = 7;

/// The running app's pid and the start of its run.
struct Run {
    pid: Pid,
}

/// The keeper's whole state; one owner, the event loop.
pub struct Keeper {
    spec: AppSpec,
    mode: Mode,
    policy: Policy,
    launcher: child::Launcher,
    sampler: Sampler,
    run: Option<Run>,
    /// The pid of the last run, kept as the process group to watch after the main process exits.
    group: Option<Pid>,
    out: Option<Stream>,
    err: Option<Stream>,
    main_exit: Option<Exit>,
    leftovers_reported: bool,
    timers: HashMap<Timer, Instant>,
    /// The app's number (`tpctl restart 3`), given by the client before the keeper started.
    number: Option<u32>,
    /// `cron_restart`, parsed, and when it is next due.
    cron: Option<croner::Cron>,
    next_cron: Option<Instant>,
    /// `log_rotate` on the clock, and when it is next due.
    log_clock: Option<croner::Cron>,
    next_log_rotation: Option<Instant>,
    next_sample: Option<Instant>,
    next_group_check: Option<Instant>,
    last_sample: Option<Sample>,
    sampled_at: Option<Instant>,
    ledger: VecDeque<LedgerEntry>,
    conns: Vec<Conn>,
    wake: UnixStream,
    terminate: Arc<AtomicBool>,
    since_ms: u64,
    last_status: Status,
    dirty: bool,
    /// Where the app's output goes; kept open across restarts.
    logs: LogSet,
    /// The last stderr lines of the run that just ended, for its ledger entry.
    err_tail: Vec<String>,
    /// One read buffer for both pipes (keepers are many: each KiB counts).
    read_buf: ReadBuffer,
    /// poll's array, kept between turns (a turn allocates nothing it could keep).
    pollfds: Vec<libc::pollfd>,
    /// The last stderr line of the last failed run (`AppStatus::last_error`).
    last_error: Option<String>,
    /// The instances of the apps it runs `after`, found once (id, one-shot).
    dependency_ids: Option<Vec<(String, bool)>>,
    /// `notify = true`: the socket the app's sd_notify messages come in on.
    notify: Option<notify::NotifySocket>,
    /// The app's last STATUS= (or that it said it is stopping or reloading).
    notify_status: Option<String>,
    /// The health check in flight, and an http check's kept connection.
    health: health::Checks,
    /// The looks at Valkey's client list: in flight, and what the last one left.
    watch: consumption::Watcher,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Keeper {
    /// Sets up signal handling; the app is not started until `start`.
    pub fn new(
        spec: AppSpec,
        mode: Mode,
        ledger: VecDeque<LedgerEntry>,
    ) -> std::io::Result<Keeper> {
        let (wake, wake_tx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let terminate = Arc::new(AtomicBool::new(false));
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            signal_hook::flag::register(sig, Arc::clone(&terminate))?;
        }
        for sig in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            signal_hook::low_level::pipe::register(sig, wake_tx.try_clone()?)?;
        }
        // A log file over RLIMIT_FSIZE must fail the write (counted as dropped), not kill us.
        // SAFETY: setting a signal to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        // Orphaned grandchildren of the app are re-parented to us, so we can reap and kill them.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let logs = match (&mode.terminal, mode.dir()) {
            (Some(Terminal { json: true, .. }), _) => LogSet::json_lines(&spec.id),
            (Some(Terminal { prefix, .. }), _) => {
                let mut err_prefix = prefix.clone();
                // `name ! ` marks stderr lines, as `tpctl logs` does.
                if let Some(bar) = err_prefix.iter().rposition(|b| *b == b'|') {
                    err_prefix[bar] = b'!';
                }
                LogSet::terminal(prefix.clone(), err_prefix)
            }
            (None, Some(dir)) => LogSet::files(&spec.logs, dir),
            (None, None) => LogSet::terminal(Vec::new(), Vec::new()),
        };
        let policy = Policy::new(Limits::of(&spec));
        let notify = notify::open_for(&spec, mode.dir());
        let launcher = notify::launcher(&spec, notify.as_ref());
        let cron = cron_of(&spec);
        let log_clock = log_clock_of(&spec, &mode);
        // Read once here, so that `status` never reads a file per app for it.
        let number = mode.dir().and_then(AppDir::number);
        Ok(Keeper {
            spec,
            mode,
            policy,
            launcher,
            sampler: Sampler::new(),
            run: None,
            group: None,
            out: None,
            err: None,
            main_exit: None,
            leftovers_reported: false,
            timers: HashMap::new(),
            number,
            next_cron: cron.as_ref().and_then(next_due),
            cron,
            next_log_rotation: log_clock.as_ref().and_then(next_due),
            log_clock,
            next_sample: None,
            next_group_check: None,
            last_sample: None,
            sampled_at: None,
            ledger,
            conns: Vec::new(),
            wake,
            terminate,
            since_ms: now_ms(),
            last_status: Status::Stopped,
            dirty: true,
            logs,
            err_tail: Vec::new(),
            read_buf: ReadBuffer::default(),
            pollfds: Vec::new(),
            last_error: None,
            dependency_ids: None,
            notify,
            notify_status: None,
            health: Default::default(),
            watch: Default::default(),
        })
    }

    /// An operator's start or stop, marked in the log between the runs it separates: not at
    /// the top of a log with nothing before it, nor on `tpctl run`'s terminal, where the
    /// operator typed it.
    pub(super) fn mark_operator(&mut self, what: &str) {
        if self.mode.terminal.is_none() && self.logs.has_output() {
            self.mark(what);
        }
    }

    /// A `[tpctl] …` line in the app's stdout log, where its own lines tell what happened.
    pub(super) fn mark(&mut self, what: &str) {
        let mut line = logs::stamp(&self.spec.logs)
            .map(|f| f.render(now_ms()))
            .unwrap_or_default();
        line.extend_from_slice(format!("[tpctl] {what}\n").as_bytes());
        self.logs.sink(Kind::Out).write_lines(&line);
    }

    /// The app was errored, failed or lost before this keeper: its next stable run is a
    /// recovery (alerted as such).
    pub fn after_problem(&mut self) {
        self.policy.set_problem_open(true);
    }

    /// Starts the app; returns its status after the first spawn attempt.
    pub fn start(&mut self) -> AppStatus {
        self.resume_alerts();
        self.mark_operator("started by operator");
        self.feed(Event::Start);
        self.after_events();
        self.status()
    }

    /// Runs the event loop until the app settles; returns the final status.
    pub fn run(mut self) -> AppStatus {
        while !self.policy.status().is_settled() || self.conns.iter().any(|c| c.wants_write()) {
            self.turn();
        }
        self.finish()
    }

    fn turn(&mut self) {
        let timeout = self.poll_timeout();
        let mut fds = std::mem::take(&mut self.pollfds);
        fds.clear();
        let pfd = |fd: i32, events: i16| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        fds.push(pfd(self.wake.as_raw_fd(), libc::POLLIN));
        let listener_fd = self
            .mode
            .run_dir
            .as_ref()
            .map_or(-1, |r| r.listener.as_raw_fd());
        fds.push(pfd(listener_fd, libc::POLLIN));
        fds.push(pfd(
            self.out.as_ref().map_or(-1, Stream::raw_fd),
            libc::POLLIN,
        ));
        fds.push(pfd(
            self.err.as_ref().map_or(-1, Stream::raw_fd),
            libc::POLLIN,
        ));
        fds.push(pfd(
            self.notify
                .as_ref()
                .map_or(-1, notify::NotifySocket::raw_fd),
            libc::POLLIN,
        ));
        let (probe_fd, probe_events) = health::poll_interest(&self.health);
        fds.push(pfd(probe_fd, probe_events));
        let (look_fd, look_events) = consumption::poll_interest(&self.watch);
        fds.push(pfd(look_fd, look_events));
        for c in &self.conns {
            let ev = if c.wants_write() {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            fds.push(pfd(c.raw_fd(), ev));
        }
        // Rounded up: a timer less than a millisecond away must not make poll return at once
        // again and again until it is due (a spin of half a millisecond per timer, on average).
        let ms = timeout.map_or(-1, |d| {
            d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        });
        // SAFETY: fds is a valid, exclusively borrowed array of pollfd for the call's duration.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            self.pollfds = fds;
            return; // EINTR: a signal; the wake pipe tells which work is due
        }
        self.serve(&fds);
        self.pollfds = fds;
    }

    /// What one turn found ready, then everything that came due.
    fn serve(&mut self, fds: &[libc::pollfd]) {
        let ready = |i: usize| fds[i].revents != 0;

        if ready(0) {
            let mut sink = [0u8; 64];
            while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
            self.reap();
            if self.terminate.swap(false, Ordering::SeqCst) {
                tracing::info!("keeper asked to terminate; stopping the app");
                self.feed(Event::Stop);
            }
        }
        if ready(2)
            && let Some(s) = &mut self.out
            && s.drain(
                &mut self.read_buf,
                self.logs.sink(Kind::Out),
                READS_PER_TURN,
            ) == Drained::Eof
        {
            self.close_stream(true);
        }
        if ready(3)
            && let Some(s) = &mut self.err
            && s.drain(
                &mut self.read_buf,
                self.logs.sink(Kind::Err),
                READS_PER_TURN,
            ) == Drained::Eof
        {
            self.close_stream(false);
        }
        for (i, c) in self.conns.iter_mut().enumerate() {
            if fds.get(FIRST_CONN + i).is_some_and(|f| f.revents != 0) {
                if c.wants_write() {
                    c.on_writable();
                } else if let Some(req) = c.on_readable() {
                    c.request = Some(req);
                }
            }
        }
        if ready(4) {
            self.on_notify();
        }
        if ready(5) {
            self.on_probe_ready();
        }
        if ready(6) {
            self.on_look_ready();
        }
        self.probe_deadline();
        self.look_deadline();
        if ready(1)
            && let Some(RunDir { listener, dir }) = &self.mode.run_dir
        {
            control::accept_one(listener, &mut self.conns, dir);
            // New connections usually carry their request already: read it now.
            for c in self
                .conns
                .iter_mut()
                .filter(|c| c.request.is_none() && !c.done)
            {
                if let Some(req) = c.on_readable() {
                    c.request = Some(req);
                }
            }
        }
        self.handle_requests();
        self.check_exit();
        self.fire_timers();
        self.cron_if_due();
        self.rotate_logs_if_due();
        self.sample_if_due();
        self.after_events();
    }

    /// Applies one event to the policy and carries out its effects (which may feed more events).
    fn feed(&mut self, event: Event) {
        let now = Instant::now();
        let effects = self.policy.on(now, event);
        for effect in effects {
            self.apply(effect);
        }
        if self.policy.status() != self.last_status {
            self.last_status = self.policy.status();
            self.since_ms = now_ms();
            // Only the states a client must find after the keeper is gone are persisted; every
            // replacement of state.json costs a flush on ext4 (auto_da_alloc).
            if self.last_status == Status::Online || self.last_status.is_settled() {
                self.dirty = true;
            }
            tracing::info!(
                status = self.last_status.as_str(),
                reason = self.policy.reason(),
                "status changed"
            );
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Spawn => self.spawn(),
            Effect::Signal(sig) => {
                if let Some(g) = self.group {
                    tracing::info!(
                        signal = sig,
                        pgid = g.as_raw(),
                        "signalling the app's process group"
                    );
                    let _ = child::signal_group(g, sig);
                }
            }
            Effect::KillGroup => {
                if let Some(g) = self.group {
                    tracing::warn!(
                        pgid = g.as_raw(),
                        "kill_timeout passed; sending SIGKILL to the group"
                    );
                    let _ = child::signal_group(g, libc::SIGKILL);
                }
                kill_own_children();
            }
            Effect::Arm(t, after) => {
                self.timers.insert(t, Instant::now() + after);
            }
            Effect::Disarm(t) => {
                self.timers.remove(&t);
            }
            Effect::CheckDependencies => self.check_dependencies(),
            Effect::CheckHealth => self.start_health_check(),
            Effect::CheckConsumption => self.start_consumption_check(),
            Effect::Alert { kind, detail } => self.raise_alert(kind, &detail),
            Effect::Record { cause, uptime } => {
                // The restart in the app's own stream, after its last lines (drained before
                // the end was fed to the policy), so `tpctl logs` tells it in order.
                self.mark(&format!(
                    "restarted: {cause} (it had run {})",
                    crate::render::duration_ms(uptime.as_millis() as u64)
                ));
                self.ledger.push_back(LedgerEntry {
                    at_ms: now_ms(),
                    cause,
                    uptime_ms: uptime.as_millis() as u64,
                    stderr_tail: std::mem::take(&mut self.err_tail),
                });
                while self.ledger.len() > state::LEDGER_LEN {
                    self.ledger.pop_front();
                }
                self.dirty = true;
            }
        }
    }

    fn spawn(&mut self) {
        match self.launcher.spawn(&self.spec) {
            Ok(running) => {
                // Logged after the fork, off the crash-to-restart path.
                match self.ledger.back().filter(|_| self.policy.restarts() > 0) {
                    Some(last) => {
                        tracing::warn!(pid = running.pid.as_raw(), cause = %last.cause, uptime_ms = last.uptime_ms, "app restarted")
                    }
                    None => tracing::info!(pid = running.pid.as_raw(), "app started"),
                }
                let stamp = logs::stamp(&self.spec.logs);
                self.out = Stream::new(running.stdout, false, stamp.clone()).ok();
                self.err = Stream::new(running.stderr, true, stamp).ok();
                self.run = Some(Run { pid: running.pid });
                self.group = Some(running.pid);
                self.notify_status = None;
                self.sampler.reset();
                self.last_sample = None;
                self.sampled_at = None;
                self.next_sample = self
                    .spec
                    .max_memory_restart
                    .map(|_| Instant::now() + Duration::from_millis(100));
                self.feed(Event::Spawned);
            }
            Err(reason) => {
                tracing::error!(%reason, "cannot start the app");
                self.last_error = Some(reason.clone());
                self.feed(Event::SpawnFailed { reason });
            }
        }
    }

    /// The app's status right now.
    pub fn status(&self) -> AppStatus {
        let run = self.run.as_ref();
        let sample = run.and(self.last_sample);
        AppStatus {
            id: self.spec.id.clone(),
            number: self.number,
            name: self.spec.name.clone(),
            instance: self.spec.instance,
            status: self.policy.status(),
            pid: run.map(|r| r.pid.as_raw() as u32),
            keeper_pid: (!self.policy.status().is_settled()).then(std::process::id),
            uptime_ms: self
                .policy
                .started_at()
                .map(|t| t.elapsed().as_millis() as u64),
            restarts: self.policy.restarts(),
            cpu_percent: sample.and_then(|s| s.cpu_percent),
            cpu_seconds: Some(self.sampler.cpu_seconds_total()),
            memory_bytes: sample.map(|s| s.rss_bytes),
            last_exit: self.policy.last_exit(),
            reason: self.policy.reason().map(str::to_string),
            cause: self.policy.cause(),
            since_ms: self.since_ms,
            dropped_log_bytes: self.logs.dropped(),
            last_error: self.last_error.clone(),
            notify_status: self.notify_status.clone(),
            health: self.policy.health(),
            consumption: self.consumption_status(),
            source: self.spec.source.as_ref().map(|p| p.display().to_string()),
        }
    }

    /// Final bookkeeping once the app is settled: last state, socket removed.
    fn finish(mut self) -> AppStatus {
        if self.dirty {
            self.persist();
        }
        if let Some(dir) = self.mode.dir() {
            let _ = std::fs::remove_file(dir.socket_path());
        }
        self.status()
    }
}

/// Writes spec.json (owned by the keeper once it runs).
pub fn write_spec(dir: &AppDir, spec: &AppSpec) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(spec).map_err(std::io::Error::other)?;
    // Replacing a file costs a flush on ext4 (auto_da_alloc); most starts change nothing.
    if std::fs::read(dir.spec_path()).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    crate::persist::write_atomic(&dir.spec_path(), &bytes, 0o600, false)
}

/// SIGKILLs every child of this keeper: after the group is killed, the only ones left are the
/// app's descendants that moved to another group and were re-parented to us.
fn kill_own_children() {
    let me = std::process::id();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{me}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
            for pid in children
                .split_ascii_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                let _ =
                    nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}
