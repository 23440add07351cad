//! save, resurrect and the boot integration, against real processes.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

fn three_apps(t: &TempHome) {
    let journal = t.path().join("journal.txt");
    t.write(".env", "EMAIL_SERVER_PASSWORD=hunter2\n");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"web\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv_file = \".env\"\nafter = \"scheduler\"\n\n\
             [[apps]]\nname = \"idle\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\n\
             [[apps]]\nname = \"scheduler\"\nscript = \"{}\"\nautorestart = false\nenv = {{ MARK = \"scheduler\", JOURNAL = \"{}\" }}\n",
            fixture("marker.sh"),
            journal.display()
        ),
    );
}

fn statuses(t: &TempHome) -> BTreeMap<String, String> {
    t.status()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("").to_string(),
                a["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn sleepers(t: &TempHome, id: &str) -> usize {
    processes_with_env(&format!("TPCTL_APP_ID={id}"))
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/environ")).is_ok_and(|e| {
                e.split(|b| *b == 0)
                    .any(|v| v == format!("TPCTL_HOME={}", t.home().display()).as_bytes())
            })
        })
        .count()
}

#[test]
fn save_and_resurrect_bring_back_running_and_stopped_apps_once() {
    let t = TempHome::new();
    three_apps(&t);
    t.ok(&["start"]);
    t.ok(&["stop", "idle"]);
    let out = t.ok(&["save"]);
    assert!(
        out.contains("✓ idle: keep stopped") && out.contains("✓ web: start"),
        "{out}"
    );
    t.ok(&["kill"]);
    let out = t.ok(&["resurrect"]);
    assert!(out.contains("✓ idle: stopped (as saved)"), "{out}");
    let want = BTreeMap::from([
        ("idle".to_string(), "stopped".to_string()),
        ("scheduler".into(), "completed".into()),
        ("web".into(), "online".into()),
    ]);
    assert_eq!(statuses(&t), want);
    // A second resurrect changes nothing: no second web, the scheduler does not run again.
    let journal = t.path().join("journal.txt");
    let runs = lines(&journal).len();
    let out = t.ok(&["resurrect"]);
    assert!(
        out.contains("already running") && out.contains("completed since boot"),
        "{out}"
    );
    assert_eq!(sleepers(&t, "web"), 1);
    assert_eq!(lines(&journal).len(), runs);
    assert_eq!(statuses(&t), want);
    t.finish();
}

#[test]
fn secrets_stay_out_of_the_dump_and_every_output() {
    let t = TempHome::new();
    three_apps(&t);
    let mut outputs = vec![
        t.ok(&["start"]),
        t.ok(&["save"]),
        t.ok(&["status", "--json"]),
        t.ok(&["describe", "web", "--json"]),
        t.ok(&["describe", "web"]),
    ];
    t.ok(&["kill"]);
    outputs.push(t.ok(&["resurrect"]));
    let dump = std::fs::read_to_string(t.home().join("dump.toml")).expect("dump");
    assert!(!dump.contains("hunter2"), "secret in dump.toml:\n{dump}");
    assert!(
        dump.contains(".env"),
        "the dump refers to the env file:\n{dump}"
    );
    for o in &outputs {
        assert!(!o.contains("hunter2"), "secret printed:\n{o}");
    }
    // The resurrected app still gets the secret, read again from the env file.
    let pid = t.app("web")["pid"].as_i64().expect("pid");
    let env = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(
        env.split(|b| *b == 0)
            .any(|v| v == b"EMAIL_SERVER_PASSWORD=hunter2")
    );

    // A secret written straight into an env table is refused, and nothing is overwritten.
    t.write("secret.toml", "[[apps]]\nname = \"leaky\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv = { API_TOKEN = \"tok-123\" }\n");
    t.ok(&["start", "secret.toml"]);
    let out = t.run(&["save"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("API_TOKEN") && err.contains("env_file") && !err.contains("tok-123"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(t.home().join("dump.toml")).expect("dump"),
        dump,
        "a refused save must not touch the dump"
    );
    t.finish();
}

#[test]
fn a_save_killed_at_any_moment_never_leaves_a_truncated_dump() {
    let t = TempHome::new();
    let apps: String = (0..40).map(|i| format!("[[apps]]\nname = \"a{i}\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv = {{ PAD = \"{}\" }}\n\n", "p".repeat(200))).collect();
    t.write("ecosystem.toml", &apps);
    t.ok(&["start"]);
    t.ok(&["save"]);
    for i in 0..100u64 {
        let mut child = t
            .cmd(&["save"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("save");
        std::thread::sleep(Duration::from_micros(500 * (i % 10)));
        let _ = child.kill();
        let _ = child.wait();
        for name in ["dump.toml", "dump.toml.bak"] {
            let path = t.home().join(name);
            if let Ok(text) = std::fs::read_to_string(&path) {
                let parsed: toml::Table = toml::from_str(&text).unwrap_or_else(|e| {
                    panic!("{name} corrupt after a killed save (round {i}): {e}")
                });
                assert_eq!(
                    parsed["apps"].as_array().map(Vec::len),
                    Some(40),
                    "{name} incomplete"
                );
            }
        }
    }
    t.finish();
}

#[test]
fn a_corrupt_dump_is_replaced_by_the_backup_with_a_warning() {
    let t = TempHome::new();
    three_apps(&t);
    t.ok(&["start"]);
    t.ok(&["save"]);
    t.ok(&["save"]);
    t.ok(&["kill"]);
    std::fs::write(t.home().join("dump.toml"), "format = 1\n[[apps]\n").expect("corrupt");
    let out = t.run(&["resurrect"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("dump.toml") && err.contains("dump.toml.bak"),
        "{err}"
    );
    assert_eq!(t.app("web")["status"], "online");
    t.finish();
}

/// Reads `Environment=` and `ExecStart=` of the installed systemd unit.
fn unit_command(unit: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = BTreeMap::new();
    let mut exec = Vec::new();
    for line in unit.lines() {
        if let Some(kv) = line.strip_prefix("Environment=") {
            let kv = kv.trim_matches('"');
            let (k, v) = kv.split_once('=').expect("KEY=value");
            env.insert(k.to_string(), v.to_string());
        } else if let Some(cmd) = line.strip_prefix("ExecStart=") {
            exec = cmd.split_whitespace().map(str::to_string).collect();
        }
    }
    (env, exec)
}

#[test]
fn a_simulated_reboot_runs_the_unit_command_and_gets_the_same_set_back() {
    let t = TempHome::new();
    three_apps(&t);
    t.ok(&["start"]);
    t.ok(&["stop", "idle"]);
    t.ok(&["save"]);
    let root = t.path().join("root");
    let out = t
        .cmd(&["startup", "systemd", "--install"])
        .env("TPCTL_STARTUP_ROOT", &root)
        .output()
        .expect("install");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = statuses(&t);

    // The machine goes down hard: every keeper is SIGKILLed, and their apps die with them.
    for pid in t.live_processes() {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "tpctl") {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    wait_for("everything gone", LONG, || t.live_processes().is_empty());

    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/tpctl.service")).expect("unit");
    let (env, exec) = unit_command(&unit);
    assert_eq!(env["TPCTL_HOME"], t.home().display().to_string());
    let out = Command::new(&exec[0])
        .args(&exec[1..])
        .env_clear()
        .envs(&env)
        .current_dir("/")
        .output()
        .expect("ExecStart");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(statuses(&t), before);
    assert_eq!(sleepers(&t, "web"), 1);
    t.finish();
}

#[test]
fn startup_check_passes_on_a_good_setup_and_names_what_is_wrong_on_a_broken_one() {
    let t = TempHome::new();
    three_apps(&t);
    t.ok(&["start"]);
    t.ok(&["save"]);
    let root = t.path().join("root");
    let check = || {
        t.cmd(&["startup", "systemd", "--check"])
            .env("TPCTL_STARTUP_ROOT", &root)
            .output()
            .expect("check")
    };
    let out = check();
    assert_eq!(out.status.code(), Some(1), "nothing installed yet");
    assert!(
        text(&out.stdout).contains("✗ no systemd unit at"),
        "{}",
        text(&out.stdout)
    );

    let out = t
        .cmd(&["startup", "systemd", "--install"])
        .env("TPCTL_STARTUP_ROOT", &root)
        .output()
        .expect("install");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = check();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");

    // Broken: disabled, and an app stopped since the save.
    std::fs::remove_file(root.join("etc/systemd/system/multi-user.target.wants/tpctl.service"))
        .expect("disable");
    t.ok(&["stop", "web"]);
    let out = check();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("✗ not enabled at boot"), "{stdout}");
    assert!(
        stdout.contains("web is saved to start but is stopped now"),
        "{stdout}"
    );

    let out = t
        .cmd(&["unstartup", "systemd"])
        .env("TPCTL_STARTUP_ROOT", &root)
        .output()
        .expect("unstartup");
    assert!(out.status.success());
    assert!(!root.join("etc/systemd/system/tpctl.service").exists());
    t.finish();
}

#[test]
fn the_generated_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("systemd-analyze not installed: nothing to verify");
        return;
    };
    let t = TempHome::new();
    let unit = t.ok(&["startup", "systemd", "--print"]);
    let path = t.write("tpctl.service", &unit);
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
