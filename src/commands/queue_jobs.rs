//! `tpctl queue NAME jobs` and `tpctl queue NAME job ID`: jobs as an operator reads them
//! (a table with a header, times as dates and ages, attempts out of the allowed), or as JSON.

use serde_json::{Value, json};
use tp_bullmq::admin::State;
use tp_bullmq::{Job, Queue};

use crate::fit::Column;
use crate::render::{duration_ms, timestamp};

/// "2026-12-02 17:55:43Z (3m 5s ago)", or "-".
fn when(ms: Option<u64>, now: u64) -> String {
    match ms.filter(|m| *m > 0) {
        Some(m) if m <= now => format!("{} ({} ago)", timestamp(m), duration_ms(now - m)),
        Some(m) => format!("{} (in {})", timestamp(m), duration_ms(m - now)),
        None => "-".into(),
    }
}

/// "3m ago", or "-": short enough for a table.
fn ago(ms: Option<u64>, now: u64) -> String {
    match ms.filter(|m| *m > 0) {
        Some(m) if m <= now => format!("{} ago", duration_ms(now - m)),
        Some(m) => format!("in {}", duration_ms(m - now)),
        None => "-".into(),
    }
}

/// "2 of 5": attempts made out of those the job's options allow.
fn attempts(j: &Job) -> String {
    match j.opts.value().get("attempts").and_then(Value::as_u64) {
        Some(n) => format!("{} of {n}", j.attempts_made),
        // BullMQ's default: one attempt.
        None => format!("{} of 1", j.attempts_made),
    }
}

/// A job in a list: `queue Q jobs --json`'s objects.
pub fn summary(j: &Job, state: State) -> Value {
    json!({
        "id": j.id, "name": j.name, "state": state.as_str(), "attemptsMade": j.attempts_made,
        "timestamp": j.timestamp, "processedOn": j.processed_on, "finishedOn": j.finished_on,
        "failedReason": j.failed_reason,
    })
}

/// The jobs of the given states (all when none), newest first within each state, at most
/// `limit` per state.
pub async fn list(
    q: &Queue,
    states: &[State],
    limit: usize,
    json_out: bool,
    now: u64,
) -> Result<String, tp_bullmq::Error> {
    let states: Vec<State> = if states.is_empty() {
        State::ALL.to_vec()
    } else {
        states.to_vec()
    };
    let mut rows: Vec<(State, Job)> = Vec::new();
    for st in states {
        for j in q.jobs(st, 0, limit as isize - 1).await? {
            rows.push((st, j));
        }
    }
    if json_out {
        let all: Vec<Value> = rows.iter().map(|(st, j)| summary(j, *st)).collect();
        return Ok(serde_json::to_string_pretty(&all).unwrap_or_default());
    }
    if rows.is_empty() {
        return Ok(String::new());
    }
    let col = |f: &dyn Fn(&(State, Job)) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let columns = vec![
        Column::new("id", col(&|(_, j)| j.id.clone())),
        Column::new("name", col(&|(_, j)| j.name.clone())).shrink_to(12),
        Column::new("state", col(&|(st, _)| st.as_str().to_string())),
        Column::new("attempts", col(&|(_, j)| attempts(j))).drop_rank(2),
        Column::new("added", col(&|(_, j)| ago(Some(j.timestamp), now))).drop_rank(1),
        Column::new("finished", col(&|(_, j)| ago(j.finished_on, now))).drop_rank(0),
        Column::new(
            "reason",
            col(&|(_, j)| j.failed_reason.clone().unwrap_or_default()),
        )
        .shrink_to(16)
        .drop_rank(3),
    ];
    Ok(crate::fit::render(columns, crate::fit::width(), false))
}

/// One job in full, as Node's Job JSON plus its state and logs: `queue Q job ID --json`.
pub fn detail(j: &Job, state: Option<State>, logs: &[String]) -> Value {
    json!({
        "id": j.id, "name": j.name, "state": state.map(State::as_str), "data": j.data,
        "opts": j.opts.value(), "timestamp": j.timestamp, "delay": j.delay,
        "attemptsMade": j.attempts_made, "attempts": attempts(j), "progress": j.progress,
        "processedOn": j.processed_on, "finishedOn": j.finished_on,
        "failedReason": j.failed_reason, "stacktrace": j.stacktrace,
        "returnvalue": j.return_value, "logs": logs,
    })
}

/// One job in full: raw (as Node's Job JSON plus its state and logs) or readable.
pub fn show(j: &Job, state: Option<State>, logs: &[String], json_out: bool, now: u64) -> String {
    if json_out {
        return serde_json::to_string_pretty(&detail(j, state, logs)).unwrap_or_default();
    }
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut out = format!(
        "job {} ({}): {}\n",
        j.id,
        j.name,
        state.map_or(
            "in no state (waiting for children, or being moved)",
            State::as_str
        )
    );
    let mut field = |k: &str, v: String| out.push_str(&format!("  {k:<10} {v}\n"));
    field("added", when(Some(j.timestamp), now));
    if j.delay > 0 {
        field("runs at", when(Some(j.timestamp + j.delay), now));
    }
    field("started", when(j.processed_on, now));
    field("finished", when(j.finished_on, now));
    field("attempts", attempts(j));
    if let Some(p) = &j.progress {
        field("progress", p.to_string());
    }
    if let Some(r) = &j.failed_reason {
        field("failed", r.clone());
    }
    if let Some(v) = &j.return_value {
        field("returned", serde_json::to_string(v).unwrap_or_default());
    }
    out.push_str(&format!("  data\n{}\n", indent(&pretty(&j.data))));
    out.push_str(&format!("  options\n{}\n", indent(&pretty(j.opts.value()))));
    for (i, trace) in j.stacktrace.iter().enumerate() {
        out.push_str(&format!(
            "  stack trace of failed attempt {}\n{}\n",
            i + 1,
            indent(trace)
        ));
    }
    if !logs.is_empty() {
        out.push_str(&format!("  logs\n{}\n", indent(&logs.join("\n"))));
    }
    out.trim_end().to_string()
}
