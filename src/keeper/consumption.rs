//! The keeper's look at Valkey for `Effect::CheckConsumption`, with the app's own VALKEY_URL,
//! nonblocking in the poll loop like a health check. The first look lists every client
//! (CLIENT LIST) and finds the app's connections by matching their addresses to the app's
//! sockets in /proc; while the app keeps the same sockets, later looks ask for those
//! connections alone (CLIENT LIST ID …) on a connection kept between looks, so a look costs
//! little however many clients Valkey has.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use tp_bullmq::link::oneshot::{self, Endpoint};
use tp_bullmq::link::{Reply, command};

use super::Keeper;
use super::exchange::{Exchange, Progress};
use super::{clients, sampler, sockets};
use crate::policy::Event;
use crate::policy::consumption::Seen;
use crate::proto::{ConsumptionState, QueueConsumption};

/// A look that takes longer than this found nothing.
const LOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// The looks' state: the one in flight, the connection kept between looks, and what the last
/// full list said of the app's connections.
#[derive(Default)]
pub(super) struct Watcher {
    look: Option<Look>,
    kept: Option<Kept>,
    known: Option<Known>,
}

struct Kept {
    x: Exchange,
    /// Its client id and local address.
    own: (u64, SocketAddr),
}

struct Known {
    /// The app's TCP addresses then, and its connections' client ids.
    app: HashSet<SocketAddr>,
    ids: Vec<u64>,
}

struct Look {
    x: Exchange,
    deadline: Instant,
    kind: Kind,
    /// The app's socket inodes when the look began (none for a look at known ids).
    inodes: Vec<u64>,
}

enum Kind {
    /// A new connection: the URL's handshake, CLIENT SETNAME, CLIENT ID, CLIENT LIST.
    Fresh { handshake: usize, replies: usize },
    /// On the kept connection: CLIENT LIST (every client).
    All { own: (u64, SocketAddr) },
    /// On the kept connection: CLIENT LIST ID of the app's known connections.
    Ids { own: (u64, SocketAddr) },
}

impl Kind {
    fn replies(&self) -> usize {
        match self {
            Kind::Fresh { replies, .. } => *replies,
            _ => 1,
        }
    }
}

pub(super) fn poll_interest(w: &Watcher) -> (RawFd, i16) {
    w.look.as_ref().map_or((-1, 0), |l| l.x.interest())
}

/// Why Valkey refused one of the look's commands, with what to grant for a NOPERM.
fn refused(command: &str, grant: &str, e: &str) -> String {
    if e.starts_with("NOPERM") {
        format!("Valkey refused {command} to VALKEY_URL's user ({e}); grant it {grant}")
    } else {
        format!("Valkey answered {command} with: {e}")
    }
}

fn list_text(reply: Option<Reply>) -> Result<String, String> {
    match reply {
        Some(Reply::Bulk(b)) => Ok(String::from_utf8(b)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
        Some(Reply::Error(e)) => Err(refused("CLIENT LIST", "+client|list", &e)),
        other => Err(format!("unexpected answer to CLIENT LIST: {other:?}")),
    }
}

impl Keeper {
    /// Starts a look (the policy asked for it).
    pub(super) fn start_consumption_check(&mut self) {
        if self.watch.look.is_some() {
            return;
        }
        let deadline = Instant::now() + LOOK_TIMEOUT;
        self.look_on_kept(deadline, true);
    }

    /// A look on the kept connection, else on a new one. `ids_will_do`: the app's known
    /// connections are asked for alone (while they consume, nothing else needs reading).
    fn look_on_kept(&mut self, deadline: Instant, ids_will_do: bool) {
        let ids_look = ids_will_do
            && self.watch.kept.is_some()
            && self.watch.known.as_ref().is_some_and(|k| !k.ids.is_empty());
        // The app's sockets are read only for a full list, to match its addresses.
        let inodes = match &self.run {
            _ if ids_look => Vec::new(),
            Some(run) => sockets::inodes(&sampler::tree(run.pid.as_raw())),
            None => return self.consumption_found(Err("the app is not running".into())),
        };
        let Some(Kept { mut x, own }) = self.watch.kept.take() else {
            return self.fresh_look(inodes, deadline);
        };
        let kind = match &self.watch.known {
            Some(k) if ids_look => {
                let ids: Vec<String> = k.ids.iter().map(u64::to_string).collect();
                let mut words: Vec<&[u8]> = vec![b"CLIENT", b"LIST", b"ID"];
                words.extend(ids.iter().map(|i| i.as_bytes()));
                x.again(command(&words));
                Kind::Ids { own }
            }
            _ => {
                x.again(command(&[b"CLIENT", b"LIST", b"TYPE", b"normal"]));
                Kind::All { own }
            }
        };
        self.watch.look = Some(Look {
            x,
            deadline,
            kind,
            inodes,
        });
        self.on_look_ready();
    }

    /// A look on a new connection.
    fn fresh_look(&mut self, inodes: Vec<u64>, deadline: Instant) {
        // A look at known ids that found its connection closed has not read the sockets.
        let inodes = match (&self.run, inodes.is_empty()) {
            (Some(run), true) => sockets::inodes(&sampler::tree(run.pid.as_raw())),
            _ => inodes,
        };
        let Some(url) = self
            .spec
            .env
            .get("VALKEY_URL")
            .filter(|u| !u.trim().is_empty())
        else {
            return self.consumption_found(Err("no VALKEY_URL in the app's environment".into()));
        };
        if self
            .spec
            .env
            .get("VALKEY_SENTINELS")
            .is_some_and(|v| !v.trim().is_empty())
        {
            return self.consumption_found(Err(
                "Valkey is found through Sentinel (VALKEY_SENTINELS), which keepers do not look through yet".into(),
            ));
        }
        if ["rediss://", "valkeys://"]
            .iter()
            .any(|s| url.trim().starts_with(s))
        {
            return self.consumption_found(Err(
                "Valkey is reached over TLS (rediss://), which keepers do not look through yet"
                    .into(),
            ));
        }
        let name = format!("tpctl-keeper:{}", self.spec.id);
        let commands: [&[&[u8]]; 3] = [
            &[b"CLIENT", b"SETNAME", name.as_bytes()],
            &[b"CLIENT", b"ID"],
            &[b"CLIENT", b"LIST", b"TYPE", b"normal"],
        ];
        let planned = match oneshot::exchange(url.trim(), &commands) {
            Ok(p) => p,
            Err(e) => return self.consumption_found(Err(e.to_string())),
        };
        let (host, port) = match &planned.endpoint {
            Endpoint::Tcp { host, port } => (host, port),
            Endpoint::Unix(_) => {
                return self.consumption_found(Err(
                    "Valkey is on a unix socket, where its client list cannot tell the app's connections from others'".into(),
                ));
            }
            Endpoint::Tls { .. } => {
                return self.consumption_found(Err("Valkey is reached over TLS".into()));
            }
        };
        let x = match Exchange::start(host, *port, planned.bytes) {
            Ok(x) => x,
            Err(e) => return self.consumption_found(Err(format!("Valkey {host}:{port}: {e}"))),
        };
        let at_once = x.connected_at_once();
        self.watch.look = Some(Look {
            x,
            deadline,
            kind: Kind::Fresh {
                handshake: planned.handshake,
                replies: planned.replies,
            },
            inodes,
        });
        if at_once {
            self.on_look_ready();
        }
    }

    /// The look's socket is ready.
    pub(super) fn on_look_ready(&mut self) {
        let Some(look) = self.watch.look.as_mut() else {
            return;
        };
        let reused = !matches!(look.kind, Kind::Fresh { .. });
        let step = look.x.step();
        let replies = match &step {
            Ok(Progress::Read { eof }) => {
                match oneshot::replies(look.x.answer(), look.kind.replies()) {
                    Ok(None) if !eof => return,
                    other => Some((other, *eof)),
                }
            }
            Ok(_) => return,
            Err(_) => None,
        };
        // The kept connection was closed meanwhile (Valkey restarted, an idle timeout): the
        // look goes again on a new one.
        let stale = reused
            && match (&step, &replies) {
                (Err(_), _) => true,
                (_, Some((Ok(None), true))) => look.x.answer().is_empty(),
                _ => false,
            };
        let Some(look) = self.watch.look.take() else {
            return;
        };
        if stale {
            return self.fresh_look(look.inodes, look.deadline);
        }
        let deadline = look.deadline;
        let full_list = !matches!(look.kind, Kind::Ids { .. });
        let found = match (step, replies) {
            (Err(e), _) => Err(format!("Valkey: {e}")),
            (_, Some((Ok(Some(replies)), _))) => match self.judge(look, replies) {
                Ok(Some(found)) => Ok(found),
                // Some connection is gone: the whole list tells whether another took over.
                Ok(None) => return self.look_on_kept(deadline, false),
                Err(e) => Err(e),
            },
            (_, Some((Ok(None), _))) => Err("Valkey closed the connection before answering".into()),
            (_, Some((Err(e), _))) => Err(e.to_string()),
            (_, None) => Err("Valkey did not answer".into()),
        };
        self.consumption_found(found);
        if full_list {
            // A whole client list came and went: its memory goes back to the system, as a
            // keeper's resident size is what 200 of them cost.
            // SAFETY: malloc_trim only returns free memory.
            unsafe { libc::malloc_trim(0) };
        }
    }

    /// The replies to a look, made into a verdict for each of the app's queues; the
    /// connection is kept for the next look.
    /// `Ok(None)`: the app's known connections no longer consume every queue, and a full look
    /// must tell whether new ones do.
    fn judge(
        &mut self,
        look: Look,
        mut replies: Vec<Reply>,
    ) -> Result<Option<Vec<(String, bool)>>, String> {
        let list = list_text(replies.pop())?;
        let own = match look.kind {
            Kind::Fresh { handshake, .. } => {
                if let Some(Reply::Error(e)) = replies[..handshake]
                    .iter()
                    .find(|r| matches!(r, Reply::Error(_)))
                {
                    return Err(format!("Valkey refused VALKEY_URL's login: {e}"));
                }
                let id = match replies.pop() {
                    Some(Reply::Error(e)) => return Err(refused("CLIENT ID", "+client|id", &e)),
                    Some(r) => r.int().ok_or("unexpected answer to CLIENT ID")? as u64,
                    None => return Err("no answer to CLIENT ID".into()),
                };
                let local = look
                    .x
                    .local_addr()
                    .ok_or("the look's own address is unknown")?;
                (id, sockets::canonical(local))
            }
            Kind::All { own } | Kind::Ids { own } => own,
        };
        let prefix = self
            .spec
            .env
            .get("BULLMQ_PREFIX")
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .unwrap_or(tp_bullmq::keys::DEFAULT_PREFIX)
            .to_string();
        let ids_only = matches!(look.kind, Kind::Ids { .. });
        let mut x = look.x;
        x.again(Vec::new()); // its answer's buffer goes now, not at the next look
        self.watch.kept = Some(Kept { x, own });
        if ids_only && let Some(k) = &self.watch.known {
            let found = clients::consumption(&list, &k.app, &prefix, &self.spec.queues);
            return Ok(found.iter().all(|(_, on)| *on).then_some(found));
        }
        clients::check_own(&list, own)?;
        let root = self.run.as_ref().map_or(0, |r| r.pid.as_raw());
        let app = sockets::local_addrs(root, &look.inodes);
        let found = clients::consumption(&list, &app, &prefix, &self.spec.queues);
        self.watch.known = Some(Known {
            ids: clients::app_ids(&list, &app),
            app,
        });
        Ok(Some(found))
    }

    fn consumption_found(&mut self, found: Result<Vec<(String, bool)>, String>) {
        self.watch.look = None;
        if let Err(why) = &found {
            tracing::debug!(%why, "queue consumption cannot be told");
        }
        self.feed(Event::Consumption(found));
    }

    /// The look took too long: nothing could be told.
    pub(super) fn look_deadline(&mut self) {
        if self
            .watch
            .look
            .as_ref()
            .is_some_and(|l| Instant::now() >= l.deadline)
        {
            self.consumption_found(Err(format!(
                "Valkey did not answer within {}",
                crate::config::units::format_duration(LOOK_TIMEOUT)
            )));
        }
    }

    pub(super) fn look_deadline_at(&self) -> Option<Instant> {
        self.watch.look.as_ref().map(|l| l.deadline)
    }

    /// The app's queues as the policy last saw them, for its status.
    pub(super) fn consumption_status(&self) -> Vec<QueueConsumption> {
        let (now, now_ms) = (Instant::now(), super::now_ms());
        self.policy
            .consumption()
            .into_iter()
            .map(|(queue, seen)| {
                let (state, since_ms, detail) = match seen {
                    Seen::Checking => (ConsumptionState::Checking, None, None),
                    Seen::Consuming => (ConsumptionState::Consuming, None, None),
                    Seen::NotConsuming { since } => (
                        ConsumptionState::NotConsuming,
                        Some(now_ms.saturating_sub(
                            now.saturating_duration_since(since).as_millis() as u64,
                        )),
                        None,
                    ),
                    Seen::Unknown(why) => (ConsumptionState::Unknown, None, Some(why)),
                };
                QueueConsumption {
                    queue,
                    state,
                    since_ms,
                    detail,
                }
            })
            .collect()
    }
}
