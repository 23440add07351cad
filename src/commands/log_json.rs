//! `logs --json` lines as values, for `tpctl web`: an app's recent lines and what is new.

use serde::Serialize;

use super::logs::{
    Follower, Source, in_arrival_order, last_lines_at, poll_in_order, sources_of, stored_time,
};
use crate::home::Home;
use crate::keeper::now_ms;
use crate::render;

/// One line of `logs --json`, owned.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub app: String,
    pub stream: &'static str,
    /// When the keeper received the line, or the time stored at its start.
    pub time: Option<String>,
    pub line: String,
}

fn json_line(s: &Source, at: Option<u64>, bytes: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(bytes).into_owned();
    LogLine {
        app: s.app.clone(),
        stream: s.stream,
        time: stored_time(&text)
            .map(str::to_string)
            .or_else(|| at.map(render::rfc3339_millis)),
        line: text,
    }
}

/// The last `n` lines of each file of the given apps, stdout and stderr merged in the order
/// they arrived: `tpctl logs --json --lines N --nostream`, as values.
pub fn recent(home: &Home, ids: &[String], n: usize) -> Vec<LogLine> {
    let srcs = sources_of(home, ids, true, true);
    let mut backlog = Vec::new();
    for s in &srcs {
        if let Ok(lines) = last_lines_at(&s.path, n) {
            backlog.push((s, lines));
        }
    }
    in_arrival_order(backlog)
        .into_iter()
        .map(|(s, at, l)| json_line(s, at, &l))
        .collect()
}

/// Followers of every log file of the given apps, from their current ends.
pub fn followers(home: &Home, ids: &[String]) -> Vec<Follower> {
    sources_of(home, ids, true, true)
        .into_iter()
        .map(|s| Follower::new(s, true))
        .collect()
}

/// What the followers have new, in the order it arrived (a line of a file rotated away has
/// lost its index: it arrived about now).
pub fn poll(followers: &mut [Follower]) -> Vec<LogLine> {
    poll_in_order(followers)
        .into_iter()
        .map(|(s, at, l)| json_line(&s, Some(at.unwrap_or_else(now_ms)), &l))
        .collect()
}
