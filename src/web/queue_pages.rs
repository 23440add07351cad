//! A queue's page and API: its jobs by state with paging, one job in full, and the actions
//! TestPlanIt's admin page has (queue-wide ones are in `mod.rs` with the app actions).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};
use tp_bullmq::admin::State as JobState;

use super::api::run_tpctl;
use super::data::QueueProblem;
use super::{Shared, error, page};
use crate::commands::queue_jobs;
use crate::render;

/// Jobs a page lists.
const PER_PAGE: usize = 50;

#[derive(Deserialize)]
pub struct JobsQuery {
    state: Option<String>,
    page: Option<usize>,
}

fn problem(p: QueueProblem) -> Response {
    match p {
        QueueProblem::NotFound(m) => error(StatusCode::NOT_FOUND, m),
        QueueProblem::Unavailable(m) => error(StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

fn job_state(given: Option<&str>) -> Result<JobState, String> {
    let s = given.unwrap_or("failed");
    JobState::parse(s).ok_or_else(|| {
        format!(
            "no job state {s:?}: waiting, paused, active, delayed, prioritized, completed or failed"
        )
    })
}

/// One page of a queue's jobs in one state, newest first, with the queue's counts.
async fn jobs_page(app: &Shared, name: &str, q: &JobsQuery) -> Result<Value, Response> {
    let state = job_state(q.state.as_deref()).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let queue = app.source.open_queue(name).await.map_err(problem)?;
    let page = q.page.unwrap_or(0);
    let start = (page * PER_PAGE) as isize;
    let bullmq = |e: tp_bullmq::Error| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("queue {name}: {e}"),
        )
    };
    let jobs = queue
        .jobs(state, start, start + PER_PAGE as isize - 1)
        .await
        .map_err(bullmq)?;
    let counts = queue.counts().await.map_err(bullmq)?;
    let paused = queue.is_paused().await.map_err(bullmq)?;
    Ok(json!({
        "queue": name,
        "state": state.as_str(),
        "page": page,
        "per_page": PER_PAGE,
        "paused": paused,
        "counts": counts,
        "jobs": jobs.iter().map(|j| queue_jobs::summary(j, state)).collect::<Vec<_>>(),
    }))
}

pub async fn api_jobs(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<JobsQuery>,
) -> Response {
    match jobs_page(&app, &name, &q).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

async fn job_detail(app: &Shared, name: &str, id: &str) -> Result<Value, Response> {
    let queue = app.source.open_queue(name).await.map_err(problem)?;
    let bullmq = |e: tp_bullmq::Error| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("queue {name}: {e}"),
        )
    };
    let Some(job) = queue.job(id).await.map_err(bullmq)? else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no job {id} in queue {name}"),
        ));
    };
    let logs = queue.job_logs(id).await.map_err(bullmq)?;
    let state = queue.state_of(id).await.map_err(bullmq)?;
    Ok(queue_jobs::detail(&job, state, &logs))
}

pub async fn api_job(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    match job_detail(&app, &name, &id).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

pub async fn api_job_action(
    State(app): State<Shared>,
    Path((name, id, action)): Path<(String, String, String)>,
) -> Response {
    let args: Vec<String> = match action.as_str() {
        "retry" => vec!["retry".into(), id],
        "promote" => vec!["promote".into(), id],
        "remove" => vec!["remove".into(), id, "--yes".into()],
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no action {action:?} for jobs: retry, promote or remove"),
            );
        }
    };
    if let Err(p) = app.source.open_queue(&name).await {
        return problem(p);
    }
    let mut full = vec!["queue".to_string(), name];
    full.extend(args);
    run_tpctl(&app, full).await
}

fn when(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".into(), render::timestamp)
}

pub async fn queue_page(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<JobsQuery>,
) -> Response {
    let v = match jobs_page(&app, &name, &q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let state = v["state"].as_str().unwrap_or("failed").to_string();
    let page_no = v["page"].as_u64().unwrap_or(0) as usize;
    let in_state = v["counts"][state.as_str()].as_u64().unwrap_or(0) as usize;
    let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
    let body = html! {
        form.actions method="post" data-app=(name) {
            @for (action, label) in [("pause", "pause"), ("resume", "resume"), ("retry-failed", "retry failed"), ("clean-completed", "clean completed"), ("clean-failed", "clean failed")] {
                button type="submit" formaction={ "/api/v1/queues/" (name) "/" (action) } value=(action) { (label) }
            }
            span.muted.result {}
        }
        p {
            @if v["paused"].as_bool() == Some(true) { span.wait { "paused" } " · " }
            @for st in JobState::ALL {
                @let n = v["counts"][st.as_str()].as_u64().unwrap_or(0);
                a.tab.current[st.as_str() == state] href={ "/queues/" (name) "?state=" (st.as_str()) } { (st.as_str()) " " (n) }
                " "
            }
        }
        table #jobs {
            thead { tr { th { "id" } th { "name" } th { "attempts" } th { "added" } th { "finished" } th { "reason" } th { "" } } }
            tbody {
                @for j in &jobs {
                    @let id = j["id"].as_str().unwrap_or_default();
                    tr data-job=(id) {
                        td { a href={ "/queues/" (name) "/jobs/" (id) } { (id) } }
                        td { (j["name"].as_str().unwrap_or_default()) }
                        td.num { (j["attemptsMade"]) }
                        td { (when(j["timestamp"].as_u64())) }
                        td { (when(j["finishedOn"].as_u64())) }
                        td.cause { (j["failedReason"].as_str().unwrap_or_default()) }
                        td {
                            form.actions method="post" {
                                @if state == "failed" { button type="submit" formaction={ "/api/v1/queues/" (name) "/jobs/" (id) "/retry" } value="retry" { "retry" } }
                                @if state == "delayed" { button type="submit" formaction={ "/api/v1/queues/" (name) "/jobs/" (id) "/promote" } value="promote" { "promote" } }
                                button type="submit" formaction={ "/api/v1/queues/" (name) "/jobs/" (id) "/remove" } value="remove" { "remove" }
                                span.muted.result {}
                            }
                        }
                    }
                }
            }
        }
        @if jobs.is_empty() { p.muted { "no " (state) " jobs" } }
        p {
            @if page_no > 0 { a href={ "/queues/" (name) "?state=" (state) "&page=" (page_no - 1) } { "← newer" } " " }
            @if (page_no + 1) * PER_PAGE < in_state { a href={ "/queues/" (name) "?state=" (state) "&page=" (page_no + 1) } { "older →" } }
        }
    };
    Html(page::layout(&format!("queue {name}"), body).into_string()).into_response()
}

pub async fn job_page(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let v = match job_detail(&app, &name, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pretty = |x: &Value| serde_json::to_string_pretty(x).unwrap_or_default();
    let body = html! {
        form.actions method="post" {
            @for action in ["retry", "promote", "remove"] {
                button type="submit" formaction={ "/api/v1/queues/" (name) "/jobs/" (id) "/" (action) } value=(action) { (action) }
            }
            span.muted.result {}
        }
        table.kv {
            tr { th { "queue" } td { a href={ "/queues/" (name) } { (name) } } }
            tr { th { "name" } td { (v["name"].as_str().unwrap_or_default()) } }
            tr { th { "state" } td { (v["state"].as_str().unwrap_or("in no state")) } }
            tr { th { "attempts" } td { (v["attempts"].as_str().unwrap_or_default()) } }
            @if !v["progress"].is_null() { tr { th { "progress" } td { (v["progress"].to_string()) } } }
            tr { th { "added" } td { (when(v["timestamp"].as_u64())) } }
            tr { th { "started" } td { (when(v["processedOn"].as_u64())) } }
            tr { th { "finished" } td { (when(v["finishedOn"].as_u64())) } }
            @if let Some(r) = v["failedReason"].as_str() { tr.bad { th { "failed" } td { (r) } } }
        }
        h3 { "Data" } pre { (pretty(&v["data"])) }
        h3 { "Options" } pre { (pretty(&v["opts"])) }
        @if let Some(traces) = v["stacktrace"].as_array().filter(|t| !t.is_empty()) {
            h3 { "Stack traces" }
            @for t in traces { pre { (t.as_str().unwrap_or_default()) } }
        }
        @if let Some(logs) = v["logs"].as_array().filter(|l| !l.is_empty()) {
            h3 { "Logs" }
            pre { @for l in logs { (l.as_str().unwrap_or_default()) "\n" } }
        }
    };
    Html(page::layout(&format!("job {id} of {name}"), body).into_string()).into_response()
}
