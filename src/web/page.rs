//! The dashboard's HTML, rendered on the server (maud escapes every value: a log line or a
//! job name holding markup shows as text). Readable without JavaScript; `live.js` refreshes
//! the overview from the event stream.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::data::{AppView, QueueState, Snapshot};
use crate::commands::describe::Description;
use crate::commands::log_json::LogLine;
use crate::policy::Status;
use crate::render;

const STYLE: &str = include_str!("style.css");
const LIVE: &str = include_str!("live.js");

pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tpctl" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href="/" { "tpctl" } " " span.muted { (title) } }
                main { (body) }
                script { (PreEscaped(LIVE)) }
            }
        }
    }
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Online | Status::Completed => "ok",
        Status::Errored | Status::Failed | Status::Lost => "bad",
        Status::Stopped => "off",
        _ => "wait",
    }
}

/// A table row's class: the whole row stands out only when something is wrong.
fn row_class(word: &str) -> String {
    format!("row-{word}")
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The apps table's body: also what the live updates replace.
pub fn app_rows(apps: &[AppView]) -> Markup {
    rows_of(apps, true)
}

/// Rows of apps; `local` ones link to their page (another host's are served by its own web).
fn rows_of(apps: &[AppView], local: bool) -> Markup {
    html! {
        @for a in apps {
            @let s = &a.status;
            tr class=(row_class(status_class(s.status))) data-app=(s.id) {
                td { @if local { a href={ "/apps/" (s.id) } { (s.id) } } @else { (s.id) } }
                td class={ "status " (status_class(s.status)) } { (s.status.as_str()) }
                td.num { (opt(s.pid)) }
                td.num { (s.uptime_ms.map_or("-".into(), render::duration_ms)) }
                td.num.restarts { (s.restarts) }
                td.num { (s.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%"))) }
                td.num {
                    (s.memory_bytes.map_or("-".into(), render::bytes))
                    @if let Some(l) = a.memory_limit { span.muted { " / " (render::bytes(l)) } }
                }
                td.cause { (news(s)) }
            }
        }
    }
}

/// What an app's row says beside its figures: why it is down, else a failing check or a
/// queue it does not consume, else what ended its last run, else what it says of itself.
fn news(s: &crate::proto::AppStatus) -> String {
    s.reason
        .clone()
        .or_else(|| s.health.clone().filter(|h| h.starts_with("unhealthy")))
        .or_else(|| s.not_consuming(crate::keeper::now_ms()))
        .or_else(|| s.cause.clone())
        .or_else(|| s.notify_status.clone())
        .unwrap_or_default()
}

/// The queues section's content: the table, or why there is none.
pub fn queue_part(q: &QueueState) -> Markup {
    match q {
        QueueState::NotConfigured => html! {
            p.note { "VALKEY_URL is not set (environment, ./ecosystem.toml or the apps): queue figures are unavailable." }
        },
        QueueState::Down { address, reason } => html! {
            p.note.bad { "Valkey " (address) " is unreachable: " (reason) ". The apps above stay live." }
        },
        QueueState::Up {
            rows,
            workers_by_host,
            ..
        } => html! {
            table {
                thead { tr {
                    th { "queue" } th { "status" } th.num { "waiting" } th.num { "active" }
                    th.num { "delayed" } th.num { "failed" } th.num { "completed" }
                    th.num { "paused" } th.num { "workers" } th.num { "concurrency" } th { "" }
                } }
                tbody {
                    @for r in rows {
                        @let c = &r.counts;
                        @let word = if r.no_worker || r.error.is_some() { "bad" } else if r.status == "paused" { "wait" } else { "ok" };
                        tr class=(row_class(word)) data-queue=(r.queue) {
                            td { a href={ "/queues/" (r.queue) } { (r.queue) } }
                            td class={ "status " (word) } { (r.status) }
                            td.num { (c.waiting) } td.num { (c.active) } td.num { (c.delayed) }
                            td.num { (c.failed) } td.num { (c.completed) } td.num { (c.paused) }
                            td.num {
                                (r.workers)
                                @if let Some(by) = workers_by_host.get(&r.queue).filter(|b| !b.is_empty()) {
                                    span.muted.hosts {
                                        " ("
                                        @for (i, (host, n)) in by.iter().enumerate() {
                                            @if i > 0 { ", " }
                                            (host) " " (n)
                                        }
                                        ")"
                                    }
                                }
                            }
                            td.num { (opt(r.concurrency)) }
                            td.cause {
                                @if let Some(e) = &r.error { (e) }
                                @else if r.no_worker { "no worker connected, jobs waiting" }
                            }
                        }
                    }
                }
            }
        },
    }
}

/// Errored, failed and lost apps, and queues nobody serves: what the header counts.
fn summary(s: &Snapshot) -> Markup {
    let bad = s
        .apps
        .iter()
        .filter(|a| {
            matches!(
                a.status.status,
                Status::Errored | Status::Failed | Status::Lost
            )
        })
        .count();
    let online = s
        .apps
        .iter()
        .filter(|a| a.status.status == Status::Online)
        .count();
    let unserved = match &s.queues {
        QueueState::Up { rows, .. } => rows.iter().filter(|r| r.no_worker).count(),
        _ => 0,
    };
    let gone = s.fleet.iter().flatten().filter(|h| h.gone).count();
    html! {
        @if let Some(e) = &s.apps_error { span.bad { "apps unavailable: " (e) } " · " }
        span { (render::count(s.apps.len(), "app")) " · " (online) " online" }
        @if gone > 0 { " · " span.bad { (render::count(gone, "host")) " gone" } }
        @if bad > 0 { " · " span.bad { (bad) " errored, failed or lost" } }
        @if unserved > 0 { " · " span.bad { (render::count(unserved, "queue")) " with no worker" } }
    }
}

pub fn overview(s: &Snapshot) -> Markup {
    layout(
        &s.host,
        html! {
            p #summary { (summary(s)) }
            section {
                h2 { "Apps on " (s.host) }
                table #apps {
                    thead { tr {
                        th { "app" } th { "status" } th.num { "pid" } th.num { "uptime" }
                        th.num { "restarts" } th.num { "cpu" } th.num { "memory / limit" } th { "cause" }
                    } }
                    tbody { (app_rows(&s.apps)) }
                }
            }
            div #fleet { (fleet_part(s)) }
            section {
                h2 { "Queues" }
                div #queues { (queue_part(&s.queues)) }
            }
            p.muted #updated data-live="/api/v1/events" { "as of " (render::timestamp(s.at_ms)) }
        },
    )
}

const APP_HEADER: [&str; 8] = [
    "app",
    "status",
    "pid",
    "uptime",
    "restarts",
    "cpu",
    "memory / limit",
    "cause",
];

/// The other hosts of the fleet: their apps, or that they are gone and since when.
fn fleet_part(s: &Snapshot) -> Markup {
    html! {
        @for h in s.fleet.iter().flatten() {
            section.host data-host=(h.host) {
                @if h.gone {
                    h2 { "Apps on " (h.host) " " span.bad { "gone" } }
                    p.note.bad { (h.host) " has not published since " (render::timestamp(h.last_seen_ms)) ": its tpctl web (or the host) is down." }
                } @else {
                    h2 { "Apps on " (h.host) }
                    table {
                        thead { tr { @for (i, c) in APP_HEADER.iter().enumerate() { th.num[(2..7).contains(&i)] { (c) } } } }
                        tbody { (rows_of(&h.apps, false)) }
                    }
                }
            }
        }
    }
}

/// Parts of the overview the live updates replace, by element id.
pub fn live_parts(s: &Snapshot) -> serde_json::Value {
    serde_json::json!({
        "summary": summary(s).into_string(),
        "apps": app_rows(&s.apps).into_string(),
        "queues": queue_part(&s.queues).into_string(),
        "fleet": fleet_part(s).into_string(),
        "updated": format!("as of {}", render::timestamp(s.at_ms)),
    })
}

/// One log line of the tail.
pub fn log_line(l: &LogLine) -> Markup {
    html! {
        div class=(if l.stream == "err" { "err" } else { "out" }) {
            span.muted { (l.time.as_deref().unwrap_or("")) " " } (l.line)
        }
    }
}

pub fn app(name: &str, ds: &[Description], charts: &[Markup], logs: &[LogLine]) -> Markup {
    layout(
        name,
        html! {
            @for (i, d) in ds.iter().enumerate() {
                @let s = &d.status;
                section {
                    h2 { (s.id) " " span class=(status_class(s.status)) { (s.status.as_str()) } }
                    form method="post" action={ "/api/v1/apps/" (s.id) "/restart" } class="actions" data-app=(s.id) {
                        @for action in ["restart", "reload", "stop", "start"] {
                            button type="submit" name="action" value=(action) formaction={ "/api/v1/apps/" (s.id) "/" (action) } { (action) }
                        }
                        span.muted.result {}
                    }
                    div.charts { @if let Some(c) = charts.get(i) { (c) } }
                    table.kv {
                        tr { th { "pid" } td { (opt(s.pid)) } }
                        tr { th { "uptime" } td { (s.uptime_ms.map_or("-".into(), render::duration_ms)) } }
                        tr { th { "restarts" } td.restarts { (s.restarts) } }
                        tr { th { "memory" } td { (s.memory_bytes.map_or("-".into(), render::bytes)) } }
                        tr { th { "last exit" } td { (render::exit(s.last_exit)) } }
                        @if let Some(r) = &s.reason { tr { th { "reason" } td { (r) } } }
                        tr { th { "script" } td { code { (d.script) " " (d.args.join(" ")) } } }
                        tr { th { "cwd" } td { code { (d.cwd) } } }
                        @if !d.queues.is_empty() { tr { th { "queues" } td { (d.queues.join(", ")) } } }
                        @for (k, v) in &d.env { tr { th { "env " (k) } td { code { (v) } } } }
                    }
                    @if !d.ledger.is_empty() {
                        h3 { "Restarts" }
                        table {
                            thead { tr { th { "at" } th { "cause" } th { "after" } th { "last stderr" } } }
                            tbody {
                                @for e in d.ledger.iter().rev().take(20) {
                                    tr {
                                        td { (render::timestamp(e.at_ms)) }
                                        td { (e.cause) }
                                        td { (render::duration_ms(e.uptime_ms)) }
                                        td { (e.stderr_tail.last().map(String::as_str).unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Log" }
                div #log data-tail={ "/api/v1/apps/" (name) "/logs/stream" } {
                    @for l in logs { (log_line(l)) }
                }
            }
        },
    )
}
