//! `tpctl status` (aliases `list`, `ls`): every app instance, as a table or as JSON.

use super::{CommandError, Ctx, Outcome, inventory};

/// Prints the status of every known app.
pub fn status(ctx: &Ctx, args: &crate::cli::StatusArgs) -> Result<Outcome, CommandError> {
    let json = args.output.json;
    let rows = inventory::all(&ctx.home).map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", ctx.home.root().display()),
        source,
    })?;
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
