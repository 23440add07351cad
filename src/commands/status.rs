//! `tpctl status` (aliases `list`, `ls`): every app instance, as a table or as JSON, or as a
//! probe's verdict (`--check`).

use super::{CommandError, Ctx, Outcome, inventory};
use crate::policy::Status;
use crate::proto::AppStatus;

/// Apps online whose queues are out of reach are not working, whatever their status says:
/// one line per Valkey that does not answer a connection, naming the apps it leaves idle.
fn degraded(ctx: &Ctx, rows: &[AppStatus]) -> Vec<String> {
    let mut by_url: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for r in rows.iter().filter(|r| r.status == Status::Online) {
        if let Some(spec) = super::targets::saved_spec(&ctx.home, &r.id)
            && !spec.queues.is_empty()
            && let Some(url) = spec.env.get("VALKEY_URL").filter(|u| !u.is_empty())
        {
            by_url.entry(url.clone()).or_default().push(&r.id);
        }
    }
    by_url
        .into_iter()
        .filter_map(|(url, apps)| {
            let why = reachable(&url).err()?;
            Some(format!(
                "! Valkey at {} is unreachable ({why}): {} online but cannot take jobs ({})",
                crate::config::env::redact("VALKEY_URL", &url),
                crate::render::count(apps.len(), "app"),
                apps.join(", ")
            ))
        })
        .collect()
}

/// Whether Valkey's address takes a TCP connection within a moment (reachability only).
fn reachable(url: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let parsed = reqwest::Url::parse(&url.replacen("valkey", "redis", 1))
        .map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("no host")?;
    let port = parsed.port().unwrap_or(6379);
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = String::from("no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_millis(300)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Orders the rows as `--sort` says; ties keep the number order.
fn sort(rows: &mut [AppStatus], key: crate::cli::SortKey) {
    use crate::cli::SortKey;
    rows.sort_by_key(|r| (r.number.unwrap_or(u32::MAX), r.id.clone()));
    match key {
        SortKey::Id => {}
        SortKey::Name => rows.sort_by(|a, b| a.id.cmp(&b.id)),
        SortKey::Status => rows.sort_by_key(|r| r.status.as_str()),
        SortKey::Memory => rows.sort_by_key(|r| std::cmp::Reverse(r.memory_bytes.unwrap_or(0))),
        SortKey::Cpu => rows.sort_by(|a, b| {
            let cpu = |r: &AppStatus| r.cpu_percent.unwrap_or(0.0);
            cpu(b).total_cmp(&cpu(a))
        }),
    }
}

/// `status --check`: up means online, completed (a one-shot) or stopped on purpose; anything
/// else (waiting, launching, restarting, errored, failed, lost, stopping) is listed and fails.
fn check(rows: &[AppStatus]) -> Outcome {
    if rows.is_empty() {
        println!("✗ no apps are known here (TPCTL_HOME); nothing is running");
        return Outcome::Failed;
    }
    let down: Vec<&AppStatus> = rows
        .iter()
        .filter(|r| {
            !matches!(
                r.status,
                Status::Online | Status::Completed | Status::Stopped
            )
        })
        .collect();
    for r in &down {
        let why = r
            .cause
            .as_deref()
            .or(r.reason.as_deref())
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        println!("✗ {}: {}{why}", r.id, r.status.as_str());
    }
    if down.is_empty() {
        println!("✓ {} up", crate::render::count(rows.len(), "app"));
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

/// Prints the status of every known app.
pub fn status(ctx: &Ctx, args: &crate::cli::StatusArgs) -> Result<Outcome, CommandError> {
    let json = args.output.json;
    let rows = inventory::all(&ctx.home).map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", ctx.home.root().display()),
        source,
    })?;
    if args.check {
        return Ok(check(&rows));
    }
    let mut rows = rows;
    sort(&mut rows, args.sort);
    if json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| CommandError::Io {
            what: "cannot encode JSON".into(),
            source: std::io::Error::other(e),
        })?;
        println!("{text}");
    } else if rows.is_empty() {
        println!("no apps; start some with `tpctl start` (reads ./ecosystem.toml)");
    } else {
        println!(
            "{}",
            crate::render::status_table_within(&rows, ctx.color, crate::fit::width(), args.wide)
        );
        for line in degraded(ctx, &rows) {
            println!("{line}");
        }
        for r in rows.iter().filter(|r| {
            r.reason.is_some()
                && (matches!(
                    r.status,
                    crate::policy::Status::Errored
                        | crate::policy::Status::Failed
                        | crate::policy::Status::Lost
                ) || r
                    .reason
                    .as_deref()
                    .is_some_and(|m| m.starts_with("keeper not answering")))
        }) {
            println!("{}: {}", r.id, r.reason.as_deref().unwrap_or_default());
        }
    }
    Ok(Outcome::Success)
}
