//! Operator actions and reads: what TestPlanIt's Admin › Job Queues page and `tpctl queue`
//! do (shared/specs/bullmq-v5.md 5, testplanit-workers.md 12).

use std::collections::{BTreeSet, HashMap};

use crate::error::Error;
use crate::job::Job;
use crate::queue::{Queue, now_ms};
use crate::scripts;

/// A job state, as Node names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Paused,
    Active,
    Delayed,
    Prioritized,
    Completed,
    Failed,
}

impl State {
    /// The key suffix holding jobs of this state: its name, but `wait` for waiting.
    fn key(self) -> &'static str {
        match self {
            State::Waiting => "wait",
            other => other.as_str(),
        }
    }

    /// Every state, in the order an operator reads them: running, waiting, then done.
    pub const ALL: [State; 7] = [
        State::Active,
        State::Waiting,
        State::Prioritized,
        State::Delayed,
        State::Paused,
        State::Failed,
        State::Completed,
    ];

    /// The state's name as Node's getState() says it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Paused => "paused",
            State::Active => "active",
            State::Delayed => "delayed",
            State::Prioritized => "prioritized",
            State::Completed => "completed",
            State::Failed => "failed",
        }
    }

    fn is_list(self) -> bool {
        matches!(self, State::Waiting | State::Paused | State::Active)
    }

    /// Parses `waiting`, `wait`, `paused`, `active`, `delayed`, `prioritized`, `completed`, `failed`.
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "waiting" | "wait" => State::Waiting,
            "paused" => State::Paused,
            "active" => State::Active,
            "delayed" => State::Delayed,
            "prioritized" => State::Prioritized,
            "completed" => State::Completed,
            "failed" => State::Failed,
            _ => return None,
        })
    }
}

/// Why an admin action was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    NoSuchJob,
    /// The job is running (locked); stop its worker or wait.
    Locked,
    /// The job is not in the state the action needs.
    WrongState,
}

impl Queue {
    /// Job ids of one state, newest first, `start..=end` (Node's getJobs order).
    pub async fn job_ids(
        &self,
        state: State,
        start: isize,
        end: isize,
    ) -> Result<Vec<String>, Error> {
        let mut conn = self.connection();
        let key = self.keys().of(state.key());
        let cmd = if state.is_list() {
            "LRANGE"
        } else {
            "ZREVRANGE"
        };
        redis::cmd(cmd)
            .arg(key)
            .arg(start)
            .arg(end)
            .query_async(&mut conn)
            .await
            .map_err(self.redis("list jobs"))
    }

    /// The state a job is in (as Node's getState()), or `None` when no state holds it (a job
    /// waiting for its children, or gone).
    pub async fn state_of(&self, id: &str) -> Result<Option<State>, Error> {
        let mut conn = self.connection();
        let mut pipe = redis::pipe();
        for st in State::ALL {
            let key = self.keys().of(st.key());
            if st.is_list() {
                pipe.cmd("LPOS").arg(key).arg(id);
            } else {
                pipe.cmd("ZSCORE").arg(key).arg(id);
            }
        }
        let found: Vec<redis::Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(self.redis("read job state"))?;
        Ok(State::ALL
            .into_iter()
            .zip(found)
            .find(|(_, v)| !matches!(v, redis::Value::Nil))
            .map(|(st, _)| st))
    }

    /// Jobs of one state, newest first.
    pub async fn jobs(&self, state: State, start: isize, end: isize) -> Result<Vec<Job>, Error> {
        let mut out = Vec::new();
        for id in self.job_ids(state, start, end).await? {
            if let Some(j) = self.job(&id).await? {
                out.push(j);
            }
        }
        Ok(out)
    }

    /// A job's log lines.
    pub async fn job_logs(&self, id: &str) -> Result<Vec<String>, Error> {
        let mut conn = self.connection();
        redis::cmd("LRANGE")
            .arg(format!("{}:logs", self.keys().job(id)))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(self.redis("read job logs"))
    }

    /// Sets a job's progress (a number or an object); Node reads it as `job.progress`.
    pub async fn update_progress(
        &self,
        id: &str,
        progress: &serde_json::Value,
    ) -> Result<bool, Error> {
        let mut conn = self.connection();
        let n: i64 = scripts::update_progress()
            .key(self.keys().job(id))
            .key(self.keys().of("events"))
            .key(self.keys().of("meta"))
            .arg(id)
            .arg(progress.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("update progress"))?;
        Ok(n == 0)
    }

    /// Appends a line to a job's log, keeping the last `keep` (0 = all); returns the count.
    pub async fn add_log(&self, id: &str, line: &str, keep: u32) -> Result<i64, Error> {
        let mut conn = self.connection();
        scripts::add_log()
            .key(self.keys().job(id))
            .key(format!("{}:logs", self.keys().job(id)))
            .arg(line)
            .arg(keep)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("add job log"))
    }

    /// Runs a failed (or completed) job again.
    pub async fn retry(&self, id: &str, from: State) -> Result<Result<(), Refused>, Error> {
        let k = self.keys();
        let mut conn = self.connection();
        let n: i64 = scripts::reprocess_job()
            .key(k.job(id))
            .key(k.of(from.key()))
            .key(k.of("wait"))
            .key(k.of("paused"))
            .key(k.of("meta"))
            .key(k.of("marker"))
            .key(k.of("events"))
            .arg(id)
            .arg(from.key())
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("retry job"))?;
        Ok(match n {
            1 => Ok(()),
            -1 => Err(Refused::NoSuchJob),
            _ => Err(Refused::WrongState),
        })
    }

    /// Runs every failed job again; returns how many.
    pub async fn retry_all_failed(&self) -> Result<usize, Error> {
        let mut n = 0;
        loop {
            let ids = self.job_ids(State::Failed, 0, 999).await?;
            if ids.is_empty() {
                return Ok(n);
            }
            for id in ids {
                if self.retry(&id, State::Failed).await?.is_ok() {
                    n += 1;
                }
            }
        }
    }

    /// Makes a delayed job ready now.
    pub async fn promote(&self, id: &str) -> Result<Result<(), Refused>, Error> {
        let k = self.keys();
        let mut conn = self.connection();
        let n: i64 = scripts::promote()
            .key(k.of("delayed"))
            .key(k.of("wait"))
            .key(k.of("paused"))
            .key(k.of("meta"))
            .key(k.of("prioritized"))
            .key(k.of("pc"))
            .key(k.of("marker"))
            .key(k.of("events"))
            .arg(k.base())
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("promote job"))?;
        Ok(if n == 0 {
            Ok(())
        } else {
            Err(Refused::WrongState)
        })
    }

    /// Removes a job in any state but running.
    pub async fn remove(&self, id: &str) -> Result<Result<(), Refused>, Error> {
        let mut conn = self.connection();
        let n: i64 = scripts::remove_job()
            .key(self.keys().base())
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("remove job"))?;
        Ok(match n {
            1 => Ok(()),
            0 => Err(Refused::Locked),
            _ => Err(Refused::NoSuchJob),
        })
    }

    /// Removes up to `limit` jobs of `state` older than `grace_ms`; returns their ids.
    pub async fn clean(
        &self,
        grace_ms: u64,
        limit: u64,
        state: State,
    ) -> Result<Vec<String>, Error> {
        let mut conn = self.connection();
        scripts::clean()
            .key(self.keys().base())
            .arg(state.key())
            .arg(now_ms().saturating_sub(grace_ms))
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("clean"))
    }

    /// Removes every waiting job (and delayed ones when asked); returns how many.
    pub async fn drain(&self, delayed: bool) -> Result<u64, Error> {
        let mut conn = self.connection();
        scripts::drain()
            .key(self.keys().base())
            .arg(if delayed { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("drain"))
    }

    /// Deletes the queue and all its jobs. Refused unless paused, and with active jobs
    /// unless `force` (a worker finishing one later gets "job missing" and carries on).
    pub async fn obliterate(&self, force: bool) -> Result<Result<u64, String>, Error> {
        if !self.is_paused().await? {
            return Ok(Err("pause the queue first".into()));
        }
        let mut conn = self.connection();
        let active: u64 = redis::cmd("LLEN")
            .arg(self.keys().of("active"))
            .query_async(&mut conn)
            .await
            .map_err(self.redis("obliterate"))?;
        if active > 0 && !force {
            return Ok(Err(format!("{active} job(s) are running; use force")));
        }
        let keys = scan(&mut conn, &format!("{}*", self.keys().base()))
            .await
            .map_err(self.redis("obliterate"))?;
        let mut deleted = 0;
        for batch in keys.chunks(1000) {
            let n: u64 = redis::cmd("UNLINK")
                .arg(batch)
                .query_async(&mut conn)
                .await
                .map_err(self.redis("obliterate"))?;
            deleted += n;
        }
        Ok(Ok(deleted))
    }

    /// Connected workers of this queue, by their connection names (Node's `getWorkers()`).
    pub async fn workers(&self) -> Result<Vec<HashMap<String, String>>, Error> {
        let mut conn = self.connection();
        let list = client_list(&mut conn)
            .await
            .map_err(self.redis("list workers"))?;
        Ok(self.workers_in(&list))
    }

    /// This queue's workers in a `CLIENT LIST` reply already read (one read serves every
    /// queue of a listing).
    pub fn workers_in(&self, client_list: &str) -> Vec<HashMap<String, String>> {
        client_list
            .lines()
            .map(|l| {
                l.split(' ')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>()
            })
            .filter(|c| {
                c.get("name")
                    .is_some_and(|n| is_worker_connection(self.prefix(), self.name(), n))
            })
            .collect()
    }
}

/// Whether a connection of this name (`CLIENT SETNAME`) is a worker's on `queue`: the name
/// Node's Worker gives its blocking connection, `prefix:base64(queue)`, or that with
/// `:w:<worker name>` (the one Node's `getWorkers()` lists, and tp-bullmq's).
pub fn is_worker_connection(prefix: &str, queue: &str, name: &str) -> bool {
    let base64 = crate::worker::base64(queue.as_bytes());
    name.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix(':'))
        .and_then(|r| r.strip_prefix(base64.as_str()))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(":w:"))
}

/// The server's `CLIENT LIST`.
pub async fn client_list(
    conn: &mut redis::aio::MultiplexedConnection,
) -> Result<String, redis::RedisError> {
    redis::cmd("CLIENT").arg("LIST").query_async(conn).await
}

/// Every key matching `pattern`, by SCAN (never KEYS: a big instance must not block).
async fn scan(
    conn: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
) -> Result<Vec<String>, redis::RedisError> {
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        out.extend(keys);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Every queue under `prefix` (found by its `meta` or `id` key).
pub async fn discover_queues(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> Result<Vec<String>, redis::RedisError> {
    let mut found = BTreeSet::new();
    for suffix in ["meta", "id"] {
        for k in scan(conn, &format!("{prefix}:*:{suffix}")).await? {
            if let Some(name) = k
                .strip_prefix(&format!("{prefix}:"))
                .and_then(|r| r.strip_suffix(&format!(":{suffix}")))
                && !name.contains(':')
            {
                found.insert(name.to_string());
            }
        }
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::is_worker_connection;

    #[test]
    fn worker_connections_are_known_by_their_names() {
        // base64("emails") = ZW1haWxz
        assert!(is_worker_connection("bull", "emails", "bull:ZW1haWxz"));
        assert!(is_worker_connection(
            "bull",
            "emails",
            "bull:ZW1haWxz:w:host-1"
        ));
        assert!(!is_worker_connection("bull", "emails", "bull:ZW1haWxz:qe"));
        assert!(!is_worker_connection("bull", "emails", "bull:ZW1haWxzX"));
        assert!(!is_worker_connection("tp", "emails", "bull:ZW1haWxz"));
        assert!(!is_worker_connection("bull", "email", "bull:ZW1haWxz"));
    }
}
