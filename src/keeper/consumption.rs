//! The keeper's look at Valkey for `Effect::CheckConsumption`: a short connection with the
//! app's own VALKEY_URL, `CLIENT ID` and `CLIENT LIST`, its client list matched against the
//! app's sockets. Nonblocking in the poll loop, like a health check; one look at a time.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use tp_bullmq::link::Reply;
use tp_bullmq::link::oneshot::{self, Endpoint};

use super::Keeper;
use super::exchange::{Exchange, Progress};
use super::{clients, sampler, sockets};
use crate::policy::Event;
use crate::policy::consumption::Seen;
use crate::proto::{ConsumptionState, QueueConsumption};

/// A look that takes longer than this found nothing.
const LOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// A look in flight.
pub(super) struct Look {
    x: Exchange,
    deadline: Instant,
    handshake: usize,
    replies: usize,
}

pub(super) fn poll_interest(l: Option<&Look>) -> (RawFd, i16) {
    l.map_or((-1, 0), |l| l.x.interest())
}

/// Why Valkey refused one of the look's commands, with what to grant for a NOPERM.
fn refused(command: &str, grant: &str, e: &str) -> String {
    if e.starts_with("NOPERM") {
        format!("Valkey refused {command} to VALKEY_URL's user ({e}); grant it {grant}")
    } else {
        format!("Valkey answered {command} with: {e}")
    }
}

impl Keeper {
    /// Starts a look (the policy asked for it).
    pub(super) fn start_consumption_check(&mut self) {
        if self.look.is_some() {
            return;
        }
        let Some(url) = self
            .spec
            .env
            .get("VALKEY_URL")
            .filter(|u| !u.trim().is_empty())
        else {
            return self.consumption_found(Err("no VALKEY_URL in the app's environment".into()));
        };
        let commands: [&[&[u8]]; 2] = [
            &[b"CLIENT", b"ID"],
            &[b"CLIENT", b"LIST", b"TYPE", b"normal"],
        ];
        let planned = match oneshot::exchange(url.trim(), &commands) {
            Ok(p) => p,
            Err(e) => return self.consumption_found(Err(e.to_string())),
        };
        let Endpoint::Tcp { host, port } = &planned.endpoint else {
            return self.consumption_found(Err(
                "Valkey is on a unix socket, where its client list cannot tell the app's connections from others'".into(),
            ));
        };
        let x = match Exchange::start(host, *port, planned.bytes) {
            Ok(x) => x,
            Err(e) => return self.consumption_found(Err(format!("Valkey {host}:{port}: {e}"))),
        };
        let at_once = x.connected_at_once();
        self.look = Some(Look {
            x,
            deadline: Instant::now() + LOOK_TIMEOUT,
            handshake: planned.handshake,
            replies: planned.replies,
        });
        if at_once {
            self.on_look_ready();
        }
    }

    /// The look's socket is ready.
    pub(super) fn on_look_ready(&mut self) {
        let Some(look) = self.look.as_mut() else {
            return;
        };
        let found = match look.x.step() {
            Err(e) => Err(format!("Valkey: {e}")),
            Ok(Progress::Waiting | Progress::Connected) => return,
            Ok(Progress::Read { eof }) => match oneshot::replies(look.x.answer(), look.replies) {
                Ok(Some(replies)) => {
                    let own = look.x.local_addr();
                    let handshake = look.handshake;
                    self.judge(replies, handshake, own)
                }
                Ok(None) if eof => Err("Valkey closed the connection before answering".into()),
                Ok(None) => return,
                Err(e) => Err(e.to_string()),
            },
        };
        self.consumption_found(found);
    }

    /// The replies to the look, made into a verdict for each of the app's queues.
    fn judge(
        &self,
        mut replies: Vec<Reply>,
        handshake: usize,
        own: Option<std::net::SocketAddr>,
    ) -> Result<Vec<(String, bool)>, String> {
        if let Some(Reply::Error(e)) = replies[..handshake]
            .iter()
            .find(|r| matches!(r, Reply::Error(_)))
        {
            return Err(format!("Valkey refused VALKEY_URL's login: {e}"));
        }
        let list = match replies.pop() {
            Some(Reply::Bulk(b)) => String::from_utf8_lossy(&b).into_owned(),
            Some(Reply::Error(e)) => return Err(refused("CLIENT LIST", "+client|list", &e)),
            other => return Err(format!("unexpected answer to CLIENT LIST: {other:?}")),
        };
        let id = match replies.pop() {
            Some(Reply::Error(e)) => return Err(refused("CLIENT ID", "+client|id", &e)),
            Some(r) => r.int().ok_or("unexpected answer to CLIENT ID")? as u64,
            None => return Err("no answer to CLIENT ID".into()),
        };
        let own = own.ok_or("the look's own address is unknown")?;
        let run = self.run.as_ref().ok_or("the app is not running")?;
        let app = sockets::local_addrs(&sampler::tree(run.pid.as_raw()));
        let prefix = self
            .spec
            .env
            .get("BULLMQ_PREFIX")
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .unwrap_or(tp_bullmq::keys::DEFAULT_PREFIX);
        clients::consumption(
            &clients::parse(&list),
            (id, sockets::canonical(own)),
            &app,
            prefix,
            &self.spec.queues,
        )
    }

    fn consumption_found(&mut self, found: Result<Vec<(String, bool)>, String>) {
        self.look = None;
        if let Err(why) = &found {
            tracing::debug!(%why, "queue consumption cannot be told");
        }
        self.feed(Event::Consumption(found));
    }

    /// The look took too long: nothing could be told.
    pub(super) fn look_deadline(&mut self) {
        if self
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
        self.look.as_ref().map(|l| l.deadline)
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
