//! A pipelined connection of our own for a worker's scripts: the path every job takes.
//!
//! The redis crate's multiplexed connection hands each command to a driver task and each
//! reply back through a channel: two task hops and a general parser per job, which made the
//! worker's turnaround, not Valkey, the limit at low concurrency. Here the task that awaits a
//! reply reads the socket itself: the first waiter registers for readability, reads whatever
//! replies have arrived, hands each to its waiter (in send order: RESP replies come back in
//! the order commands went out) and, when its own reply is in, passes the reading on to the
//! oldest waiter still waiting. Commands are written by the task that sends them.
//!
//! A broken connection fails every command in flight with the reason; the next command
//! connects again (callers retry with their own back-off). A connection whose oldest command
//! has had no reply for the reply timeout (a hung server, a network that drops packets
//! without a reset) counts as broken: a worker never sits alive but idle behind it.

pub mod oneshot;
pub(crate) mod resp;
mod script;
mod stream;
mod tls_stream;

pub use resp::{ProtocolError, Reply, command};
pub(crate) use script::{KeyList, ScriptCall};

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use resp::Parsed;
use stream::{Stream, Target};

/// Why a command got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect to Valkey at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("the connection to Valkey at {addr} broke: {reason}")]
    Broken { addr: String, reason: String },
    #[error("Valkey answered: {0}")]
    Server(String),
    #[error("unexpected reply from Valkey to {what}: {reply}")]
    Unexpected { what: &'static str, reply: String },
    #[error("VALKEY_URL is not usable here: {0}")]
    Url(String),
}

/// Read buffer: grows for a large reply, shrinks back to this when empty.
const READ_CHUNK: usize = 16 * 1024;

/// How long the oldest command may wait for its reply before the connection counts as
/// broken. Valkey answers other clients with BUSY while a slow script runs, so silence this
/// long means the server or the network is gone.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection shared by a worker's tasks (cheap to clone).
#[derive(Clone)]
pub struct Link {
    shared: Arc<Shared>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves buffers that may be half-updated: the state
        // is still memory-safe, and a broken stream is detected by the parser.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Breaks connection `generation` if it is still the current one.
    fn break_if_current(&self, generation: u64, reason: String) -> bool {
        let mut st = self.lock();
        if st.generation != generation || st.io.is_none() {
            return false;
        }
        st.fail_all(&LinkError::Broken {
            addr: self.target.shown(),
            reason,
        });
        true
    }
}

struct Shared {
    target: Target,
    reply_timeout: Duration,
    state: Mutex<State>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    io: Option<AsyncFd<Stream>>,
    /// Encoded commands; `out[sent..]` is not written yet.
    out: Vec<u8>,
    sent: usize,
    /// Received bytes `buf[start..end]` not yet parsed; `want` is the length worth parsing.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    want: usize,
    /// Commands sent (or queued in `out`), oldest first: replies arrive in this order.
    waiting: VecDeque<Waiting>,
    /// Replies (or failures) whose waiter has not collected them yet.
    done: Vec<(u64, Result<Reply, LinkError>)>,
    next_id: u64,
    /// Counts connections made, so a watchdog knows its connection from a later one.
    generation: u64,
    /// The waiter whose waker the socket holds for readability, if any.
    reader: Option<u64>,
}

struct Waiting {
    id: u64,
    since: Instant,
    waker: Option<Waker>,
    /// Its future was dropped: the reply is read and thrown away.
    abandoned: bool,
}

impl Link {
    /// A link to the server of a `redis://` / `valkey://` / `redis+unix://` URL; connects on
    /// first use.
    pub fn new(url: &str) -> Result<Link, LinkError> {
        Link::with_reply_timeout(url, REPLY_TIMEOUT)
    }

    /// As `new`, with a connection name set on every connection it makes (`CLIENT SETNAME`,
    /// part of the handshake, so no command ever runs on it unnamed).
    pub fn named(url: &str, name: &str) -> Result<Link, LinkError> {
        let mut target = Target::from_env(url)?;
        target.client_name = Some(name.to_string());
        Ok(Link::from_target(target, REPLY_TIMEOUT))
    }

    /// As `new`, with another reply timeout.
    pub fn with_reply_timeout(url: &str, reply_timeout: Duration) -> Result<Link, LinkError> {
        Ok(Link::from_target(Target::from_env(url)?, reply_timeout))
    }

    fn from_target(target: Target, reply_timeout: Duration) -> Link {
        Link {
            shared: Arc::new(Shared {
                target,
                reply_timeout,
                state: Mutex::new(State::default()),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Whether the server is found through Sentinel.
    pub fn under_sentinel(&self) -> bool {
        self.shared.target.sentinel.is_some()
    }

    /// Connects now if not connected (the first command would otherwise).
    pub async fn connect(&self) -> Result<(), LinkError> {
        self.ensure_connected().await
    }

    /// Sends one encoded command and waits for its reply. Error replies are `Ok(Reply::Error)`.
    /// The command is given in parts, written one after the other.
    pub async fn call(&self, command: &[&[u8]]) -> Result<Reply, LinkError> {
        let mut attempts = 0;
        let id = loop {
            {
                let mut st = self.lock();
                if st.io.is_some() {
                    break st.queue(command);
                }
            }
            attempts += 1;
            if attempts > 2 {
                // Connected twice and broken again before a command could go out.
                return Err(self.broken("the connection keeps closing".into()));
            }
            self.ensure_connected().await?;
        };
        Pending {
            link: self,
            id,
            collected: false,
        }
        .await
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    fn broken(&self, reason: String) -> LinkError {
        LinkError::Broken {
            addr: self.shared.target.shown(),
            reason,
        }
    }

    async fn ensure_connected(&self) -> Result<(), LinkError> {
        if self.lock().io.is_some() {
            return Ok(());
        }
        let _gate = self.shared.connecting.lock().await;
        if self.lock().io.is_some() {
            return Ok(());
        }
        let target = &self.shared.target;
        let stream = tokio::time::timeout(Duration::from_secs(10), target.open())
            .await
            .map_err(|_| LinkError::Connect {
                addr: target.shown(),
                reason: "no answer within 10 s".into(),
            })??;
        // SAFETY: `Stream` owns its socket and always returns that socket's fd, which stays
        // open until the `AsyncFd` (the `Stream`'s only owner) is dropped.
        let io = unsafe { AsyncFd::register(stream) }.map_err(|e| LinkError::Connect {
            addr: target.shown(),
            reason: e.to_string(),
        })?;
        // The handshake goes first on the new connection; commands sent meanwhile queue
        // behind it, in order.
        let ids: Vec<u64> = {
            let mut st = self.lock();
            st.install(io);
            tokio::spawn(watchdog(Arc::downgrade(&self.shared), st.generation));
            if target.sentinel.is_some() {
                tokio::spawn(follow_failover(Arc::downgrade(&self.shared), st.generation));
            }
            target.handshake().iter().map(|c| st.queue(&[c])).collect()
        };
        let last = ids.len().saturating_sub(1);
        for (i, id) in ids.into_iter().enumerate() {
            let reply = Pending {
                link: self,
                id,
                collected: false,
            }
            .await
            .map_err(|e| LinkError::Connect {
                addr: target.shown(),
                reason: e.to_string(),
            })?;
            // Under Sentinel the handshake ends with ROLE: a master the sentinels named may
            // have been demoted since, and only a master will do.
            let reply = match reply {
                r if target.sentinel.is_some() && i == last && !crate::sentinel::is_master(&r) => {
                    Reply::Error(
                        "the server the sentinels named is not a master (yet): asking again".into(),
                    )
                }
                r => r,
            };
            if let Reply::Error(e) = reply {
                self.lock().fail_all(&LinkError::Connect {
                    addr: target.shown(),
                    reason: e.clone(),
                });
                return Err(LinkError::Connect {
                    addr: target.shown(),
                    reason: e,
                });
            }
        }
        Ok(())
    }
}

/// Breaks connection `generation` when its oldest command waits too long for a reply; ends
/// with that connection (or the link).
async fn watchdog(shared: std::sync::Weak<Shared>, generation: u64) {
    let Some(timeout) = shared.upgrade().map(|s| s.reply_timeout) else {
        return;
    };
    let period = (timeout / 6).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let st = shared.lock();
        if st.generation != generation || st.io.is_none() {
            return;
        }
        if st
            .waiting
            .front()
            .is_some_and(|w| w.since.elapsed() > timeout)
        {
            drop(st);
            let reason = format!("no reply within {} s", timeout.as_secs_f64());
            tracing::warn!(addr = %shared.target.shown(), %reason, "connection to Valkey given up");
            shared.break_if_current(generation, reason);
            return;
        }
    }
}

/// Under Sentinel: breaks connection `generation` when a sentinel announces a new master
/// (`+switch-master`), so the next command connects to it, even while the old one still
/// answers as a master; ends with that connection (or the link).
async fn follow_failover(shared: std::sync::Weak<Shared>, generation: u64) {
    let current = |shared: &std::sync::Weak<Shared>| {
        shared.upgrade().is_some_and(|s| {
            let st = s.lock();
            st.generation == generation && st.io.is_some()
        })
    };
    let gone = async {
        while current(&shared) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::pin!(gone);
    loop {
        let Some(sentinels) = shared.upgrade().and_then(|s| s.target.sentinel.clone()) else {
            return;
        };
        tokio::select! {
            heard = sentinels.next_switch() => match heard {
                Ok(()) => {
                    crate::sentinel::heard_switch();
                    break;
                }
                // No sentinel to listen to: the connection loss, or READONLY, still tells.
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            },
            () = &mut gone => return,
        }
    }
    if let Some(shared) = shared.upgrade()
        && shared.break_if_current(generation, "the sentinels announced a new master".into())
    {
        tracing::warn!(addr = %shared.target.shown(), "the sentinels announced a new master; connecting to it");
    }
}

impl State {
    fn install(&mut self, io: AsyncFd<Stream>) {
        self.generation += 1;
        self.io = Some(io);
        self.out.clear();
        self.sent = 0;
        self.buf = vec![0; READ_CHUNK];
        (self.start, self.end, self.want) = (0, 0, 0);
        self.reader = None;
    }

    fn queue(&mut self, command: &[&[u8]]) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        for part in command {
            self.out.extend_from_slice(part);
        }
        self.waiting.push_back(Waiting {
            id,
            since: Instant::now(),
            waker: None,
            abandoned: false,
        });
        id
    }

    /// Ends the connection: every command in flight gets `err`.
    fn fail_all(&mut self, err: &LinkError) {
        self.io = None;
        self.out = Vec::new();
        self.sent = 0;
        self.buf = Vec::new();
        (self.start, self.end, self.want) = (0, 0, 0);
        self.reader = None;
        for w in self.waiting.drain(..) {
            if !w.abandoned {
                self.done.push((w.id, Err(err.clone())));
                if let Some(waker) = w.waker {
                    waker.wake();
                }
            }
        }
    }

    fn take_done(&mut self, id: u64) -> Option<Result<Reply, LinkError>> {
        let i = self.done.iter().position(|d| d.0 == id)?;
        Some(self.done.swap_remove(i).1)
    }

    /// Waiter `id` is leaving: if it was the reader, the oldest waiter becomes the reader.
    fn leave(&mut self, id: u64) {
        if self.reader != Some(id) {
            return;
        }
        self.reader = None;
        if let Some(w) = self.waiting.iter_mut().find(|w| !w.abandoned)
            && let Some(waker) = w.waker.take()
        {
            waker.wake();
        }
    }

    /// Writes what is queued. `Pending` when the socket cannot take it now.
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            let Some(io) = self.io.as_ref() else {
                return Poll::Ready(Ok(()));
            };
            let all_given = self.sent >= self.out.len();
            // A TLS stream may hold encrypted bytes the socket did not take yet: the command
            // is out only once they are.
            if all_given && !io.get_ref().pending_output() {
                break;
            }
            let mut guard = std::task::ready!(io.poll_write_ready(cx))?;
            if all_given {
                match guard.try_io(|fd| fd.get_ref().flush_pending()) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Poll::Ready(Err(e)),
                    Err(_would_block) => {}
                }
                continue;
            }
            let pending = &self.out[self.sent..];
            match guard.try_io(|fd| fd.get_ref().write(pending)) {
                Ok(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Ok(Ok(n)) => self.sent += n,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
        self.out.clear();
        self.sent = 0;
        if self.out.capacity() > READ_CHUNK * 4 {
            // A large command went out: give its memory back.
            self.out = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Reads once and hands out every complete reply. `Pending` when nothing has arrived.
    fn read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        let Some(io) = self.io.as_ref() else {
            return Poll::Ready(Ok(()));
        };
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                (self.end, self.start) = (self.end - self.start, 0);
            } else {
                let grown = (self.buf.len() * 2).max(READ_CHUNK);
                self.buf.resize(grown, 0);
            }
        }
        let mut guard = std::task::ready!(io.poll_read_ready(cx)).map_err(|e| e.to_string())?;
        let room = self.buf.len() - self.end;
        let end = self.end;
        match guard.try_io(|fd| fd.get_ref().read(&mut self.buf[end..])) {
            Ok(Ok(0)) => return Poll::Ready(Err("the server closed the connection".into())),
            Ok(Ok(n)) => {
                // A short read emptied the socket: what arrives next raises a fresh edge,
                // so skip the read that would only say "would block".
                if n < room {
                    guard.clear_ready();
                }
                self.end += n;
            }
            Ok(Err(e)) => return Poll::Ready(Err(e.to_string())),
            Err(_would_block) => return Poll::Ready(Ok(())),
        }
        self.dispatch()
    }

    /// Hands each complete reply to its waiter.
    fn dispatch(&mut self) -> Poll<Result<(), String>> {
        while self.end - self.start >= self.want.max(1) {
            match resp::parse(&self.buf[self.start..self.end]) {
                // A master demoted to a replica (a failover): this connection is done; the
                // next one asks the sentinels again.
                Ok(Parsed::Reply(Reply::Error(e), _)) if e.starts_with("READONLY") => {
                    return Poll::Ready(Err(format!("{e} (a replica now)")));
                }
                Ok(Parsed::Reply(reply, used)) => {
                    self.start += used;
                    self.want = 0;
                    let Some(w) = self.waiting.pop_front() else {
                        return Poll::Ready(Err("a reply nobody asked for".into()));
                    };
                    if !w.abandoned {
                        self.done.push((w.id, Ok(reply)));
                        if let Some(waker) = w.waker {
                            waker.wake();
                        }
                    }
                }
                Ok(Parsed::Incomplete(need)) => {
                    self.want = need;
                    break;
                }
                Err(e) => return Poll::Ready(Err(e.to_string())),
            }
        }
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            if self.buf.len() > READ_CHUNK {
                // A large reply is gone: give its memory back.
                self.buf = vec![0; READ_CHUNK];
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// A command's reply on its way.
struct Pending<'a> {
    link: &'a Link,
    id: u64,
    collected: bool,
}

impl Future for Pending<'_> {
    type Output = Result<Reply, LinkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let link = this.link;
        let mut st = link.lock();
        loop {
            if let Some(r) = st.take_done(this.id) {
                this.collected = true;
                st.leave(this.id);
                return Poll::Ready(r);
            }
            if st.io.is_none() {
                this.collected = true;
                return Poll::Ready(Err(link.broken("connection lost".into())));
            }
            // Write what is queued, then read. A write that has to wait does not keep the
            // replies from being read meanwhile.
            if let Poll::Ready(Err(e)) = st.flush(cx) {
                st.fail_all(&link.broken(e.to_string()));
                continue;
            }
            match st.read(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(reason)) => {
                    tracing::warn!(addr = %link.shared.target.shown(), %reason, "connection to Valkey lost");
                    st.fail_all(&link.broken(reason));
                }
                Poll::Pending => {
                    let id = this.id;
                    st.reader = Some(id);
                    if let Some(w) = st.waiting.iter_mut().find(|w| w.id == id) {
                        w.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.collected {
            return;
        }
        let mut st = self.link.lock();
        if st.take_done(self.id).is_none()
            && let Some(w) = st.waiting.iter_mut().find(|w| w.id == self.id)
        {
            w.abandoned = true;
            w.waker = None;
        }
        st.leave(self.id);
    }
}
