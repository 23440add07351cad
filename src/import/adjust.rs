//! Adjustments made to the imported apps as a whole: what tpctl knows of TestPlanIt's workers,
//! and a dump's shell environment left out.

use std::collections::BTreeMap;

use super::{Imported, toml_str};

/// TestPlanIt's Node workers (their bundle's name), the queue each consumes and, for the
/// 0.11.x ones, the tp-worker that can replace it (TestPlanIt 1.x's ecosystem.config.js).
const TESTPLANIT_WORKERS: &[(&str, &str, Option<&str>)] = &[
    ("notificationWorker", "notifications", Some("notification")),
    ("emailWorker", "emails", Some("email")),
    ("forecastWorker", "forecast-updates", Some("forecast")),
    ("syncWorker", "issue-sync", Some("sync")),
    (
        "testmoImportWorker",
        "testmo-imports",
        Some("testmo-import"),
    ),
    (
        "elasticsearchReindexWorker",
        "elasticsearch-reindex",
        Some("elasticsearch-reindex"),
    ),
    ("auditLogWorker", "audit-logs", Some("audit-log")),
    ("budgetAlertWorker", "budget-alerts", None),
    ("autoTagWorker", "auto-tag", None),
    ("deriveCaseStepsWorker", "derive-case-steps", None),
    ("repoCacheWorker", "repo-cache", None),
    ("copyMoveWorker", "copy-move", None),
    ("duplicateScanWorker", "duplicate-scan", None),
    ("magicSelectWorker", "magic-select", None),
    ("impactAnalysisWorker", "impact-analysis", None),
    ("stepSequenceScanWorker", "step-scan", None),
    ("generateFromUrlWorker", "generate-from-url", None),
    ("iterationGenerationWorker", "iteration-generation", None),
    ("scimAccessRecomputeWorker", "scim-access-recompute", None),
    ("webhookDispatchWorker", "webhook-dispatch", None),
    ("executionDispatchWorker", "execution-dispatch", None),
];

/// TestPlanIt 1.x's poll loops: workers of the database, with no BullMQ queue.
const TESTPLANIT_LOOPS: &[(&str, &str)] = &[
    ("webhookOutboxWorker", "polls the webhook outbox every 2 s"),
    (
        "webhookRetentionWorker",
        "purges old webhook deliveries daily",
    ),
    (
        "dataChangeLogRetentionWorker",
        "purges processed DataChangeLog rows daily",
    ),
    (
        "datasetLeaseSweepWorker",
        "reaps expired data set leases every 60 s",
    ),
];

/// Fills in what tpctl knows of TestPlanIt's apps: each Node worker's `queue`, `after` the
/// scheduler when the file runs one, and a note that tp-worker can replace it. Returns one
/// note for the 1.x workers tp-worker does not implement.
pub fn testplanit(apps: &mut [Imported]) -> Option<String> {
    let mut as_they_are: Vec<String> = Vec::new();
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
        if let Some((_, what)) = TESTPLANIT_LOOPS.iter().find(|(b, _)| runs(b)) {
            a.notes.push(format!(
                "TestPlanIt's poll loop that {what}: no BullMQ queue, so no `queue` and no `after`"
            ));
            continue;
        }
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
        // A stop must wait for the queue's longest step, or doctor flags the app (and a job
        // cut off stays locked): what doctor checks, set here.
        let bound = crate::doctor::stop_bound(queue);
        if bound > crate::config::defaults::KILL_TIMEOUT {
            let wanted = crate::config::units::format_duration(bound);
            let given = a.keys.iter().position(|(k, _)| k == "kill_timeout");
            let shorter = given.and_then(|i| {
                let v = a.keys[i].1.trim_matches('"');
                crate::config::units::parse_duration(v)
                    .ok()
                    .filter(|d| *d < bound)
                    .map(|_| i)
            });
            match (given, shorter) {
                (None, _) => {
                    a.keys.push(("kill_timeout".into(), toml_str(&wanted)));
                    a.notes.push(format!(
                        "kill_timeout = \"{wanted}\": the longest step of a job of {queue}, so a stop never cuts one off (PM2 killed after 1.6 s)"
                    ));
                }
                (Some(_), Some(i)) => {
                    a.notes.push(format!(
                        "kill_timeout raised from {} to \"{wanted}\": the longest step of a job of {queue}",
                        a.keys[i].1
                    ));
                    a.keys[i].1 = toml_str(&wanted);
                }
                (Some(_), None) => {}
            }
        }
        match ours {
            Some(ours) => a.notes.push(format!(
                "TestPlanIt's {queue} worker: `tp-worker {ours}` can replace the Node one (script = \"tp-worker\", args = [\"{ours}\"])"
            )),
            None => as_they_are.push(a.name.clone()),
        }
    }
    (!as_they_are.is_empty()).then(|| {
        format!(
            "TestPlanIt 1.x's workers run as they are under tpctl (tp-worker implements TestPlanIt 0.11.x's seven only): {}",
            as_they_are.join(", ")
        )
    })
}

/// A dump flattens PM2's own environment (the shell it was started from) into every app's, with
/// no record of which variables the app set. Those equal to the importing shell's, name and
/// value, came from that shell: they are left out (tpctl's apps inherit tpctl's environment
/// the same way) and reported, so no shell variable is copied into the apps unawares.
///
/// Returns the TestPlanIt settings among them (name and value): what the apps relied on
/// their environment for, which the import writes to an env file of its own.
pub fn drop_shell_env(
    apps: &mut [Imported],
    shell: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut relied = BTreeMap::new();
    for a in apps.iter_mut() {
        let mut inherited: Vec<String> = Vec::new();
        for map in [&mut a.env, &mut a.secrets] {
            map.retain(|k, v| {
                let from_shell = shell.get(k) == Some(v);
                if from_shell {
                    inherited.push(k.clone());
                    if is_setting(k) {
                        relied.insert(k.clone(), v.clone());
                    }
                }
                !from_shell
            });
        }
        if !inherited.is_empty() {
            inherited.sort();
            a.dropped.push(format!(
                "{}: the same as in this shell, so inherited by PM2 rather than set for the app (tpctl records the environment of an app's first start too; TestPlanIt's settings among them go to tpctl.env)",
                inherited.join(", ")
            ));
        }
    }
    relied
}

/// Variables TestPlanIt's workers and scheduler read their settings from (its `.env`): what
/// a PM2 app takes from the environment PM2 was started in when its file does not set it.
const SETTINGS: &[&str] = &[
    "VALKEY_URL",
    "REDIS_URL",
    "VALKEY_SENTINELS",
    "VALKEY_SENTINEL_MASTER",
    "VALKEY_SENTINEL_PASSWORD",
    "BULLMQ_PREFIX",
    "DATABASE_URL",
    "NEXTAUTH_URL",
    "NEXTAUTH_SECRET",
    "EMAIL_SERVER_HOST",
    "EMAIL_SERVER_PORT",
    "EMAIL_SERVER_USER",
    "EMAIL_SERVER_PASSWORD",
    "EMAIL_FROM",
    "ELASTICSEARCH_NODE",
    "ENCRYPTION_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_BUCKET_NAME",
    "AWS_ENDPOINT_URL",
    "AWS_PUBLIC_ENDPOINT_URL",
    "MULTI_TENANT_MODE",
    "TENANT_CONFIG",
    "TENANT_CONFIG_FILE",
    "INSTANCE_TENANT_ID",
    "NODE_ENV",
    "TZ",
];

/// True for a TestPlanIt setting (see `SETTINGS`).
pub fn is_setting(name: &str) -> bool {
    SETTINGS.contains(&name)
}

/// The TestPlanIt settings `env` has that no app sets itself: what the apps of a PM2 file
/// would take from the environment PM2 runs in.
pub fn relied_settings(
    apps: &[Imported],
    env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(k, v)| is_setting(k) && !v.is_empty())
        .filter(|(k, _)| {
            !apps
                .iter()
                .any(|a| a.env.contains_key(*k) || a.secrets.contains_key(*k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
