//! The client side of the control socket and of keeper launch.
//!
//! Requests to many keepers go out at once and are answered in parallel over one `poll`, which is
//! what keeps `status` of 200 apps in single-digit milliseconds and `stop all` as fast as the
//! slowest app.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::home::AppDir;
use crate::proto::{self, FrameError, Handshake, Request, RequestFrame, Response, ResponseFrame};
use crate::spec::AppSpec;

/// Why a keeper could not be reached or did not answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No keeper listens for this app (never started, stopped, or its keeper died).
    #[error("no keeper is running for it")]
    NotRunning,
    #[error("keeper did not answer within {0:?}")]
    Timeout(Duration),
    #[error("talking to its keeper failed: {0}")]
    Frame(#[from] FrameError),
    #[error(
        "keeper speaks control protocol v{theirs}, this tpctl v{ours}; `tpctl kill` and start again with one version"
    )]
    Version { theirs: u32, ours: u32 },
    #[error("cannot launch a keeper ({exe}): {source}")]
    Launch {
        exe: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("keeper failed to start: {0}")]
    KeeperFailed(String),
}

/// Connects to an app's keeper with a non-blocking socket (one syscall fewer per keeper than
/// connecting and then switching modes); `NotRunning` when nobody listens.
fn connect(dir: &AppDir) -> Result<UnixStream, ClientError> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    let fail = |e: nix::errno::Errno| ClientError::Frame(FrameError::Io(e.into()));
    let addr = UnixAddr::new(&dir.socket_path()).map_err(fail)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail)?;
    let result = match connect(fd.as_raw_fd(), &addr) {
        Ok(()) => Ok(UnixStream::from(fd)),
        // The keeper's backlog is full (it is busy): wait for a place.
        Err(nix::errno::Errno::EAGAIN) => {
            UnixStream::connect(dir.socket_path()).and_then(|s| s.set_nonblocking(true).map(|()| s))
        }
        Err(e) => Err(io::Error::from(e)),
    };
    match result {
        Ok(s) => Ok(s),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(ClientError::NotRunning)
        }
        Err(e) => Err(ClientError::Frame(FrameError::Io(e))),
    }
}

/// Sends one request to one keeper and waits for the answer.
pub fn request(dir: &AppDir, req: Request, timeout: Duration) -> Result<Response, ClientError> {
    broadcast(vec![(dir.clone(), req)], timeout)
        .pop()
        .unwrap_or(Err(ClientError::NotRunning))
}

struct Pending {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// Sends each request to its keeper at once, then collects every answer until `timeout`.
/// Results come back in the order of `items`. Many keepers are served by two threads: the
/// client's connect-and-send work is the bottleneck there, and the machine has cores for it.
pub fn broadcast(
    items: Vec<(AppDir, Request)>,
    timeout: Duration,
) -> Vec<Result<Response, ClientError>> {
    broadcast_notify(items, timeout, &|_| {})
}

/// `broadcast`, calling `answered(i)` as soon as item `i` has its answer (for progress lines).
pub fn broadcast_notify(
    items: Vec<(AppDir, Request)>,
    timeout: Duration,
    answered: &(dyn Fn(usize) + Sync),
) -> Vec<Result<Response, ClientError>> {
    const PER_THREAD: usize = 48;
    if items.len() < 2 * PER_THREAD {
        return broadcast_here(items, timeout, answered, 0);
    }
    let mut items = items;
    let split = items.len() / 2;
    let second = items.split_off(split);
    std::thread::scope(|scope| {
        let other = scope.spawn(move || broadcast_here(second, timeout, answered, split));
        let mut results = broadcast_here(items, timeout, answered, 0);
        match other.join() {
            Ok(rest) => results.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        results
    })
}

fn broadcast_here(
    items: Vec<(AppDir, Request)>,
    timeout: Duration,
    answered: &(dyn Fn(usize) + Sync),
    offset: usize,
) -> Vec<Result<Response, ClientError>> {
    let deadline = Instant::now() + timeout;
    let mut results: Vec<Option<Result<Response, ClientError>>> = Vec::with_capacity(items.len());
    let mut pending: Vec<(usize, Pending)> = Vec::new();
    for (i, (dir, req)) in items.into_iter().enumerate() {
        match send(&dir, req) {
            Ok(stream) => {
                pending.push((
                    i,
                    Pending {
                        stream,
                        buf: Vec::new(),
                    },
                ));
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    while !pending.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let mut fds: Vec<libc::pollfd> = pending
            .iter()
            .map(|(_, p)| libc::pollfd {
                fd: p.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = deadline
            .saturating_duration_since(now)
            .as_millis()
            .min(i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms.max(1)) };
        if n <= 0 {
            continue;
        }
        let mut still = Vec::with_capacity(pending.len());
        for ((i, mut p), fd) in pending.into_iter().zip(fds) {
            if fd.revents == 0 {
                still.push((i, p));
                continue;
            }
            match read_available(&mut p) {
                Ok(Some(resp)) => {
                    results[i] = Some(Ok(resp));
                    answered(offset + i);
                }
                Ok(None) => still.push((i, p)),
                Err(e) => {
                    results[i] = Some(Err(e));
                    answered(offset + i);
                }
            }
        }
        pending = still;
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(ClientError::Timeout(timeout))))
        .collect()
}

fn send(dir: &AppDir, req: Request) -> Result<UnixStream, ClientError> {
    let mut stream = connect(dir)?;
    let frame = proto::encode(&RequestFrame {
        v: proto::VERSION,
        request: req,
    })?;
    match write_all_nonblocking(&mut stream, &frame) {
        Ok(()) => {}
        // The keeper exited between accept and our write: it is not running any more.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Err(ClientError::NotRunning);
        }
        Err(e) => return Err(ClientError::Frame(FrameError::Io(e))),
    }
    Ok(stream)
}

/// Writes a request; one write almost always takes it whole, else wait for room.
fn write_all_nonblocking(stream: &mut UnixStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fd = [libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                // SAFETY: a valid one-element pollfd array.
                unsafe { libc::poll(fd.as_mut_ptr(), 1, 1000) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_available(p: &mut Pending) -> Result<Option<Response>, ClientError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match p.stream.read(&mut chunk) {
            Ok(0) => {
                return match proto::decode::<ResponseFrame>(&p.buf)? {
                    Some((frame, _)) => check_version(frame).map(Some),
                    // Closed without an answer: the keeper exited (its app settled meanwhile).
                    None => Err(ClientError::NotRunning),
                };
            }
            Ok(n) => {
                p.buf.extend_from_slice(&chunk[..n]);
                // A whole frame is in: no need for the read that would say "nothing more".
                if let Some((frame, _)) = proto::decode::<ResponseFrame>(&p.buf)? {
                    return check_version(frame).map(Some);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                return Err(ClientError::NotRunning);
            }
            Err(e) => return Err(ClientError::Frame(FrameError::Io(e))),
        }
    }
    match proto::decode::<ResponseFrame>(&p.buf)? {
        Some((frame, _)) => check_version(frame).map(Some),
        None => Ok(None),
    }
}

fn check_version(frame: ResponseFrame) -> Result<Response, ClientError> {
    if frame.v != proto::VERSION {
        return Err(ClientError::Version {
            theirs: frame.v,
            ours: proto::VERSION,
        });
    }
    Ok(frame.response)
}

/// A keeper process launched for an app, before its handshake has been read.
pub struct Launching {
    child: Child,
}

/// Starts a detached keeper for `spec` in `dir` and hands it the spec. Call `finish` for the outcome.
pub fn launch(dir: &AppDir, spec: &AppSpec) -> Result<Launching, ClientError> {
    let exe = std::env::current_exe().map_err(|source| ClientError::Launch {
        exe: PathBuf::from("tpctl"),
        source,
    })?;
    let mut cmd = Command::new(&exe);
    cmd.arg("keeper")
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; it detaches the keeper from our terminal and session.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| ClientError::Launch {
        exe: exe.clone(),
        source,
    })?;
    let body = serde_json::to_vec(spec).map_err(FrameError::Json)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .map_err(|source| ClientError::Launch { exe, source })?;
    }
    Ok(Launching { child })
}

impl Launching {
    /// Reads the keeper's handshake line.
    pub fn finish(mut self) -> Result<Handshake, ClientError> {
        let stdout = self
            .child
            .stdout
            .take()
            .ok_or_else(|| ClientError::KeeperFailed("no stdout".into()))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(FrameError::Io)?;
        if line.trim().is_empty() {
            let status = self.child.wait().ok();
            return Err(ClientError::KeeperFailed(format!(
                "it exited without a word ({status:?}); see its keeper.log"
            )));
        }
        let handshake: Handshake = serde_json::from_str(line.trim()).map_err(FrameError::Json)?;
        if !matches!(handshake, Handshake::Started { .. }) {
            // It exits right away; reap it so no zombie stays while we run.
            let _ = self.child.wait();
        }
        Ok(handshake)
    }
}
