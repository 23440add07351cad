//! `tpctl web`: the browser dashboard, its JSON API under `/api/v1/` and `/metrics`, served
//! from what the CLI's commands read (`status`, `describe`, `logs`, `queues`), and actions
//! carried out by running `tpctl` itself, so a click does exactly what the command does.

mod access;
mod data;
mod fleet;
mod history;
mod metrics;
mod page;
mod queue_pages;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;

use crate::commands::{CommandError, Ctx, Outcome};
use access::{Policy, Token, Verdict};
use data::Source;

/// The address PM2's `pm2 web` listens on: a habit operators have.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9615";
/// How often the overview's live updates are sent.
const LIVE_EVERY: Duration = Duration::from_secs(2);
/// How often a log tail looks for new lines.
const TAIL_EVERY: Duration = Duration::from_millis(250);
/// Lines a log tail starts with.
const TAIL_BACKLOG: usize = 200;
/// The longest an action (a stop waiting out kill_timeout) may take before its answer.
const ACTION_PATIENCE: Duration = Duration::from_secs(600);
/// The longest a read (a page, the API, /metrics) may take to answer.
const READ_PATIENCE: Duration = Duration::from_secs(20);
/// Request bodies: actions carry none.
const BODY_LIMIT: usize = 16 * 1024;

/// `tpctl web`'s options.
pub struct Options {
    pub listen: String,
    pub token_file: Option<PathBuf>,
    pub allow_hosts: Vec<String>,
}

pub(crate) struct App {
    source: Arc<Source>,
    policy: Policy,
    history: history::History,
}

pub(crate) type Shared = Arc<App>;

fn usage(text: String) -> CommandError {
    CommandError::Usage(text)
}

/// Runs the server until SIGTERM or SIGINT. Every bad input is refused before anything
/// listens.
pub fn run(ctx: &Ctx, o: Options) -> Result<Outcome, CommandError> {
    let addr: SocketAddr = o.listen.parse().map_err(|e| {
        usage(format!(
            "--listen {:?}: {e}; give an address and port such as 127.0.0.1:9615 or 0.0.0.0:9615",
            o.listen
        ))
    })?;
    if !addr.ip().is_loopback() && o.token_file.is_none() {
        return Err(usage(format!(
            "--listen {addr} is reachable from other hosts, so every request there needs a token you chose: \
             create one (`head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /etc/tpctl/web.token; chmod 600 /etc/tpctl/web.token`) \
             and pass --token-file /etc/tpctl/web.token, or listen on 127.0.0.1"
        )));
    }
    let (token_path, create) = match &o.token_file {
        Some(p) => (p.clone(), false),
        None => {
            ctx.home.ensure()?;
            (ctx.home.root().join("web.token"), true)
        }
    };
    let (token, created) = Token::load(&token_path, create).map_err(|e| usage(e.to_string()))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        usage(format!(
            "cannot listen on {addr}: {e}{}",
            if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another tpctl web or pm2 web? choose another port with --listen)"
            } else {
                ""
            }
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| CommandError::Io {
            what: format!("cannot set up the listener on {addr}"),
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(addr);
    println!("tpctl web listening on http://{bound}/");
    println!(
        "token for actions: {}{}",
        token_path.display(),
        if created { " (created, 0600)" } else { "" }
    );
    let host = std::env::var("TPCTL_HOST_NAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(data::host_name);
    let app: Shared = Arc::new(App {
        source: Arc::new(Source::new(ctx.home.clone(), host)),
        policy: Policy {
            token,
            hosts: o.allow_hosts,
        },
        history: history::History::default(),
    });
    // One malloc arena, not one per thread: a long-running server keeps what each arena
    // grew to, and its threads (runtime, blocking pool, broadcast) would each hold their own.
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .map_err(|source| CommandError::Io {
            what: "cannot start the server's runtime".into(),
            source,
        })?;
    rt.block_on(serve(app, listener))
        .map_err(|source| CommandError::Io {
            what: format!("serving on {bound} failed"),
            source,
        })?;
    Ok(Outcome::Success)
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(overview_page))
        .route("/apps/{name}", get(app_page))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/overview", get(api_overview))
        .route("/api/v1/events", get(api_events))
        .route("/api/v1/apps", get(api_apps))
        .route("/api/v1/apps/{name}", get(api_app))
        .route("/api/v1/apps/{name}/logs", get(api_logs))
        .route("/api/v1/apps/{name}/logs/stream", get(api_log_stream))
        .route("/api/v1/apps/{name}/{action}", post(api_app_action))
        .route("/api/v1/queues", get(api_queues))
        .route("/api/v1/queues/{queue}/{action}", post(api_queue_action))
        .route("/api/v1/queues/{queue}/jobs", get(queue_pages::api_jobs))
        .route(
            "/api/v1/queues/{queue}/jobs/{id}",
            get(queue_pages::api_job),
        )
        .route(
            "/api/v1/queues/{queue}/jobs/{id}/{action}",
            post(queue_pages::api_job_action),
        )
        .route("/queues/{queue}", get(queue_pages::queue_page))
        .route("/queues/{queue}/jobs/{id}", get(queue_pages::job_page))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

async fn serve(app: Shared, listener: std::net::TcpListener) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    // This host's table in Valkey for the fleet, every 2 s; a failure is logged when it
    // starts and when it ends, not every round.
    let publisher = app.clone();
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            match publisher.source.publish().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("publishing to the fleet again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot publish this host to the fleet");
                }
                Err(_) => {}
            }
            tokio::time::sleep(fleet::EVERY).await;
        }
    });
    // The app pages' hour of CPU and memory: every app sampled every 10 s.
    let sampler = app.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(apps) = sampler.source.statuses().await {
                sampler.history.record(&apps, crate::keeper::now_ms());
            }
            tokio::time::sleep(history::EVERY).await;
        }
    });
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    };
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// JSON error bodies: `{"error": "..."}`.
pub(crate) fn error(code: StatusCode, text: impl Into<String>) -> Response {
    (code, axum::Json(json!({ "error": text.into() }))).into_response()
}

/// Every request passes here: Host, token, loopback (see `access::decide`).
async fn guard(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let write = req.method() != Method::GET && req.method() != Method::HEAD;
    // Decided before any await: the request's body is not Sync, so no borrow of it may be
    // held across one.
    let verdict = {
        let get = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
        let peer: IpAddr = peer.ip().to_canonical();
        access::decide(
            &app.policy,
            write,
            peer,
            get(header::HOST),
            get(header::AUTHORIZATION),
        )
    };
    // Reads answer within READ_PATIENCE (a wedged keeper or Valkey cannot hold a connection
    // forever); actions within what they may take. A stream's answer is its headers: the
    // events that follow are not bounded.
    let patience = if write {
        ACTION_PATIENCE + Duration::from_secs(5)
    } else {
        READ_PATIENCE
    };
    match verdict {
        Verdict::Allow => match tokio::time::timeout(patience, next.run(req)).await {
            Ok(response) => response,
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no answer within {}s", patience.as_secs()),
            ),
        },
        Verdict::Unauthorized(why) => {
            let mut r = error(StatusCode::UNAUTHORIZED, why);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"tpctl\""),
            );
            r
        }
        Verdict::Forbidden(why) => error(StatusCode::FORBIDDEN, why),
    }
}

async fn overview_page(State(app): State<Shared>) -> Response {
    match app.source.snapshot(true).await {
        Ok(s) => Html(page::overview(&s).into_string()).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
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

async fn app_page(State(app): State<Shared>, Path(name): Path<String>) -> Response {
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
struct ScopeQuery {
    scope: Option<String>,
}

impl ScopeQuery {
    fn fleet(&self) -> bool {
        self.scope.as_deref() == Some("fleet")
    }
}

async fn metrics_text(
    State(app): State<Shared>,
    Query(scope): Query<ScopeQuery>,
    headers: HeaderMap,
) -> Response {
    let (statuses_error, snapshot) = match app.source.snapshot(scope.fleet()).await {
        Ok(s) => (None, s),
        Err(e) => (
            Some(e),
            data::Snapshot {
                host: app.source.host.clone(),
                at_ms: crate::keeper::now_ms(),
                apps: vec![],
                queues: app.source.queues().await,
                fleet: None,
            },
        ),
    };
    let om = metrics::openmetrics(&snapshot, statuses_error.as_deref());
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

async fn api_overview(State(app): State<Shared>, Query(scope): Query<ScopeQuery>) -> Response {
    match app.source.snapshot(scope.fleet()).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn api_apps(State(app): State<Shared>) -> Response {
    match app.source.statuses().await {
        Ok(rows) => axum::Json(rows).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn api_app(State(app): State<Shared>, Path(name): Path<String>) -> Response {
    match describe(&app, name).await {
        Ok(d) => axum::Json(d).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct LinesQuery {
    lines: Option<usize>,
}

async fn api_logs(
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

async fn api_queues(State(app): State<Shared>) -> Response {
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
async fn api_events(
    State(app): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = stream::unfold((app, true), |(app, first)| async move {
        if !first {
            tokio::time::sleep(LIVE_EVERY).await;
        }
        let event = match app.source.snapshot(true).await {
            Ok(s) => Event::default()
                .event("overview")
                .data(page::live_parts(&s).to_string()),
            Err(e) => Event::default().event("problem").data(e),
        };
        Some((Ok(event), (app, false)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// New lines of an app's log files as `line` events, in the order they arrived.
async fn api_log_stream(State(app): State<Shared>, Path(name): Path<String>) -> Response {
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
async fn run_tpctl(app: &Shared, args: Vec<String>) -> Response {
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

async fn api_app_action(
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

async fn api_queue_action(
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
