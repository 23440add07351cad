//! `tpctl alerts test [FILE]`: a test alert to every destination of the file's `[alerts]`,
//! delivered now, each destination's answer printed.

use std::path::PathBuf;

use super::{CommandError, Ctx, Outcome, targets};
use crate::alerts::Alert;
use crate::alerts::send::{Destination, http_client};
use crate::config::defaults::ECOSYSTEM_FILE;
use crate::keeper::now_ms;
use crate::policy::AlertKind;
use crate::proto::AppStatus;

pub fn test(_ctx: &Ctx, file: Option<PathBuf>) -> Result<Outcome, CommandError> {
    let file = file.unwrap_or_else(|| ECOSYSTEM_FILE.into());
    let specs = targets::load_ecosystem(&file)?;
    // The destinations are the file's; the first app with alerts lends its environment (the
    // SMTP settings, a webhook's url_env).
    let Some((spec, rules)) = specs.iter().find_map(|s| s.alerts.as_ref().map(|a| (s, a))) else {
        return Err(CommandError::Usage(format!(
            "{} has no [alerts] table (or every app has `alerts = false`): add one with a destination, e.g.\n\n  [[alerts.webhook]]\n  url = \"https://hooks.slack.com/services/…\"\n  format = \"slack\"\n\n(`man 5 tpctl-ecosystem`, ALERTS)",
            file.display()
        )));
    };
    let mut status = AppStatus::stopped(&spec.id, &spec.name, spec.instance, now_ms());
    status.restarts = 0;
    let mut alert = Alert::new(
        AlertKind::Test,
        &format!(
            "A test alert from `tpctl alerts test` for {}: this destination gets tpctl's alerts.",
            file.display()
        ),
        &status,
        &spec.env,
        now_ms(),
    );
    alert.summary = format!("tpctl on {}: test alert", alert.host);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CommandError::Io {
            what: "cannot start the async runtime".into(),
            source,
        })?;
    let http = http_client().map_err(CommandError::Usage)?;
    let mut outcome = Outcome::Success;
    for (_, dest) in Destination::all(rules) {
        match runtime.block_on(dest.deliver(&http, &alert, &spec.env)) {
            Ok(()) => crate::say!("✓ {}: delivered", dest.describe()),
            Err(e) => {
                println!("✗ {}: {e}", dest.describe());
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}
