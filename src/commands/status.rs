//! `tpctl status` (aliases `list`, `ls`): every app instance, as a table or as JSON, or as a
//! probe's verdict (`--check`).

use super::{CommandError, Ctx, Outcome, inventory};
use crate::policy::Status;
use crate::proto::AppStatus;

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
        for r in rows.iter().filter(|r| {
            r.reason.is_some()
                && matches!(
                    r.status,
                    crate::policy::Status::Errored
                        | crate::policy::Status::Failed
                        | crate::policy::Status::Lost
                )
        }) {
            println!("{}: {}", r.id, r.reason.as_deref().unwrap_or_default());
        }
    }
    Ok(Outcome::Success)
}
