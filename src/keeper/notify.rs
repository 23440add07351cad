//! The keeper's end of systemd's sd_notify protocol (`notify = true`): a datagram socket the
//! app finds in `NOTIFY_SOCKET`, messages of `KEY=VALUE` lines. Every datagram carries its
//! sender's credentials (SO_PASSCRED), so only the app's own process group is heard.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt,
};

use super::Keeper;
use super::child::Launcher;
use crate::home::AppDir;
use crate::policy::Event;
use crate::spec::AppSpec;

/// Opens the notify socket of an app with `notify = true` (in its run directory); a socket
/// that cannot be opened is logged, and the app then never gets ready (its start fails with
/// the reason).
pub(super) fn open_for(spec: &AppSpec, dir: Option<&AppDir>) -> Option<NotifySocket> {
    spec.notify?;
    // An app run as another user cannot reach into the keeper's private run directory: it
    // gets an abstract socket, where the sender's process group is still what is checked.
    let dir = dir.filter(|_| spec.privileges.account.is_none());
    match NotifySocket::open(dir.map(AppDir::path)) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot open the notify socket; the app cannot report ready");
            None
        }
    }
}

/// The launcher of `spec`, its environment given NOTIFY_SOCKET when there is a socket.
pub(super) fn launcher(spec: &AppSpec, notify: Option<&NotifySocket>) -> Launcher {
    match notify {
        Some(n) => {
            let mut with = spec.clone();
            with.env.insert("NOTIFY_SOCKET".into(), n.address.clone());
            // As systemd gives it: an app pings at half of it.
            if let Some(w) = spec.notify.and_then(|n| n.watchdog) {
                with.env
                    .insert("WATCHDOG_USEC".into(), w.as_micros().to_string());
            }
            Launcher::new(&with)
        }
        None => Launcher::new(spec),
    }
}

impl Keeper {
    /// What the app said on its notify socket: only datagrams from its own process group
    /// count (another process could otherwise report it ready).
    pub(super) fn on_notify(&mut self) {
        let Some(sock) = &self.notify else { return };
        let datagrams = sock.drain();
        let Some(group) = self.group else { return };
        for (pid, text) in datagrams {
            let ours = pid.is_some_and(|p| {
                nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(p))) == Ok(group)
            });
            if !ours {
                tracing::warn!(sender = ?pid, "ignored a notify message from outside the app's process group");
                continue;
            }
            for m in parse(&text) {
                match m {
                    Message::Ready => self.feed(Event::Ready),
                    Message::Watchdog => self.feed(Event::WatchdogPing),
                    // Shown while the keeper lives, not persisted: writing state.json for
                    // every STATUS (tp-worker sends one every few seconds) costs a flush.
                    Message::Status(s) => self.notify_status = Some(s),
                    Message::Stopping => self.notify_status = Some("stopping".into()),
                    Message::Reloading => self.notify_status = Some("reloading".into()),
                }
            }
        }
    }
}

/// What an app said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Ready,
    Watchdog,
    Status(String),
    Stopping,
    Reloading,
}

/// The messages of one datagram, in order; unknown keys (MAINPID, ERRNO, …) are skipped.
pub fn parse(datagram: &str) -> Vec<Message> {
    datagram
        .lines()
        .filter_map(|line| match line.split_once('=') {
            Some(("READY", "1")) => Some(Message::Ready),
            Some(("WATCHDOG", "1")) => Some(Message::Watchdog),
            Some(("STOPPING", "1")) => Some(Message::Stopping),
            Some(("RELOADING", "1")) => Some(Message::Reloading),
            Some(("STATUS", s)) => Some(Message::Status(s.chars().take(200).collect())),
            _ => None,
        })
        .collect()
}

/// A bound notify socket.
pub struct NotifySocket {
    sock: UnixDatagram,
    /// The file to remove when done (none for an abstract socket).
    file: Option<PathBuf>,
    /// What the app gets in NOTIFY_SOCKET.
    pub address: String,
}

/// sockaddr_un's path holds 108 bytes with its NUL; a longer path gets an abstract socket.
const MAX_PATH: usize = 100;

impl NotifySocket {
    /// Binds `notify.sock` in `dir` (or, when that path is too long or there is no directory,
    /// an abstract socket named after the keeper), nonblocking, with credentials passed.
    pub fn open(dir: Option<&Path>) -> io::Result<NotifySocket> {
        let path = dir.map(|d| d.join("notify.sock"));
        let (sock, file, address) = match path.filter(|p| p.as_os_str().len() <= MAX_PATH) {
            Some(p) => {
                let _ = std::fs::remove_file(&p);
                let sock = UnixDatagram::bind(&p)?;
                let address = p.display().to_string();
                (sock, Some(p), address)
            }
            None => {
                use std::os::linux::net::SocketAddrExt;
                let name = format!("tpctl-notify-{}", std::process::id());
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
                (UnixDatagram::bind_addr(&addr)?, None, format!("@{name}"))
            }
        };
        sock.set_nonblocking(true)?;
        setsockopt(&sock, sockopt::PassCred, &true).map_err(io::Error::from)?;
        Ok(NotifySocket {
            sock,
            file,
            address,
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Every datagram waiting, with the pid that sent it (none when the kernel gave no
    /// credentials).
    pub fn drain(&self) -> Vec<(Option<i32>, String)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // At most a few hundred per turn: a flooding app cannot keep the keeper here.
        for _ in 0..256 {
            let mut cmsg = nix::cmsg_space!(UnixCredentials);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let Ok(msg) = recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) else {
                break;
            };
            let pid = msg.cmsgs().ok().and_then(|mut c| {
                c.find_map(|m| match m {
                    ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid()),
                    _ => None,
                })
            });
            let n = msg.bytes;
            out.push((pid, String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
        out
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_line_by_line() {
        assert_eq!(
            parse("READY=1\nSTATUS=processing 3 jobs\nMAINPID=12\nWATCHDOG=1"),
            vec![
                Message::Ready,
                Message::Status("processing 3 jobs".into()),
                Message::Watchdog
            ]
        );
        assert_eq!(parse("READY=0\nWATCHDOG=trigger"), vec![]);
        assert_eq!(
            parse("STOPPING=1\nRELOADING=1"),
            vec![Message::Stopping, Message::Reloading]
        );
    }

    #[test]
    fn a_datagram_arrives_with_its_senders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = NotifySocket::open(Some(dir.path())).expect("bound");
        let client = UnixDatagram::unbound().expect("client");
        client.send_to(b"READY=1", &s.address).expect("send");
        let got = s.drain();
        assert_eq!(
            got,
            vec![(Some(std::process::id() as i32), "READY=1".to_string())]
        );
        assert!(s.drain().is_empty());
    }
}
