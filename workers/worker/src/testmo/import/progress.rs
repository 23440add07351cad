//! What the import's progress page reads from the job row: the activity log (messages and a
//! summary per entity), per-entity counts, the processed count against the planned total,
//! the rate (`"x.y items/sec"`, `/min` below one a second) and the seconds left. The rate is
//! Node's: an exponential moving average (α 0.3) of the rates between the samples of the last
//! minute (at most 60), never below a fifth of the overall average. Pure: time comes in.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::super::progress::thousands;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub created: u64,
    pub mapped: u64,
}

/// One phase's outcome, as the activity log's summary entry records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub entity: &'static str,
    pub total: u64,
    pub created: u64,
    pub mapped: u64,
    pub details: Option<Value>,
}

impl Summary {
    pub fn new(entity: &'static str) -> Summary {
        Summary {
            entity,
            total: 0,
            created: 0,
            mapped: 0,
            details: None,
        }
    }

    pub fn created(&mut self, n: u64) {
        self.total += n;
        self.created += n;
    }

    pub fn mapped(&mut self, n: u64) {
        self.total += n;
        self.mapped += n;
    }

    /// "Test Run Cases: 12 processed — 10 created · 2 mapped".
    pub fn status(&self) -> String {
        format!(
            "{}: {} processed — {} created · {} mapped",
            label(self.entity),
            self.total,
            self.created,
            self.mapped
        )
    }
}

/// `testRunCases` → `Test Run Cases`.
pub fn label(entity: &str) -> String {
    let mut out = String::with_capacity(entity.len() + 4);
    let mut prev_lower = false;
    for (i, c) in entity.chars().enumerate() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push(' ');
        }
        out.push(if i == 0 { c.to_ascii_uppercase() } else { c });
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    out
}

pub struct Tracker {
    log: Vec<Value>,
    /// How often each message text was logged, and how many of those were left out.
    repeats: std::collections::HashMap<String, (u64, u64)>,
    entities: Vec<(&'static str, Counts)>,
    pub processed: u64,
    pub planned: u64,
    start_ms: i64,
    recent: VecDeque<(i64, u64)>,
}

/// The same message (a row skipped for the same reason) is listed this often at most: the
/// whole log is written back with every progress update, so an export with a hundred
/// thousand orphaned rows must not make it a hundred thousand entries long.
const REPEATS: u64 = 50;

const WINDOW_MS: i64 = 60_000;
const SAMPLES: usize = 60;
const ALPHA: f64 = 0.3;

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Tracker {
    pub fn new(now_ms: i64) -> Tracker {
        Tracker {
            log: Vec::new(),
            repeats: std::collections::HashMap::new(),
            entities: Vec::new(),
            processed: 0,
            planned: 0,
            start_ms: now_ms,
            recent: VecDeque::from([(now_ms, 0)]),
        }
    }

    fn entry(&mut self, entity: &'static str) -> &mut Counts {
        let i = match self.entities.iter().position(|(e, _)| *e == entity) {
            Some(i) => i,
            None => {
                self.entities.push((entity, Counts::default()));
                self.entities.len() - 1
            }
        };
        &mut self.entities[i].1
    }

    /// The planned total of an entity (phases that find fewer rows lower it).
    pub fn plan(&mut self, entity: &'static str, total: u64) {
        if total > 0 {
            self.entry(entity).total = total;
        }
    }

    pub fn counts(&self, entity: &str) -> Counts {
        self.entities
            .iter()
            .find(|(e, _)| *e == entity)
            .map_or_else(Counts::default, |(_, c)| *c)
    }

    pub fn message(&mut self, now_ms: i64, message: &str, details: Option<Value>) {
        let seen = self.repeats.entry(message.to_string()).or_default();
        seen.0 += 1;
        if seen.0 > REPEATS {
            seen.1 += 1;
            return;
        }
        self.push_message(now_ms, message, details);
    }

    fn push_message(&mut self, now_ms: i64, message: &str, details: Option<Value>) {
        let mut m = Map::new();
        m.insert("type".into(), json!("message"));
        m.insert("timestamp".into(), json!(iso(now_ms)));
        m.insert("message".into(), json!(message));
        if let Some(d) = details {
            m.insert("details".into(), d);
        }
        self.log.push(Value::Object(m));
    }

    pub fn advance(&mut self, entity: &'static str, created: u64, mapped: u64) {
        let n = created + mapped;
        if n == 0 {
            return;
        }
        let e = self.entry(entity);
        if e.total == 0 {
            e.total = n;
        }
        e.created += created;
        e.mapped += mapped;
        self.processed += n;
    }

    /// A row the plan counted that will not be imported (no mapping for its parent, …).
    pub fn skip(&mut self, entity: &'static str) {
        let e = self.entry(entity);
        e.total = e.total.saturating_sub(1);
    }

    /// "1,234 / 5,000 processed" for the entity.
    pub fn in_progress(&self, entity: &str) -> String {
        let c = self.counts(entity);
        format!(
            "{} / {} processed",
            thousands(c.created + c.mapped),
            thousands(c.total)
        )
    }

    /// The phase's summary: into the log, and the entity's counts set to it.
    pub fn summary(&mut self, now_ms: i64, s: &Summary) {
        let mut left_out: Vec<(String, u64)> = self
            .repeats
            .iter_mut()
            .filter(|(_, (_, omitted))| *omitted > 0)
            .map(|(text, (_, omitted))| (text.clone(), std::mem::take(omitted)))
            .collect();
        left_out.sort();
        for (text, n) in left_out {
            self.push_message(
                now_ms,
                &format!("{text} ({n} more like this not listed)"),
                None,
            );
        }
        let mut m = Map::new();
        m.insert("type".into(), json!("summary"));
        m.insert("timestamp".into(), json!(iso(now_ms)));
        m.insert("entity".into(), json!(s.entity));
        m.insert("total".into(), json!(s.total));
        m.insert("created".into(), json!(s.created));
        m.insert("mapped".into(), json!(s.mapped));
        if let Some(d) = &s.details {
            m.insert("details".into(), d.clone());
        }
        self.log.push(Value::Object(m));
        let done = s.created + s.mapped;
        let e = self.entry(s.entity);
        let before = e.created + e.mapped;
        *e = Counts {
            total: s.total,
            created: s.created,
            mapped: s.mapped,
        };
        self.processed += done.saturating_sub(before);
    }

    pub fn activity_log(&self) -> Value {
        Value::Array(self.log.clone())
    }

    pub fn entity_progress(&self) -> Value {
        let mut m = Map::new();
        for (e, c) in &self.entities {
            m.insert(
                (*e).into(),
                json!({"total": c.total, "created": c.created, "mapped": c.mapped}),
            );
        }
        Value::Object(m)
    }

    /// `(estimatedTimeRemaining, processingRate)`, none before two seconds and some progress.
    pub fn metrics(&mut self, now_ms: i64) -> (Option<String>, Option<String>) {
        let elapsed = (now_ms - self.start_ms) as f64 / 1000.0;
        if elapsed < 2.0 || self.processed == 0 || self.planned == 0 {
            return (None, None);
        }
        let rate = self.rate(now_ms, elapsed);
        let left = self.planned.saturating_sub(self.processed) as f64 / rate;
        let shown = if rate >= 1.0 {
            format!("{rate:.1} items/sec")
        } else {
            format!("{:.1} items/min", rate * 60.0)
        };
        (Some(format!("{}", left.ceil() as i64)), Some(shown))
    }

    fn rate(&mut self, now_ms: i64, elapsed: f64) -> f64 {
        if self
            .recent
            .back()
            .is_none_or(|&(t, c)| t != now_ms || c != self.processed)
        {
            self.recent.push_back((now_ms, self.processed));
        }
        while self.recent.len() > SAMPLES
            || (self.recent.len() > 1 && now_ms - self.recent[1].0 > WINDOW_MS)
        {
            self.recent.pop_front();
        }
        let overall = self.processed as f64 / elapsed;
        let mut smoothed: Option<f64> = None;
        for w in self.recent.iter().collect::<Vec<_>>().windows(2) {
            let (&(t0, c0), &(t1, c1)) = (w[0], w[1]);
            if t1 <= t0 || c1 <= c0 {
                continue;
            }
            let r = (c1 - c0) as f64 / ((t1 - t0) as f64 / 1000.0);
            smoothed = Some(smoothed.map_or(r, |s| ALPHA * r + (1.0 - ALPHA) * s));
        }
        smoothed.unwrap_or(overall).max(overall * 0.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_summaries() {
        assert_eq!(label("testRunCases"), "Test Run Cases");
        assert_eq!(label("projects"), "Projects");
        let mut s = Summary::new("milestoneTypes");
        s.created(2);
        s.mapped(1);
        assert_eq!(
            s.status(),
            "Milestone Types: 3 processed — 2 created · 1 mapped"
        );
    }

    #[test]
    fn counts_follow_progress_and_summaries() {
        let mut t = Tracker::new(0);
        t.plan("repositoryCases", 10);
        t.advance("repositoryCases", 3, 1);
        t.skip("repositoryCases");
        assert_eq!(t.in_progress("repositoryCases"), "4 / 9 processed");
        let mut s = Summary::new("repositoryCases");
        s.created(5);
        s.mapped(1);
        t.summary(10, &s);
        assert_eq!(t.processed, 6);
        assert_eq!(
            t.entity_progress(),
            json!({"repositoryCases": {"total": 6, "created": 5, "mapped": 1}})
        );
        assert_eq!(t.activity_log()[0]["timestamp"], "1970-01-01T00:00:00.010Z");
    }

    #[test]
    fn repeated_messages_are_listed_fifty_times_then_counted() {
        let mut t = Tracker::new(0);
        for i in 0..120 {
            t.message(
                0,
                "Skipping case due to missing project mapping",
                Some(json!({"caseSourceId": i})),
            );
        }
        t.message(0, "other", None);
        assert_eq!(t.activity_log().as_array().map(Vec::len), Some(51));
        t.summary(0, &Summary::new("repositoryCases"));
        let log = t.activity_log();
        assert_eq!(
            log[51]["message"],
            "Skipping case due to missing project mapping (70 more like this not listed)"
        );
        assert_eq!(log[52]["type"], "summary");
    }

    #[test]
    fn rate_is_smoothed_and_floored() {
        let mut t = Tracker::new(0);
        t.planned = 1000;
        assert_eq!(t.metrics(1000), (None, None));
        t.processed = 100;
        // 100 items over 2 s: 50/s, 900 left → 18 s.
        assert_eq!(
            t.metrics(2000),
            (Some("18".into()), Some("50.0 items/sec".into()))
        );
        // Then 10 items in 10 s: the EMA is 0.3·1 + 0.7·50 = 35.3, above the floor.
        t.processed = 110;
        let (_, rate) = t.metrics(12_000);
        assert_eq!(rate.as_deref(), Some("35.3 items/sec"));
        // Slow overall: shown per minute.
        let mut slow = Tracker::new(0);
        slow.planned = 10;
        slow.processed = 1;
        assert_eq!(slow.metrics(100_000).1.as_deref(), Some("0.6 items/min"));
    }
}
