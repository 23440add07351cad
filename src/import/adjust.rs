//! Adjustments made to the imported apps as a whole: what tpctl knows of TestPlanIt's workers,
//! a dump's shell environment left out, and paths rebased for another output directory.

use std::collections::BTreeMap;

use super::{Imported, toml_str};

/// TestPlanIt's Node workers (their bundle's name), the queue each consumes and the tp-worker
/// that can replace it.
const TESTPLANIT_WORKERS: &[(&str, &str, &str)] = &[
    ("notificationWorker", "notifications", "notification"),
    ("emailWorker", "emails", "email"),
    ("forecastWorker", "forecast-updates", "forecast"),
    ("syncWorker", "issue-sync", "sync"),
    ("testmoImportWorker", "testmo-imports", "testmo-import"),
    (
        "elasticsearchReindexWorker",
        "elasticsearch-reindex",
        "elasticsearch-reindex",
    ),
    ("auditLogWorker", "audit-logs", "audit-log"),
];

/// Fills in what tpctl knows of TestPlanIt's apps: each Node worker's `queue`, `after` the
/// scheduler when the file runs one, and a note that tp-worker can replace it.
pub fn testplanit(apps: &mut [Imported]) {
    let scheduler = apps
        .iter()
        .find(|a| {
            a.name == "scheduler"
                || a.keys
                    .iter()
                    .any(|(k, v)| (k == "script" || k == "args") && v.contains("scheduler.js"))
        })
        .map(|a| a.name.clone());
    for a in apps.iter_mut() {
        let runs = |bundle: &str| {
            a.keys
                .iter()
                .any(|(k, v)| (k == "script" || k == "args") && v.contains(&format!("{bundle}.js")))
        };
        let Some((_, queue, ours)) = TESTPLANIT_WORKERS.iter().find(|(b, _, _)| runs(b)) else {
            continue;
        };
        let (queue, ours) = (*queue, *ours);
        if !a.keys.iter().any(|(k, _)| k == "queue") {
            a.keys.push(("queue".into(), toml_str(queue)));
        }
        if let Some(s) = scheduler.as_ref().filter(|s| **s != a.name) {
            a.keys.push(("after".into(), toml_str(s)));
        }
        a.notes.push(format!(
            "TestPlanIt's {queue} worker: `tp-worker {ours}` can replace the Node one (script = \"tp-worker\", args = [\"{ours}\"])"
        ));
    }
}

/// A dump flattens PM2's own environment (the shell it was started from) into every app's, with
/// no record of which variables the app set. Those equal to the importing shell's, name and
/// value, came from that shell: they are left out (tpctl's apps inherit tpctl's environment
/// the same way) and reported, so no shell variable is copied into the apps unawares.
pub fn drop_shell_env(apps: &mut [Imported], shell: &BTreeMap<String, String>) {
    for a in apps.iter_mut() {
        let mut inherited: Vec<String> = Vec::new();
        for map in [&mut a.env, &mut a.secrets] {
            map.retain(|k, v| {
                let from_shell = shell.get(k) == Some(v);
                if from_shell {
                    inherited.push(k.clone());
                }
                !from_shell
            });
        }
        if !inherited.is_empty() {
            inherited.sort();
            a.dropped.push(format!(
                "{}: the same as in this shell, so inherited by PM2 rather than set for the app (tpctl apps inherit tpctl's environment too)",
                inherited.join(", ")
            ));
        }
    }
}

/// For an ecosystem.toml written to another directory than the PM2 file's (`--output`): paths
/// that were relative to the PM2 file's directory are made absolute against `from`, and an app
/// without `cwd` gets that directory, so relative `args` still find their files.
pub fn rebase(apps: &mut [Imported], from: &std::path::Path) {
    let text_of = |v: &str| {
        toml::from_str::<toml::Table>(&format!("v = {v}"))
            .ok()
            .and_then(|t| t.get("v").and_then(|x| x.as_str()).map(str::to_string))
    };
    for a in apps.iter_mut() {
        let mut has_cwd = false;
        for (k, v) in a.keys.iter_mut() {
            let is_path = match k.as_str() {
                "cwd" => {
                    has_cwd = true;
                    true
                }
                "out_file" | "error_file" => true,
                // A bare command (node, tp-worker) is looked up on PATH, not rebased.
                "script" => text_of(v).is_some_and(|t| t.contains('/')),
                _ => false,
            };
            if let Some(t) = text_of(v).filter(|t| is_path && !t.starts_with('/')) {
                *v = toml_str(&from.join(t).display().to_string());
            }
        }
        if !has_cwd {
            a.keys
                .push(("cwd".into(), toml_str(&from.display().to_string())));
        }
    }
}
