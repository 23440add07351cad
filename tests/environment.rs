//! What an app runs with does not depend on who typed the command: the environment of its
//! first start is recorded and reused by restart, reload and resurrect from any shell, until
//! `--update-env`; doctor, save and `startup --check` fail when a boot would lack a variable.

mod common;

use std::process::{Command, Output};

use common::*;

/// An app that consumes a queue (so it needs VALKEY_URL and DATABASE_URL); its file sets only
/// DATABASE_URL, the shell gives VALKEY_URL.
fn worker_file(t: &TempHome) {
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"worker\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nqueue = \"emails-test\"\nenv = { DATABASE_URL = \"postgres://127.0.0.1:5432/tp\" }\n",
    );
}

/// tpctl run from a bare shell (`env -i`) but for TPCTL_HOME and any `vars` given.
fn bare(t: &TempHome, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c: Command = t.cmd(args);
    c.env_clear()
        .env("TPCTL_HOME", t.home())
        .env("NO_COLOR", "1");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().expect("run tpctl")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The value of `var` in the running app's environment.
fn app_var(t: &TempHome, id: &str, var: &str) -> Option<String> {
    let pid = t.app(id)["pid"].as_i64()?;
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{var}=");
    env.split(|b| *b == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn restart_and_resurrect_from_a_bare_shell_keep_the_first_start_environment() {
    let t = TempHome::new();
    worker_file(&t);
    let first = [
        ("VALKEY_URL", "redis://first:6379"),
        ("PATH", "/usr/bin:/bin"),
    ];
    ok(bare(&t, &["start"], &first), "start");
    assert_eq!(
        app_var(&t, "worker", "VALKEY_URL").as_deref(),
        Some("redis://first:6379")
    );

    // Another shell, with nothing in it: the recorded environment is kept.
    ok(bare(&t, &["restart", "worker"], &[]), "restart");
    assert_eq!(
        app_var(&t, "worker", "VALKEY_URL").as_deref(),
        Some("redis://first:6379")
    );
    ok(bare(&t, &["reload", "worker"], &[]), "reload");
    assert_eq!(
        app_var(&t, "worker", "VALKEY_URL").as_deref(),
        Some("redis://first:6379")
    );

    // save, kill, and resurrect as a boot does: from a bare environment.
    ok(bare(&t, &["save"], &[]), "save");
    let dump = std::fs::read_to_string(t.home().join("dump.toml")).expect("dump");
    assert!(
        !dump.contains("redis://first"),
        "the recorded environment stays out of dump.toml:\n{dump}"
    );
    let env_dump = t.home().join("dump-env.toml");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&env_dump)
            .expect("dump-env.toml")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "dump-env.toml is private");
    ok(bare(&t, &["kill"], &[]), "kill");
    let out = ok(bare(&t, &["resurrect"], &[]), "resurrect");
    assert!(out.contains("worker"), "{out}");
    assert_eq!(
        app_var(&t, "worker", "VALKEY_URL").as_deref(),
        Some("redis://first:6379")
    );

    // --update-env takes this shell's environment and says what changed (names, not values).
    let out = ok(
        bare(
            &t,
            &["restart", "worker", "--update-env"],
            &[
                ("VALKEY_URL", "redis://second:6379"),
                ("EXTRA_SETTING", "1"),
            ],
        ),
        "restart --update-env",
    );
    assert!(
        out.contains("worker: environment updated from this shell")
            && out.contains("added EXTRA_SETTING")
            && out.contains("changed VALKEY_URL")
            && out.contains("removed PATH")
            && !out.contains("redis://second"),
        "{out}"
    );
    assert_eq!(
        app_var(&t, "worker", "VALKEY_URL").as_deref(),
        Some("redis://second:6379")
    );
    // ... and it is what the next restart from a bare shell keeps.
    ok(bare(&t, &["restart", "worker"], &[]), "restart");
    assert_eq!(
        app_var(&t, "worker", "VALKEY_URL").as_deref(),
        Some("redis://second:6379")
    );
    t.finish();
}

#[test]
fn doctor_save_and_startup_check_fail_when_a_boot_would_lack_a_variable() {
    let t = TempHome::new();
    worker_file(&t);
    let shell = [
        ("VALKEY_URL", "redis://127.0.0.1:1"),
        ("PATH", "/usr/bin:/bin"),
    ];

    // Never started: VALKEY_URL is only in this shell, so a boot would not have it.
    let out = bare(&t, &["doctor", "--json"], &shell);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let env: Vec<&serde_json::Value> = lines.iter().filter(|l| l["check"] == "env").collect();
    assert!(
        env.iter().any(|l| l["verdict"] == "fail"
            && l["detail"].as_str().is_some_and(|d| d
                .contains("worker: VALKEY_URL would be missing at boot")
                && d.contains("env_file"))),
        "{env:?}"
    );

    // Started from a shell without it: save refuses, naming it, and writes nothing.
    ok(bare(&t, &["start"], &[("PATH", "/usr/bin:/bin")]), "start");
    let out = bare(&t, &["save"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("worker: VALKEY_URL would be missing at boot")
            && err.contains("nothing saved"),
        "{err}"
    );
    assert!(!t.home().join("dump.toml").exists());

    // Forced, the boot check names it too.
    ok(bare(&t, &["save", "--force"], &[]), "save --force");
    let root = t.path().join("root");
    let check = bare(&t, &["startup", "systemd", "--check"], &[])
        .status
        .code();
    assert_eq!(check, Some(1));
    let out = t
        .cmd(&["startup", "systemd", "--check"])
        .env_remove("VALKEY_URL")
        .env("TPCTL_STARTUP_ROOT", &root)
        .output()
        .expect("check");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("✗ worker: VALKEY_URL would be missing at boot"),
        "{stdout}"
    );

    // Recorded by --update-env from a shell that has it: save passes and so does the check's
    // line, and doctor no longer flags it.
    ok(
        bare(&t, &["restart", "worker", "--update-env"], &shell),
        "restart --update-env",
    );
    ok(bare(&t, &["save"], &[]), "save");
    let out = t
        .cmd(&["startup", "systemd", "--check"])
        .env("TPCTL_STARTUP_ROOT", &root)
        .output()
        .expect("check");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("✓ every saved app has the variables it needs at boot"),
        "{stdout}"
    );
    let out = bare(&t, &["doctor", "--json"], &shell);
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        !lines
            .iter()
            .any(|l| l["check"] == "env" && l["verdict"] == "fail"),
        "{lines:?}"
    );
    t.finish();
}
