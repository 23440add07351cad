//! The pages and the JSON API's handlers: each reads through `data::Source` (the CLI's own
//! readers) or runs the `tpctl` command an action stands for.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;

use super::{Shared, data, error, history, metrics, page};
use crate::commands::CommandError;

/// How often the overview's live updates are sent.
const LIVE_EVERY: Duration = Duration::from_secs(2);
/// How often a log tail looks for new lines.
const TAIL_EVERY: Duration = Duration::from_millis(250);
/// Lines a log tail starts with.
const TAIL_BACKLOG: usize = 200;
/// The longest an action (a stop waiting out kill_timeout) may take before its answer.
pub(super) const ACTION_PATIENCE: Duration = Duration::from_secs(600);

pub(super) async fn overview_page(State(app): State<Shared>) -> Response {
    let s = app.source.snapshot(true).await;
    Html(page::overview(&s).into_string()).into_response()
}

/// The app's descriptions (`describe --json`), or a 404 saying what was meant.
async fn describe(
    app: &Shared,
    name: String,
) -> Result<Vec<crate::commands::describe::Description>, Response> {
    let home = app.source.home.clone();
    let found =
        tokio::task::spawn_blocking(move || crate::commands::describe::descriptions(&home, &name))
            .await
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match found {
        Ok(d) if !d.is_empty() => Ok(d),
        Ok(_) => Err(error(StatusCode::NOT_FOUND, "no such app")),
        Err(e @ CommandError::UnknownApp { .. }) => {
            Err(error(StatusCode::NOT_FOUND, e.to_string()))
        }
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

async fn recent_logs(
    app: &Shared,
    ids: Vec<String>,
    n: usize,
) -> Vec<crate::commands::log_json::LogLine> {
    let home = app.source.home.clone();
    tokio::task::spawn_blocking(move || crate::commands::log_json::recent(&home, &ids, n))
        .await
        .unwrap_or_default()
}

pub(super) async fn app_page(State(app): State<Shared>, Path(name): Path<String>) -> Response {
    let ds = match describe(&app, name.clone()).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let ids = ds.iter().map(|d| d.status.id.clone()).collect();
    let logs = recent_logs(&app, ids, TAIL_BACKLOG).await;
    let charts = ds
        .iter()
        .map(|d| {
            let points = app.history.of(&d.status.id);
            let cpu: Vec<Option<f64>> = points.iter().map(|p| p.cpu).collect();
            let mem: Vec<Option<f64>> = points.iter().map(|p| p.mem.map(|m| m as f64)).collect();
            maud::html! {
                (history::chart("CPU", &cpu, |v| format!("{v:.1}%")))
                (history::chart("memory", &mem, |v| crate::render::bytes(v as u64)))
            }
        })
        .collect::<Vec<_>>();
    Html(page::app(&name, &ds, &charts, &logs).into_string()).into_response()
}

/// `?scope=fleet`: every host of the fleet, not only this one.
#[derive(Deserialize)]
pub(super) struct ScopeQuery {
    scope: Option<String>,
}

impl ScopeQuery {
    fn fleet(&self) -> bool {
        self.scope.as_deref() == Some("fleet")
    }
}

pub(super) async fn metrics_text(
    State(app): State<Shared>,
    Query(scope): Query<ScopeQuery>,
    headers: HeaderMap,
) -> Response {
    let snapshot = app.source.snapshot(scope.fleet()).await;
    let om = metrics::openmetrics(&snapshot, snapshot.apps_error.as_deref());
    let wants_om = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if wants_om {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            om,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics::prometheus_text(&om),
        )
            .into_response()
    }
}

pub(super) async fn api_overview(
    State(app): State<Shared>,
    Query(scope): Query<ScopeQuery>,
) -> Response {
    axum::Json(app.source.snapshot(scope.fleet()).await).into_response()
}

pub(super) async fn api_apps(State(app): State<Shared>) -> Response {
    match app.source.statuses().await {
        Ok(rows) => axum::Json(rows).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

pub(super) async fn api_app(State(app): State<Shared>, Path(name): Path<String>) -> Response {
    match describe(&app, name).await {
        Ok(d) => axum::Json(d).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(super) struct LinesQuery {
    lines: Option<usize>,
}

pub(super) async fn api_logs(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<LinesQuery>,
) -> Response {
    let ds = match describe(&app, name).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let ids = ds.iter().map(|d| d.status.id.clone()).collect();
    let n = q.lines.unwrap_or(100).min(10_000);
    axum::Json(recent_logs(&app, ids, n).await).into_response()
}

pub(super) async fn api_queues(State(app): State<Shared>) -> Response {
    match app.source.queues().await {
        data::QueueState::Up { rows, .. } => axum::Json(rows).into_response(),
        data::QueueState::NotConfigured => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "VALKEY_URL is not set (environment, ./ecosystem.toml or the apps)",
        ),
        data::QueueState::Down { address, reason } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Valkey {address} is unreachable: {reason}"),
        ),
    }
}

/// The overview's parts every `LIVE_EVERY`, as `overview` events.
pub(super) async fn api_events(
    State(app): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = stream::unfold((app, true), |(app, first)| async move {
        if !first {
            tokio::time::sleep(LIVE_EVERY).await;
        }
        let s = app.source.snapshot(true).await;
        let event = Event::default()
            .event("overview")
            .data(page::live_parts(&s).to_string());
        Some((Ok(event), (app, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// New lines of an app's log files as `line` events, in the order they arrived.
pub(super) async fn api_log_stream(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Response {
    let ds = match describe(&app, name).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let home = app.source.home.clone();
    let ids: Vec<String> = ds.iter().map(|d| d.status.id.clone()).collect();
    let followers = crate::commands::log_json::followers(&home, &ids);
    let lines = stream::unfold(followers, |followers| async move {
        tokio::time::sleep(TAIL_EVERY).await;
        let (followers, new) = tokio::task::spawn_blocking(move || {
            let mut followers = followers;
            let new = crate::commands::log_json::poll(&mut followers);
            (followers, new)
        })
        .await
        .ok()?;
        let events: Vec<Result<Event, std::convert::Infallible>> = new
            .into_iter()
            .filter_map(|l| serde_json::to_string(&l).ok())
            .map(|j| Ok(Event::default().event("line").data(j)))
            .collect();
        Some((stream::iter(events), followers))
    });
    use futures_util::StreamExt;
    Sse::new(lines.flatten())
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Runs `tpctl ARGS` (the very command an operator would type, with the Valkey this server
/// found) and answers with its outcome.
pub(super) async fn run_tpctl(app: &Shared, args: Vec<String>) -> Response {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot find the tpctl binary: {e}"),
            );
        }
    };
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(&args)
        .stdin(std::process::Stdio::null())
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    if let Some(v) = app.source.valkey().await {
        cmd.env("VALKEY_URL", &v.url)
            .env("BULLMQ_PREFIX", &v.prefix);
    }
    match tokio::time::timeout(ACTION_PATIENCE, cmd.output()).await {
        Ok(Ok(out)) => {
            let ok = out.status.success();
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let code = if ok {
                StatusCode::OK
            } else if out.status.code() == Some(2) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (
                code,
                axum::Json(json!({ "ok": ok, "command": format!("tpctl {}", args.join(" ")), "output": text.trim_end() })),
            )
                .into_response()
        }
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot run tpctl: {e}"),
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "tpctl {} did not finish within {}s",
                args.join(" "),
                ACTION_PATIENCE.as_secs()
            ),
        ),
    }
}

pub(super) async fn api_app_action(
    State(app): State<Shared>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    if !matches!(action.as_str(), "start" | "stop" | "restart" | "reload") {
        return error(
            StatusCode::NOT_FOUND,
            format!("no action {action:?} for apps: start, stop, restart or reload"),
        );
    }
    if let Err(r) = describe(&app, name.clone()).await {
        return r;
    }
    run_tpctl(&app, vec!["--quiet".into(), action, name]).await
}

pub(super) async fn api_queue_action(
    State(app): State<Shared>,
    Path((queue, action)): Path<(String, String)>,
) -> Response {
    let args: Vec<&str> = match action.as_str() {
        "pause" => vec!["pause"],
        "resume" => vec!["resume"],
        "retry-failed" => vec!["retry", "--all-failed", "--yes"],
        "clean-completed" => crate::queues::CLEAN_ALL_COMPLETED.to_vec(),
        "clean-failed" => crate::queues::CLEAN_ALL_FAILED.to_vec(),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "no action {action:?} for queues: pause, resume, retry-failed, clean-completed or clean-failed"
                ),
            );
        }
    };
    if let Err(p) = app.source.open_queue(&queue).await {
        return match p {
            data::QueueProblem::NotFound(m) => error(StatusCode::NOT_FOUND, m),
            data::QueueProblem::Unavailable(m) => error(StatusCode::SERVICE_UNAVAILABLE, m),
        };
    }
    let mut full = vec!["queue".to_string(), queue];
    full.extend(args.into_iter().map(str::to_string));
    run_tpctl(&app, full).await
}
