//! Delivery of queued alerts to their destinations: webhooks (HTTP POST), commands (the alert
//! as JSON on stdin) and email (SMTP, with the settings TestPlanIt's email worker reads).
//!
//! `tpctl alert-sender DIR` runs as a process of its own, one at a time per app (a lock): it
//! works the queue oldest first, marks each destination that took an alert, retries the others
//! with back-off (1 s doubling to 5 min) until they answer, logs a refusing destination once
//! per outage in keeper.log, drops an alert nobody took in a day, and exits when the queue is
//! empty. The destinations and the app's environment are read from spec.json at each attempt.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::AsyncWriteExt;

use super::{Alert, message, queue};
use crate::home::AppDir;
use crate::spec::{AlertSpec, AppSpec, WebhookSpec};

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest wait between two rounds while a destination refuses.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// An alert no destination took in this long is dropped.
const GIVE_UP_MS: u64 = 24 * 3_600_000;

/// Where an alert goes.
#[derive(Debug, Clone)]
pub enum Destination {
    Webhook(WebhookSpec),
    Command(Vec<String>),
    Email(Vec<String>),
}

impl Destination {
    /// Every destination of `spec`, with the key an alert's `delivered` list uses.
    pub fn all(spec: &AlertSpec) -> Vec<(String, Destination)> {
        let mut out = Vec::new();
        for (i, w) in spec.webhooks.iter().enumerate() {
            out.push((format!("webhook:{i}"), Destination::Webhook(w.clone())));
        }
        for (i, c) in spec.commands.iter().enumerate() {
            out.push((format!("command:{i}"), Destination::Command(c.clone())));
        }
        if !spec.email_to.is_empty() {
            out.push(("email".into(), Destination::Email(spec.email_to.clone())));
        }
        out
    }

    /// What it is, without its secrets: `webhook https://hooks.slack.com/… (slack)`.
    pub fn describe(&self) -> String {
        match self {
            Destination::Webhook(w) => format!(
                "webhook {} ({})",
                match (&w.url, &w.url_env) {
                    (Some(url), _) => crate::config::alerts::redacted_url(url),
                    (None, Some(var)) => format!("from ${var}"),
                    (None, None) => "-".into(),
                },
                serde_json::to_value(w.format)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            Destination::Command(run) => format!("command {}", run.join(" ")),
            Destination::Email(to) => format!("email to {}", to.join(", ")),
        }
    }

    /// Sends `alert` here once.
    pub async fn deliver(
        &self,
        http: &reqwest::Client,
        alert: &Alert,
        env: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        match self {
            Destination::Webhook(w) => webhook(http, w, alert, env).await,
            Destination::Command(run) => command(run, alert, env).await,
            Destination::Email(to) => email(to, alert, env).await,
        }
    }
}

/// The HTTP client, on the ring provider tp-worker uses too.
pub fn http_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("tpctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}

async fn webhook(
    http: &reqwest::Client,
    w: &WebhookSpec,
    alert: &Alert,
    env: &BTreeMap<String, String>,
) -> Result<(), String> {
    let url = match (&w.url, &w.url_env) {
        (Some(url), _) => url.clone(),
        (None, Some(var)) => env
            .get(var)
            .cloned()
            .ok_or_else(|| format!("{var} is not in the app's environment"))?,
        (None, None) => return Err("no URL".into()),
    };
    let shown = crate::config::alerts::redacted_url(&url);
    let response = http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(message::webhook_body(alert, w.format).to_string())
        .send()
        .await
        // reqwest's error names the URL, whose path may be the secret.
        .map_err(|e| format!("cannot reach {shown}: {}", without_url(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(200).collect();
    Err(format!("{shown} answered HTTP {}: {body}", status.as_u16()))
}

fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn command(
    run: &[String],
    alert: &Alert,
    env: &BTreeMap<String, String>,
) -> Result<(), String> {
    let (program, args) = run.split_first().ok_or("no program")?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .envs(message::command_env(alert))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let body = message::json(alert).to_string();
        // A command that does not read its input is its own business.
        let _ = stdin.write_all(body.as_bytes()).await;
    }
    let out = tokio::time::timeout(ATTEMPT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{program} did not finish within {ATTEMPT_TIMEOUT:?}"))?
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    Err(format!("{program} exited with {}{said}", out.status))
}

async fn email(to: &[String], alert: &Alert, env: &BTreeMap<String, String>) -> Result<(), String> {
    let var = |k: &str| {
        env.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let host = var("EMAIL_SERVER_HOST").ok_or("EMAIL_SERVER_HOST is not set")?;
    let from = var("EMAIL_FROM").ok_or("EMAIL_FROM is not set")?;
    let port = var("EMAIL_SERVER_PORT")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or(587);
    let from = Mailbox::new(
        Some("tpctl".into()),
        from.parse()
            .map_err(|e| format!("EMAIL_FROM is not an email address: {e}"))?,
    );
    let mut message = Message::builder()
        .from(from)
        .subject(message::subject(alert));
    for r in to {
        message = message.to(r
            .parse()
            .map_err(|e| format!("{r:?} is not an email address: {e}"))?);
    }
    let message = message
        .body(message::text(alert))
        .map_err(|e| format!("cannot build the email: {e}"))?;
    let tls = TlsParameters::new(host.clone()).map_err(|e| format!("cannot prepare TLS: {e}"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
        .port(port)
        .tls(if port == 465 {
            Tls::Wrapper(tls)
        } else {
            Tls::Opportunistic(tls)
        })
        .timeout(Some(ATTEMPT_TIMEOUT));
    if let Some(user) = var("EMAIL_SERVER_USER") {
        builder = builder.credentials(Credentials::new(
            user,
            var("EMAIL_SERVER_PASSWORD").unwrap_or_default(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {host}:{port}: {e}"))
}

/// `tpctl alert-sender DIR`: works the queue of the app in DIR until it is empty.
pub fn main(dir: PathBuf) -> i32 {
    let app = AppDir::at(dir);
    if let Err(e) = crate::keeper::launch::log_to_file(&app) {
        eprintln!("tpctl alert-sender: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "alert sender: cannot start its runtime");
            return 1;
        }
    };
    runtime.block_on(work(&app))
}

async fn work(app: &AppDir) -> i32 {
    let http = match http_client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("alert sender: {e}");
            return 1;
        }
    };
    let lock_path = queue::dir(app).join("sender.lock");
    let Some(mut lock) = try_lock(&lock_path) else {
        return 0; // another sender has the queue
    };
    // Destinations down now, with their reason: logged once when they go down and once when
    // back, also across senders (a restarted keeper's sender knows the outage goes on).
    let outages_path = queue::dir(app).join("outages.json");
    let mut down: HashMap<String, String> = std::fs::read(&outages_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let save_outages = |down: &HashMap<String, String>| {
        if let Ok(bytes) = serde_json::to_vec(down) {
            let _ = crate::persist::write_atomic(&outages_path, &bytes, 0o600, false);
        }
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let pending = queue::pending(app);
        if pending.is_empty() {
            // Give the queue up, then look once more: an alert queued while we let go is
            // either ours now or taken by the sender its keeper just started.
            drop(lock);
            if queue::pending(app).is_empty() {
                return 0;
            }
            match try_lock(&lock_path) {
                Some(l) => lock = l,
                None => return 0,
            }
            continue;
        }
        let spec: Option<AppSpec> = std::fs::read(app.spec_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let Some((alerts, env)) = spec.and_then(|s| Some((s.alerts?, s.env))) else {
            // The app was deleted or its alerts turned off: nothing to send them to.
            for p in pending {
                let _ = std::fs::remove_file(p);
            }
            continue;
        };
        let destinations = Destination::all(&alerts);
        let mut failed = false;
        for path in pending {
            let Some(mut alert) = queue::read(&path) else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            for (key, dest) in &destinations {
                if alert.delivered.contains(key) {
                    continue;
                }
                match dest.deliver(&http, &alert, &env).await {
                    Ok(()) => {
                        if down.remove(key).is_some() {
                            tracing::info!(destination = %dest.describe(), "alert destination answers again");
                            save_outages(&down);
                        }
                        alert.delivered.push(key.clone());
                        if let Err(e) = queue::write(&path, &alert) {
                            tracing::error!(error = %e, "cannot record a delivered alert");
                        }
                    }
                    Err(reason) => {
                        failed = true;
                        if !down.contains_key(key) {
                            tracing::warn!(destination = %dest.describe(), %reason, "alert destination refuses; retrying with back-off, not logged again until it answers");
                            down.insert(key.clone(), reason);
                            save_outages(&down);
                        }
                    }
                }
            }
            let all = destinations
                .iter()
                .all(|(k, _)| alert.delivered.contains(k));
            if all {
                let _ = std::fs::remove_file(&path);
            } else if crate::keeper::now_ms().saturating_sub(alert.at_ms) > GIVE_UP_MS {
                tracing::error!(alert = %alert.summary, "no destination took this alert in a day; dropped");
                let _ = std::fs::remove_file(&path);
            }
        }
        if failed {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_CAP);
        } else {
            backoff = Duration::from_secs(1);
        }
    }
}

fn try_lock(path: &std::path::Path) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()
}
