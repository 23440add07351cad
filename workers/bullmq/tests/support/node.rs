//! Running the Node bullmq 5.67.2 helpers of tests/interop/node. The pinned packages are
//! installed with `npm ci` on first use (CI does it up front), so `cargo test` alone works.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use serde_json::Value;

pub fn node_dir() -> PathBuf {
    // This file is shared by tp-bullmq's tests and the root package's tests, whose
    // manifest directories differ; the Node project lives beside tp-bullmq.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("tests/interop/node");
    if own.join("package.json").is_file() {
        own
    } else {
        manifest.join("workers/bullmq/tests/interop/node")
    }
}

/// Installs the locked Node packages once per test binary, if they are missing.
pub fn ensure_installed() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if node_dir().join("node_modules/bullmq/package.json").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(node_dir())
            .status()
            .expect("npm is installed");
        assert!(
            status.success(),
            "npm ci in {} failed",
            node_dir().display()
        );
    });
}

/// Runs a helper script and returns its stdout lines parsed as JSON.
pub fn node_lines(script: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    ensure_installed();
    let out = Command::new("node")
        .arg(node_dir().join(script))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(node_dir())
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
