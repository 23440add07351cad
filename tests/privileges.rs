//! Least privilege, as root (CI runs as root; elsewhere the tests that need it say so and
//! stop): apps run as their own user with their groups, umask, limits and no_new_privileges,
//! seen in /proc; they cannot read the keeper's directory; another user's tpctl is told whose
//! apps these are, by the run directory's owner and by the keeper itself (SO_PEERCRED); an
//! env_file others can read fails doctor; the systemd unit runs as root only for apps that need
//! another user and passes `systemd-analyze verify`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// Users are made and switched to as root only; elsewhere the test says so and stops.
fn skip_without_root() -> bool {
    let root = unsafe { libc::geteuid() == 0 };
    if !root {
        eprintln!("needs root (CI runs as root): skipped");
    }
    !root
}

/// A throw-away user (and a group it is a member of), removed when dropped.
struct User {
    name: String,
    group: String,
    uid: u32,
    gid: u32,
}

impl User {
    fn new(tag: &str) -> User {
        let name = format!("tpt{}{tag}", std::process::id());
        let group = format!("{name}g");
        // Other tests add users at the same moment: the shadow tools' lock is retried.
        let run = |args: &[&str]| {
            wait_until(Duration::from_secs(30), || {
                let out = Command::new(args[0])
                    .args(&args[1..])
                    .output()
                    .expect("run");
                if out.status.success() {
                    Ok(())
                } else {
                    Err(text(&out.stderr))
                }
            })
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        };
        run(&["groupadd", "--system", &group]);
        run(&[
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            &format!("/nonexistent/{name}"),
            "--groups",
            &group,
            &name,
        ]);
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("id");
            text(&out.stdout).trim().parse().expect("a number")
        };
        let gid = Command::new("getent")
            .args(["group", &group])
            .output()
            .map(|o| text(&o.stdout))
            .ok()
            .and_then(|l| l.split(':').nth(2).and_then(|g| g.trim().parse().ok()))
            .expect("the group's gid");
        User {
            uid: id("-u"),
            gid,
            name: name.clone(),
            group,
        }
    }

    /// tpctl run as this user, from `/` (the test directory is private to root).
    fn tpctl(&self, t: &TempHome, args: &[&str]) -> Output {
        let mut c = t.cmd(args);
        c.current_dir("/")
            .env("HOME", "/")
            .uid(self.uid)
            .gid(self.primary_gid());
        output_within(&mut c, Duration::from_secs(30))
    }

    fn primary_gid(&self) -> u32 {
        let out = Command::new("id")
            .args(["-g", &self.name])
            .output()
            .expect("id");
        text(&out.stdout).trim().parse().expect("a number")
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for args in [
            vec!["userdel", self.name.as_str()],
            vec!["groupdel", self.group.as_str()],
        ] {
            let _ = wait_until(Duration::from_secs(30), || {
                let ok = Command::new(args[0])
                    .args(&args[1..])
                    .output()
                    .is_ok_and(|o| o.status.success() || o.status.code() == Some(6));
                if ok { Ok(()) } else { Err(()) }
            });
        }
    }
}

fn proc_field(pid: i64, file: &str, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_string())
        .unwrap_or_default()
}

#[test]
fn an_app_runs_as_its_user_with_its_groups_umask_limits_and_no_new_privileges() {
    if skip_without_root() {
        return;
    }
    let u = User::new("a");
    let t = TempHome::new();
    let logs = t.home().join("apps");
    let env = t.write(".env", "SMTP_PASSWORD=hunter2\n");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    t.write(
        "eco.toml",
        &format!(
            r#"
[[apps]]
name = "worker"
script = "/bin/sleep"
args = ["1000"]
cwd = "/"
user = "{user}"
umask = "0027"
limit_nofile = 4321
limit_core = "0:unlimited"
env_file = ".env"
health = {{ exec = ["/bin/sh", "-c", "test $(id -u) -eq {uid} && test $(umask) = 0027"], every = "1s", timeout = "900ms", grace = "0s" }}

[[apps]]
name = "peek"
script = "/bin/sh"
args = ["-c", "ls {logs} || echo DENIED; echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME; exec sleep 1000"]
cwd = "/"
user = {uid}
no_new_privileges = false
"#,
            user = u.name,
            uid = u.uid,
            logs = logs.display(),
        ),
    );
    t.ok(&["start", "eco.toml"]);
    let pid = t.app("worker")["pid"].as_i64().expect("worker runs");
    let uid = u.uid.to_string();
    assert_eq!(
        proc_field(pid, "status", "Uid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec![uid.as_str(); 4],
        "real, effective, saved and filesystem uid"
    );
    let groups = proc_field(pid, "status", "Groups:");
    assert!(
        groups.split_whitespace().any(|g| g == u.gid.to_string()),
        "the user's supplementary group {} in {groups:?}",
        u.gid
    );
    assert!(
        !groups.split_whitespace().any(|g| g == "0"),
        "root's group is gone: {groups:?}"
    );
    assert_eq!(proc_field(pid, "status", "NoNewPrivs:"), "1");
    assert_eq!(proc_field(pid, "status", "Umask:"), "0027");
    let nofile = proc_field(pid, "limits", "Max open files");
    assert!(
        nofile.starts_with("4321") && nofile.contains("4321 "),
        "{nofile}"
    );
    let core = proc_field(pid, "limits", "Max core file size");
    assert!(
        core.starts_with("0") && core.contains("unlimited"),
        "{core}"
    );

    // The app cannot look into the keeper's directory; its HOME and names are its user's.
    let peek = t.app("peek")["pid"].as_i64().expect("peek runs");
    assert_eq!(proc_field(peek, "status", "NoNewPrivs:"), "0");
    let out = t.home().join("apps/peek/logs/out.log");
    let err = t.home().join("apps/peek/logs/err.log");
    wait_for("peek's output", Duration::from_secs(20), || {
        lines(&out).iter().any(|l| l.starts_with("HOME="))
    });
    assert!(
        lines(&out).iter().any(|l| l == "DENIED"),
        "{:?}",
        lines(&out)
    );
    assert!(
        lines(&err).iter().any(|l| l.contains("Permission denied")),
        "{:?}",
        lines(&err)
    );
    assert!(
        lines(&out).contains(&format!(
            "HOME=/nonexistent/{n} USER={n} LOGNAME={n}",
            n = u.name
        )),
        "{:?}",
        lines(&out)
    );
    let mode = std::fs::metadata(t.home().join("apps/peek"))
        .expect("run directory")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // The exec check runs as the app's user, with its umask.
    wait_for(
        "the exec check as the app's user",
        Duration::from_secs(20),
        || t.app("worker")["health"] == "healthy",
    );
    // Secrets stay redacted beside the new keys: describe --json, status --json, the dump.
    let json = t.ok(&["describe", "worker", "--json"]);
    assert!(
        !json.contains("hunter2") && json.contains("<redacted>"),
        "{json}"
    );
    let d: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(d[0]["privileges"]["account"]["user"], u.name.as_str());
    assert!(!t.ok(&["status", "--json"]).contains("hunter2"));
    t.ok(&["save"]);
    let dump = std::fs::read_to_string(t.home().join("dump.toml")).expect("dump.toml");
    assert!(!dump.contains("hunter2"), "{dump}");
    let describe = t.ok(&["describe", "worker"]);
    assert!(
        describe.contains(&format!("{} (uid {})", u.name, u.uid))
            && describe.contains("limit_nofile = 4321"),
        "{describe}"
    );
    t.finish();
}

#[test]
fn unknown_users_and_groups_and_a_group_without_a_user_are_located_errors() {
    let t = TempHome::new();
    t.write(
        "eco.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\nuser = \"no-such-user-tpctl\"\n\n[[apps]]\nname = \"b\"\nscript = \"/bin/sleep\"\ngroup = \"daemon\"\n\n[[apps]]\nname = \"c\"\nscript = \"/bin/sleep\"\numask = \"0999\"\nlimit_nofile = \"lots\"\n",
    );
    let out = t.run(&["start", "eco.toml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for (line, says) in [
        (4, "unknown user \"no-such-user-tpctl\""),
        (9, "`group` needs `user`"),
        (14, "`umask` must be octal"),
        (15, "`limit_nofile` must be a number"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("eco.toml:{line}:")) && l.contains(says)),
            "line {line}: {says}\n{err}"
        );
    }
    assert!(t.status().is_empty(), "nothing started");
    t.finish();
}

#[test]
fn another_users_tpctl_is_told_whose_apps_these_are() {
    if skip_without_root() {
        return;
    }
    let u = User::new("b");
    let t = TempHome::new();
    t.write(
        "eco.toml",
        "[[apps]]\nname = \"idle\"\nscript = \"/bin/sleep\"\nargs = [\"1000\"]\ncwd = \"/\"\n",
    );
    t.ok(&["start", "eco.toml"]);
    // The test directory itself must let the user reach the run directory at all.
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // The run directory is root's and private: refused before any socket is tried.
    let out = u.tpctl(&t, &["status"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the apps under TPCTL_HOME {} belong to user root",
            t.home().display()
        )),
        "{err}"
    );

    // Someone loosened every mode and handed the directories over: the keeper itself refuses.
    let app = t.home().join("apps/idle");
    for d in [t.home(), t.home().join("apps"), app.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(
        app.join("control.sock"),
        std::fs::Permissions::from_mode(0o666),
    )
    .expect("chmod socket");
    for d in [t.home(), t.home().join("apps")] {
        std::os::unix::fs::chown(&d, Some(u.uid), None).expect("chown");
    }
    let out = u.tpctl(&t, &["describe", "idle"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("belong to user root"), "{err}");
    let out = u.tpctl(&t, &["stop", "idle"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("belong to user root"));
    assert_eq!(
        t.app("idle")["status"],
        "online",
        "the refused stop did nothing"
    );

    // Back to root: the next start puts the modes back (the socket is the keeper's, 0600).
    for d in [t.home(), t.home().join("apps")] {
        std::os::unix::fs::chown(&d, Some(0), None).expect("chown");
    }
    t.ok(&["start", "eco.toml"]);
    for d in [t.home(), t.home().join("apps")] {
        let mode = std::fs::metadata(&d).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", d.display());
    }
    t.finish();
}

#[test]
fn naming_another_user_while_not_root_is_a_configuration_error() {
    if skip_without_root() {
        return;
    }
    let u = User::new("d");
    let t = TempHome::new();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let eco = t.write(
        "eco.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\ncwd = \"/\"\nuser = \"root\"\n",
    );
    std::fs::set_permissions(&eco, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // The user's own run directory.
    let home = t.path().join("user-home");
    std::fs::create_dir(&home).expect("mkdir");
    std::os::unix::fs::chown(&home, Some(u.uid), None).expect("chown");
    let mut c = Command::new(BIN);
    c.args(["start", &eco.display().to_string()])
        .current_dir("/")
        .env("TPCTL_HOME", &home)
        .env("HOME", "/")
        .uid(u.uid)
        .gid(u.primary_gid());
    let out = output_within(&mut c, Duration::from_secs(30));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("eco.toml:5:")
            && err.contains("needs tpctl to run as root")
            && err.contains(&format!("it runs as {}", u.name)),
        "{err}"
    );
    t.finish();
}

#[test]
fn doctor_fails_an_env_file_others_can_read_and_warns_of_secrets_in_the_file() {
    let t = TempHome::new();
    let env = t.write(".env", "API_TOKEN=abc\n");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    t.write(
        "eco.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\nenv_file = \".env\"\nenv = { SMTP_PASSWORD = \"hunter2\" }\n",
    );
    let out = t.run(&["doctor", "eco.toml", "--json"]);
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let secrets: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["check"] == "secrets").collect();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        secrets.iter().any(|l| l["verdict"] == "fail"
            && l["detail"]
                .as_str()
                .is_some_and(|d| d.contains("every user") && d.contains("chmod 600"))),
        "{secrets:?}"
    );
    assert!(
        secrets.iter().any(|l| l["verdict"] == "warn"
            && l["detail"]
                .as_str()
                .is_some_and(|d| d.contains("SMTP_PASSWORD") && !d.contains("hunter2"))),
        "{secrets:?}"
    );
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = t.run(&["doctor", "eco.toml", "--json"]);
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        !lines
            .iter()
            .any(|l| l["check"] == "secrets" && l["verdict"] == "fail"),
        "{lines:?}"
    );
    t.finish();
}

#[test]
fn the_systemd_unit_runs_as_root_only_for_apps_that_need_another_user_and_verifies() {
    if skip_without_root() {
        return;
    }
    let u = User::new("c");
    let t = TempHome::new();
    let unit = |args: &[&str]| -> String {
        let mut all = vec!["startup", "systemd", "--print"];
        all.extend_from_slice(args);
        let mut c = t.cmd(&all);
        c.env("TPCTL_STARTUP_ROOT", t.path());
        let out = output_within(&mut c, Duration::from_secs(30));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    // Nothing saved there needs another user: the unit runs as the user it is asked for.
    let plain = unit(&["--run-as", &u.name, "--tpctl-home", "/srv/tpctl"]);
    assert!(plain.contains(&format!("User={}\n", u.name)), "{plain}");
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=full",
        "PrivateTmp=yes",
        "ProtectHome=read-only",
        "RestrictSUIDSGID=yes",
    ] {
        assert!(plain.lines().any(|l| l == line), "{line} in\n{plain}");
    }

    t.write(
        "user.toml",
        &format!(
            "[[apps]]\nname = \"switched\"\nscript = \"/bin/sleep\"\nargs = [\"1000\"]\ncwd = \"/\"\nuser = \"{}\"\n",
            u.name
        ),
    );
    t.ok(&["start", "user.toml"]);
    t.ok(&["save"]);
    let home = t.home().display().to_string();
    let mut c = t.cmd(&[
        "startup",
        "systemd",
        "--print",
        "--run-as",
        &u.name,
        "--tpctl-home",
        &home,
    ]);
    c.env("TPCTL_STARTUP_ROOT", t.path());
    let out = output_within(&mut c, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("switched run as other users"),
        "{}",
        text(&out.stderr)
    );
    let rooted = unit(&[]);
    assert!(rooted.contains("User=root\n"), "{rooted}");

    if let Ok(status) = Command::new("systemd-analyze").arg("--version").status()
        && status.success()
    {
        let file = t.write("tpctl.service", &rooted);
        let out = Command::new("systemd-analyze")
            .args(["verify", &file.display().to_string()])
            .output()
            .expect("systemd-analyze");
        let err = text(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "{err}");
    } else {
        panic!("systemd-analyze is missing: apt-get install systemd (.ci/run installs it)");
    }
    t.finish();
}
