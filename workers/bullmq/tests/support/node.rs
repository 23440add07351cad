//! Running the Node bullmq helpers of tests/interop/node. The pinned packages are installed
//! with `npm ci` on first use (CI does it up front), so `cargo test` alone works.
//!
//! The Node side is bullmq 5.67.2 (TestPlanIt's version). `TP_BULLMQ_NODE=5.81.3` runs the
//! same helpers on bullmq 5.81.3 instead (the spec's version matrix): its packages are pinned
//! in tests/interop/node-5.81.3 and the helpers load them through `BULLMQ_MODULE`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use serde_json::Value;

pub fn node_dir() -> PathBuf {
    // This file is shared by tp-bullmq's, tp-worker's and the root package's tests, whose
    // manifest directories differ; the Node project lives in tp-bullmq's tests.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        "tests/interop/node",
        "workers/bullmq/tests/interop/node",
        "../bullmq/tests/interop/node",
    ]
    .iter()
    .map(|p| manifest.join(p))
    .find(|d| d.join("package.json").is_file())
    .unwrap_or_else(|| manifest.join("tests/interop/node"))
}

/// The bullmq version under test: TestPlanIt's, unless the matrix variable names another.
pub fn version() -> Option<String> {
    std::env::var("TP_BULLMQ_NODE")
        .ok()
        .filter(|v| !v.is_empty() && v != "5.67.2")
}

/// The directory whose node_modules hold the bullmq under test.
fn packages_dir() -> PathBuf {
    match version() {
        Some(v) => node_dir().with_file_name(format!("node-{v}")),
        None => node_dir(),
    }
}

/// Installs the locked Node packages once per test binary, if they are missing.
pub fn ensure_installed() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = packages_dir();
        assert!(
            dir.join("package-lock.json").is_file(),
            "no pinned Node packages in {} (TP_BULLMQ_NODE={:?})",
            dir.display(),
            version()
        );
        if dir.join("node_modules/bullmq/package.json").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm is installed");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    });
}

/// `node <helper script>` with the bullmq under test.
pub fn node_command(script: &str) -> Command {
    ensure_installed();
    let mut c = Command::new("node");
    c.arg(node_dir().join(script)).current_dir(node_dir());
    if version().is_some() {
        c.env("BULLMQ_MODULE", packages_dir().join("node_modules/bullmq"));
    }
    c
}

/// Runs a helper script and returns its stdout lines parsed as JSON.
pub fn node_lines(script: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let out = node_command(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("node is installed");
    assert!(
        out.status.success() || script == "consume.cjs",
        "node {script} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs a helper script and returns its last stdout line as JSON (null if none).
pub fn node_last(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    node_lines(script, args, env).pop().unwrap_or(Value::Null)
}

/// A Node worker that takes one job of `queue` and sits on it for a minute with a 1 s lock,
/// its stalled checker running every 300 ms: the worker a test kills with SIGKILL mid-job.
pub fn node_worker_sitting_on_a_job(url: &str, queue: &str) -> std::process::Child {
    node_command("consume.cjs")
        .args([url, queue, "1", "60000"])
        .env("SLEEP_MS", "60000")
        .env("LOCK_MS", "1000")
        .env("STALLED_MS", "300")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("node worker")
}
