//! A queue handle: producer operations and queue-level reads.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use serde::Serialize;

use crate::error::Error;
use crate::job::Job;
use crate::keys::{Keys, valid_custom_id};
use crate::opts::JobOptions;
use crate::repeat::{Repeat, next_millis, repeat_key};
use crate::scripts;

/// A repeatable as `getRepeatableJobs()` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repeatable {
    pub key: String,
    pub name: String,
    pub pattern: Option<String>,
    pub every: Option<u64>,
    pub tz: Option<String>,
    /// When it runs next, ms since the epoch.
    pub next: u64,
}

/// The states `counts` reports, as Node's `getJobCounts()` with no arguments.
pub const STATES: [&str; 8] = [
    "active",
    "completed",
    "delayed",
    "failed",
    "paused",
    "prioritized",
    "waiting",
    "waiting-children",
];

/// The options as Node's `Job` constructor completes them before any add: `attempts`
/// defaults to 0 and is written out. (Job schedulers' runs are made by a script and lack it.)
fn node_defaults(opts: &JobOptions) -> JobOptions {
    let mut o = opts.clone();
    o.attempts.get_or_insert(0);
    o
}

/// Jobs per state, as Node's `getJobCounts()` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub active: u64,
    pub completed: u64,
    pub delayed: u64,
    pub failed: u64,
    pub paused: u64,
    pub prioritized: u64,
    pub waiting: u64,
    #[serde(rename = "waiting-children")]
    pub waiting_children: u64,
}

/// One queue on one connection.
#[derive(Clone)]
pub struct Queue {
    name: String,
    prefix: String,
    keys: Keys,
    conn: MultiplexedConnection,
}

/// Client wall-clock milliseconds, as Node's `Date.now()` (scores compare across clients).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Queue {
    /// A queue named `name` under `prefix` (BullMQ's default prefix is `bull`).
    pub fn new(conn: MultiplexedConnection, prefix: &str, name: &str) -> Queue {
        Queue {
            name: name.to_string(),
            prefix: prefix.to_string(),
            keys: Keys::new(prefix, name),
            conn,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key prefix (`bull`).
    pub fn prefix(&self) -> &str {
        self.prefix.as_str()
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(crate) fn connection(&self) -> MultiplexedConnection {
        self.conn.clone()
    }

    pub(crate) fn redis(&self, op: &'static str) -> impl FnOnce(redis::RedisError) -> Error + '_ {
        move |source| Error::Redis {
            op,
            queue: self.name.clone(),
            source,
        }
    }

    /// Adds a job; returns its id (for a duplicate custom id or a deduplicated add, the id of
    /// the job already there).
    pub async fn add(
        &self,
        name: &str,
        data: &serde_json::Value,
        opts: &JobOptions,
    ) -> Result<String, Error> {
        self.add_with_key(name, data, &node_defaults(opts), "")
            .await
    }

    /// Adds a job; `repeat_key` (its `rjk`) is set for a repeatable's or scheduler's runs.
    pub(crate) async fn add_with_key(
        &self,
        name: &str,
        data: &serde_json::Value,
        opts: &JobOptions,
        repeat_key: &str,
    ) -> Result<String, Error> {
        let mut conn = self.conn.clone();
        self.add_invocation(name, data, opts, repeat_key)?
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("add"))
    }

    /// The add script with its keys and arguments for one job, after Node's checks.
    fn add_invocation(
        &self,
        name: &str,
        data: &serde_json::Value,
        opts: &JobOptions,
        repeat_key: &str,
    ) -> Result<redis::ScriptInvocation<'static>, Error> {
        if let Some(id) = &opts.job_id
            && !valid_custom_id(id)
        {
            return Err(Error::InvalidJobId(id.clone()));
        }
        if let Some(p) = opts.priority
            && p > 2_097_151
        {
            return Err(Error::InvalidPriority(p));
        }
        let packed = opts.to_msgpack().map_err(|e| Error::Encode {
            what: "options",
            reason: e.to_string(),
        })?;
        let data = serde_json::to_string(data).map_err(|e| Error::Encode {
            what: "data",
            reason: e.to_string(),
        })?;
        let k = &self.keys;
        let mut inv = scripts::add_job().prepare_invoke();
        inv.key(k.of("wait"))
            .key(k.of("paused"))
            .key(k.of("meta"))
            .key(k.of("id"))
            .key(k.of("delayed"))
            .key(k.of("prioritized"))
            .key(k.of("pc"))
            .key(k.of("marker"))
            .key(k.of("events"))
            .key(k.of("active"))
            .arg(k.base())
            .arg(opts.job_id.as_deref().unwrap_or(""))
            .arg(name)
            .arg(now_ms())
            .arg(data)
            .arg(packed)
            .arg(repeat_key);
        Ok(inv)
    }

    /// Adds a legacy repeatable as Node's `Queue.add(name, data, {repeat, jobId})` does: the
    /// definition under its md5 key, and the first run as a delayed job `repeat:<key>:<ms>`.
    /// `job_id` only feeds the key. Returns (repeat key, first job id).
    pub async fn add_repeatable(
        &self,
        name: &str,
        data: &serde_json::Value,
        opts: &JobOptions,
        repeat: &Repeat,
        job_id: Option<&str>,
    ) -> Result<(String, String), Error> {
        let key = repeat_key(name, job_id, repeat);
        let now = now_ms();
        let bad = |reason: String| Error::Encode {
            what: "repeat",
            reason,
        };
        let next = next_millis(repeat, now)
            .map_err(bad)?
            .ok_or_else(|| bad("its end date has passed".into()))?;
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let _: i64 = scripts::add_repeatable()
            .key(k.of("repeat"))
            .key(k.of(&format!("repeat:{key}")))
            .arg(next)
            .arg(&key)
            .arg(name)
            .arg(repeat.pattern.as_deref().unwrap_or(""))
            .arg(repeat.every.map(|e| e.to_string()).unwrap_or_default())
            .arg(repeat.tz.as_deref().unwrap_or(""))
            .arg(repeat.end_date.map(|e| e.to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("add repeatable"))?;
        let id = format!("repeat:{key}:{next}");
        let mut first = node_defaults(opts);
        first.job_id = Some(id);
        first.delay = Some(next.saturating_sub(now));
        let mut r = serde_json::to_value(repeat).unwrap_or_default();
        r["count"] = 1.into();
        if let Some(j) = job_id {
            r["jobId"] = j.into();
        }
        first.extra.insert("repeat".into(), r);
        first.extra.insert("prevMillis".into(), next.into());
        first.extra.insert("timestamp".into(), now.into());
        let added = self.add_with_key(name, data, &first, &key).await?;
        Ok((key, added))
    }

    /// The repeatables of this queue, soonest first.
    pub async fn repeatables(&self) -> Result<Vec<Repeatable>, Error> {
        let defs = self.repeat_definitions(true, "list repeatables").await?;
        Ok(defs
            .into_iter()
            .map(|(key, next, h)| Repeatable {
                name: h.get("name").cloned().unwrap_or_default(),
                pattern: h.get("pattern").cloned(),
                every: h.get("every").and_then(|e| e.parse().ok()),
                tz: h.get("tz").cloned(),
                next,
                key,
            })
            .collect())
    }

    /// Every member of the `repeat` zset (legacy repeatables and job schedulers) with its next
    /// run and its definition hash, soonest first when `ascending`.
    pub(crate) async fn repeat_definitions(
        &self,
        ascending: bool,
        op: &'static str,
    ) -> Result<Vec<(String, u64, HashMap<String, String>)>, Error> {
        let mut conn = self.conn.clone();
        let members: Vec<(String, f64)> =
            redis::cmd(if ascending { "ZRANGE" } else { "ZREVRANGE" })
                .arg(self.keys.of("repeat"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(self.redis(op))?;
        let mut out = Vec::with_capacity(members.len());
        for (key, next) in members {
            let h: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(self.keys.of(&format!("repeat:{key}")))
                .query_async(&mut conn)
                .await
                .map_err(self.redis(op))?;
            out.push((key, next as u64, h));
        }
        Ok(out)
    }

    /// Removes a repeatable and its pending run; false when there was none.
    pub async fn remove_repeatable_by_key(&self, key: &str) -> Result<bool, Error> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let n: i64 = scripts::remove_repeatable()
            .key(k.of("repeat"))
            .key(k.of("delayed"))
            .key(k.of("events"))
            .arg(key)
            .arg(k.base())
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("remove repeatable"))?;
        Ok(n == 1)
    }

    /// Adds several jobs in one transaction and one round trip (as Node's `addBulk`); ids in
    /// the same order.
    pub async fn add_bulk(
        &self,
        jobs: &[(String, serde_json::Value, JobOptions)],
    ) -> Result<Vec<String>, Error> {
        if jobs.is_empty() {
            return Ok(vec![]);
        }
        let invocations = jobs
            .iter()
            .map(|(name, data, opts)| self.add_invocation(name, data, &node_defaults(opts), ""))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.conn.clone();
        // A pipeline runs EVALSHA only: make sure the server has the script first.
        let _: String = scripts::add_job()
            .prepare_invoke()
            .load_async(&mut conn)
            .await
            .map_err(self.redis("add"))?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for inv in &invocations {
            pipe.invoke_script(inv);
        }
        pipe.query_async(&mut conn).await.map_err(self.redis("add"))
    }

    /// Jobs per state, equal to Node's `getJobCounts()`.
    pub async fn counts(&self) -> Result<Counts, Error> {
        let mut conn = self.conn.clone();
        let mut inv = scripts::get_counts().key(self.keys.base());
        for s in STATES {
            inv.arg(s);
        }
        let n: Vec<u64> = inv
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("counts"))?;
        let get = |i: usize| n.get(i).copied().unwrap_or(0);
        Ok(Counts {
            active: get(0),
            completed: get(1),
            delayed: get(2),
            failed: get(3),
            paused: get(4),
            prioritized: get(5),
            waiting: get(6),
            waiting_children: get(7),
        })
    }

    async fn pause_or_resume(&self, what: &'static str) -> Result<(), Error> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let _: i64 = scripts::pause()
            .key(k.of("wait"))
            .key(k.of("paused"))
            .key(k.of("meta"))
            .key(k.of("prioritized"))
            .key(k.of("events"))
            .key(k.of("delayed"))
            .key(k.of("marker"))
            .arg(what)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis(if what == "paused" { "pause" } else { "resume" }))?;
        Ok(())
    }

    /// Stops workers taking jobs; adds go to the `paused` list meanwhile.
    pub async fn pause(&self) -> Result<(), Error> {
        self.pause_or_resume("paused").await
    }

    pub async fn resume(&self) -> Result<(), Error> {
        self.pause_or_resume("resumed").await
    }

    pub async fn is_paused(&self) -> Result<bool, Error> {
        let mut conn = self.conn.clone();
        redis::cmd("HEXISTS")
            .arg(self.keys.of("meta"))
            .arg("paused")
            .query_async(&mut conn)
            .await
            .map_err(self.redis("is_paused"))
    }

    /// One job, or `None` if there is no such job.
    pub async fn job(&self, id: &str) -> Result<Option<Job>, Error> {
        let mut conn = self.conn.clone();
        let h: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.job(id))
            .query_async(&mut conn)
            .await
            .map_err(self.redis("job"))?;
        Ok(Job::from_hash(id, &h))
    }
}
