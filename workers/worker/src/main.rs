//! tp-worker: TestPlanIt's background workers in Rust, one binary called with the worker's
//! name (`tp-worker scheduler`, `tp-worker audit-log`, ...). Reads the same environment as
//! TestPlanIt's Node workers (DATABASE_URL, VALKEY_URL, MULTI_TENANT_MODE, ...).

mod audit;
mod config;
mod cuid;
mod db;
mod email;
mod fail;
mod forecast;
mod joblog;
mod notification;
mod notify;
mod producer;
mod queues;
mod reindex;
mod retry;
mod run;
mod scheduler;
mod schema_guard;
mod search;
mod sync;
mod testmo;
mod tls;
// tpctl's "did you mean", shared rather than written twice.
#[path = "../../../src/suggest.rs"]
mod suggest;

use std::process::ExitCode;

use config::Config;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// The workers this binary runs, with what they do.
const WORKERS: [(&str, &str); 8] = [
    (
        "scheduler",
        "register the daily cron jobs, then exit (one-shot)",
    ),
    (
        "notification",
        "in-app notifications, immediate emails and the daily digest (notifications queue)",
    ),
    (
        "email",
        "send notification and daily digest emails over SMTP (emails queue)",
    ),
    (
        "forecast",
        "case and run time forecasts, milestone completion and reminders (forecast-updates queue)",
    ),
    (
        "elasticsearch-reindex",
        "rebuild the search indices from PostgreSQL (elasticsearch-reindex queue)",
    ),
    (
        "sync",
        "refresh linked issues from Jira, GitHub and Azure DevOps (issue-sync queue)",
    ),
    (
        "testmo-import",
        "analyze Testmo exports from S3 into staging (testmo-imports queue; import mode not yet)",
    ),
    (
        "audit-log",
        "write audit events from the audit-logs queue to \"AuditLog\"",
    ),
];

fn usage() -> String {
    let mut s = String::from("usage: tp-worker WORKER\n       tp-worker --version\n\nworkers:\n");
    for (n, what) in WORKERS {
        s.push_str(&format!("  {n:<22} {what}\n"));
    }
    s
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TP_WORKER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Warnings and errors on stderr (tpctl's err.log), the rest on stdout.
        .with_writer(
            std::io::stderr
                .with_max_level(tracing::Level::WARN)
                .or_else(std::io::stdout),
        )
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

fn main() -> ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    if name == "-h" || name == "--help" {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    if name == "-V" || name == "--version" {
        println!("tp-worker {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if !WORKERS.iter().any(|(n, _)| *n == name) {
        let hint = suggest::closest(&name, WORKERS.iter().map(|(n, _)| *n))
            .map(|n| format!("; did you mean {n:?}?"))
            .unwrap_or_default();
        eprint!("tp-worker: unknown worker {name:?}{hint}\n\n{}", usage());
        return ExitCode::from(2);
    }
    init_tracing();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tp-worker: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = match Config::from_env() {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match name.as_str() {
            "scheduler" => scheduler::run(&cfg)
                .await
                .map(|n| {
                    tracing::info!("Scheduler finished: {n} repeatable job(s) registered.");
                })
                .map_err(anyhow::Error::from),
            "audit-log" => {
                run::serve_queue(
                    "Audit log",
                    &queues::AUDIT_LOGS,
                    &cfg,
                    |dbs| dbs,
                    audit::process,
                )
                .await
            }
            "notification" => {
                run::serve_queue(
                    "Notification",
                    &queues::NOTIFICATIONS,
                    &cfg,
                    |dbs| notification::Notifications {
                        dbs,
                        emails: producer::Producer::new(&cfg, &queues::EMAILS),
                    },
                    notification::process,
                )
                .await
            }
            "email" => {
                run::serve_queue(
                    "Email",
                    &queues::EMAILS,
                    &cfg,
                    |dbs| {
                        let mailer = email::smtp::Mailer::from_env();
                        tracing::info!("Email delivery: {}", mailer.describe());
                        email::Emails { dbs, mailer }
                    },
                    email::process,
                )
                .await
            }
            "forecast" => {
                run::serve_queue(
                    "Forecast",
                    &queues::FORECAST,
                    &cfg,
                    |dbs| forecast::Forecasts {
                        dbs,
                        notifications: producer::Producer::new(&cfg, &queues::NOTIFICATIONS),
                    },
                    forecast::process,
                )
                .await
            }
            "elasticsearch-reindex" => {
                run::serve_queue(
                    "Elasticsearch reindex",
                    &queues::ELASTICSEARCH_REINDEX,
                    &cfg,
                    |dbs| reindex::Reindexer {
                        dbs,
                        log: joblog::JobLog::new(&cfg, &queues::ELASTICSEARCH_REINDEX),
                    },
                    reindex::process,
                )
                .await
            }
            "sync" => {
                run::serve_queue(
                    "Sync",
                    &queues::ISSUE_SYNC,
                    &cfg,
                    |dbs| {
                        sync::Syncer::new(
                            dbs,
                            joblog::JobLog::new(&cfg, &queues::ISSUE_SYNC),
                            cfg.valkey_url.clone(),
                        )
                    },
                    sync::process,
                )
                .await
            }
            "testmo-import" => {
                run::serve_queue(
                    "Testmo import",
                    &queues::TESTMO_IMPORTS,
                    &cfg,
                    |dbs| testmo::Importer {
                        dbs,
                        reindex: producer::Producer::new(&cfg, &queues::ELASTICSEARCH_REINDEX),
                    },
                    testmo::process,
                )
                .await
            }
            other => Err(anyhow::anyhow!("unknown worker {other:?}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            // Configuration that cannot work (VALKEY_URL, TLS files, credentials): 2, as for
            // any other configuration error, so the supervisor's log says what to fix.
            let configuration = e.downcast_ref::<run::ConfigError>().is_some()
                || matches!(
                    e.downcast_ref::<scheduler::SchedulerError>(),
                    Some(scheduler::SchedulerError::Connect(c)) if c.is_configuration()
                );
            if configuration {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
