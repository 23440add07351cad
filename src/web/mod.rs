//! `tpctl web`: the browser dashboard, its JSON API under `/api/v1/` and `/metrics`, served
//! from what the CLI's commands read (`status`, `describe`, `logs`, `queues`), and actions
//! carried out by running `tpctl` itself, so a click does exactly what the command does.

mod access;
mod api;
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
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::commands::{CommandError, Ctx, Outcome};
use access::{Policy, Token, Verdict};
use data::Source;

/// The address PM2's `pm2 web` listens on: a habit operators have.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9615";
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
        .route("/", get(api::overview_page))
        .route("/apps/{name}", get(api::app_page))
        .route("/metrics", get(api::metrics_text))
        .route("/api/v1/overview", get(api::api_overview))
        .route("/api/v1/events", get(api::api_events))
        .route("/api/v1/apps", get(api::api_apps))
        .route("/api/v1/apps/{name}", get(api::api_app))
        .route("/api/v1/apps/{name}/logs", get(api::api_logs))
        .route("/api/v1/apps/{name}/logs/stream", get(api::api_log_stream))
        .route("/api/v1/apps/{name}/{action}", post(api::api_app_action))
        .route("/api/v1/queues", get(api::api_queues))
        .route(
            "/api/v1/queues/{queue}/{action}",
            post(api::api_queue_action),
        )
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
    // The same read of the apps feeds the app pages' hour of CPU and memory (a sample every
    // 10 s).
    let publisher = app.clone();
    tokio::spawn(async move {
        let mut failing = false;
        let mut sampled: Option<std::time::Instant> = None;
        loop {
            let apps = match publisher.source.apps().await {
                Ok(apps) => apps,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the apps");
                    tokio::time::sleep(fleet::EVERY).await;
                    continue;
                }
            };
            if sampled.is_none_or(|t| t.elapsed() >= history::EVERY) {
                sampled = Some(std::time::Instant::now());
                let statuses: Vec<&crate::proto::AppStatus> =
                    apps.iter().map(|a| &a.status).collect();
                publisher.history.record(&statuses, crate::keeper::now_ms());
            }
            match publisher.source.publish(apps).await {
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
        api::ACTION_PATIENCE + Duration::from_secs(5)
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
