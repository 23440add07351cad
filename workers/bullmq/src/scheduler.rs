//! Job schedulers, as Node's `upsertJobScheduler`, `getJobSchedulers` and `removeJobScheduler`
//! keep them: the `repeat` zset member is the scheduler id, `repeat:<id>` holds the definition
//! and the job template, and iteration M is the job `repeat:<id>:<M>`. Workers continue them
//! like legacy repeatables (worker/outcome.rs). (shared/specs/bullmq-v5.md 6.1, 6.4)

use serde::Serialize;
use serde_json::Value;

use crate::queue::{Queue, now_ms};
use crate::repeat::{Repeat, next_millis};
use crate::{Error, JobOptions, scripts};

/// One scheduler as Node's `getJobSchedulers()` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobScheduler {
    pub key: String,
    pub name: String,
    /// When its pending job runs (ms since the epoch).
    pub next: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
}

/// The data and options every job of a scheduler starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Template {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opts: Option<Value>,
}

impl Queue {
    /// Creates or replaces the scheduler `id`: jobs named `name` (the id when empty) with
    /// `data` and `opts`, on `repeat.pattern` (in `repeat.tz`, else the local zone) or every
    /// `repeat.every` ms, at most `repeat.limit` times. Returns the id of its pending job.
    ///
    /// The definition and the first job are written by two scripts, as Node's Queue does in
    /// one: should the second fail, running this again repairs the scheduler.
    pub async fn upsert_job_scheduler(
        &self,
        id: &str,
        repeat: &Repeat,
        name: &str,
        data: &Value,
        opts: &JobOptions,
    ) -> Result<String, Error> {
        let bad = |reason: String| Error::Encode {
            what: "job scheduler",
            reason,
        };
        match (&repeat.pattern, repeat.every) {
            (Some(_), Some(_)) => return Err(bad("give a pattern or every, not both".into())),
            (None, None) => return Err(bad("a scheduler needs a pattern or every".into())),
            _ => {}
        }
        let now = now_ms();
        if repeat.end_date.is_some_and(|e| e < now) {
            return Err(bad("its end date has passed".into()));
        }
        let name = if name.is_empty() { id } else { name };
        let pattern_next = match &repeat.pattern {
            Some(_) => next_millis(repeat, now)
                .map_err(bad)?
                .ok_or_else(|| bad("it has no run before its end date".into()))?
                .max(now),
            None => now,
        };
        let template_opts = opts.to_msgpack().map_err(|e| bad(e.to_string()))?;
        let data_json = data.to_string();
        let mut fields: Vec<(&str, String)> = vec![("name", name.to_string())];
        let optional = [
            ("tz", repeat.tz.clone()),
            ("limit", repeat.limit.map(|v| v.to_string())),
            ("pattern", repeat.pattern.clone()),
            ("startDate", repeat.start_date.map(|v| v.to_string())),
            ("endDate", repeat.end_date.map(|v| v.to_string())),
            ("every", repeat.every.map(|v| v.to_string())),
        ];
        fields.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));

        let k = self.keys();
        let mut inv = scripts::add_job_scheduler().prepare_invoke();
        inv.key(k.of("repeat"))
            .key(k.of("delayed"))
            .key(k.of("prioritized"))
            .key(k.of("wait"))
            .key(k.of("paused"))
            .key(k.of("meta"))
            .key(k.of("events"))
            .arg(id)
            .arg(pattern_next)
            .arg(repeat.every.map(|v| v.to_string()).unwrap_or_default())
            .arg(repeat.start_date.map(|v| v.to_string()).unwrap_or_default())
            .arg(now)
            .arg(k.base())
            .arg(template_opts)
            .arg(&data_json);
        for (f, v) in &fields {
            inv.arg(*f).arg(v);
        }
        let mut conn = self.connection();
        let answer: redis::Value = inv
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("upsert job scheduler"))?;
        let (job_id, next, delay): (String, u64, u64) = match answer {
            redis::Value::Int(code) => {
                return Err(Error::Script {
                    queue: self.name().to_string(),
                    script: "add_job_scheduler",
                    code,
                });
            }
            other => redis::from_redis_value(&other).map_err(self.redis("upsert job scheduler"))?,
        };

        // The job's options as Node's getNextJobOpts makes them: the template's, plus the
        // iteration's id, delay, time and the repeat options with count 1.
        let mut first = opts.clone();
        first.job_id = Some(job_id);
        first.delay = Some(delay);
        let mut r = serde_json::to_value(repeat).map_err(|e| bad(e.to_string()))?;
        r["count"] = 1.into();
        first.extra.insert("repeat".into(), r);
        first.extra.insert("prevMillis".into(), next.into());
        first.extra.insert("timestamp".into(), now.into());
        first.extra.insert("repeatJobKey".into(), id.into());
        self.add_with_key(name, data, &first, id).await
    }

    /// Every scheduler and legacy repeatable, latest next run first (Node's default order).
    pub async fn job_schedulers(&self) -> Result<Vec<JobScheduler>, Error> {
        let defs = self
            .repeat_definitions(false, "list job schedulers")
            .await?;
        let mut out = Vec::with_capacity(defs.len());
        for (key, next, h) in defs {
            let num = |f: &str| h.get(f).and_then(|v| v.parse::<u64>().ok());
            let json = |f: &str| h.get(f).and_then(|v| serde_json::from_str(v).ok());
            let template = (h.contains_key("data") || h.contains_key("opts")).then(|| Template {
                data: json("data"),
                opts: json("opts"),
            });
            out.push(JobScheduler {
                name: h.get("name").cloned().unwrap_or_default(),
                next,
                iteration_count: num("ic"),
                limit: num("limit"),
                start_date: num("startDate"),
                end_date: num("endDate"),
                tz: h.get("tz").cloned(),
                pattern: h.get("pattern").cloned(),
                every: num("every"),
                offset: num("offset"),
                template,
                key,
            });
        }
        Ok(out)
    }

    /// Removes a scheduler and its pending job; false when there was none.
    pub async fn remove_job_scheduler(&self, id: &str) -> Result<bool, Error> {
        self.remove_repeatable_by_key(id).await
    }
}
