//! `tpctl monit` in a real terminal: tmux runs it against a running ecosystem and a private
//! redis-server holding jobs; the test reads the screen, presses keys and checks their effect
//! on the apps and the queue, Valkey going away and coming back, and that the terminal is
//! restored on quit and when the terminal hangs up.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

const PATIENCE: Duration = Duration::from_secs(30);

/// A private tmux server (its own socket) with one window running a command.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(t: &TempHome, server: &RedisServer, command: &str) -> Tmux {
        let socket = t.path().join("tmux.sock");
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "40",
            ])
            .arg(command)
            .current_dir(t.path())
            .env("TPCTL_HOME", t.home())
            .env("VALKEY_URL", server.url())
            .env("TERM", "xterm-256color")
            .env_remove("TMUX")
            .env_remove("NO_COLOR")
            .status()
            .expect("tmux (install it: apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        text(&out.stdout)
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", keys]);
    }

    /// Waits until the screen shows `what`; the screen is in the panic message otherwise.
    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let r = wait_until(PATIENCE, || {
            let s = self.screen();
            if cond(&s) { Ok(s) } else { Err(s) }
        });
        r.unwrap_or_else(|s| panic!("timed out waiting for {what}; screen:\n{s}"))
    }

    fn kill(&self) {
        self.tmux(&["kill-server"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The row of the screen that mentions `name`.
/// After monit exits (its screen `s` ends with `stty`'s report): cooked mode again (icanon,
/// not -icanon), the main screen and a visible cursor.
fn assert_terminal_restored(tmux: &Tmux, s: &str) {
    assert!(
        s.lines().any(|l| l.trim() == "icanon"),
        "terminal left in raw mode:\n{s}"
    );
    assert_eq!(
        tmux.tmux(&["display", "-p", "#{alternate_on} #{cursor_flag}"])
            .trim(),
        "0 1"
    );
}

fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_default()
}

fn pid_of(t: &TempHome, id: &str) -> Option<u64> {
    t.app(id)["pid"].as_u64()
}

fn ecosystem(t: &TempHome) {
    t.write(
        "ecosystem.toml",
        r#"
[[apps]]
name = "email-worker"
script = "/bin/sh"
args = ["-c", "while true; do echo sending mail; sleep 0.3; done"]
queue = "emails"
concurrency = 3

[[apps]]
name = "forecast-worker"
script = "/bin/sh"
args = ["-c", "while true; do echo forecast >&2; sleep 0.3; done"]
queue = "forecast-updates"
"#,
    );
}

fn queue_json(t: &TempHome, server: &RedisServer, name: &str) -> serde_json::Value {
    let out = t
        .cmd(&["queues", "--json"])
        .env("VALKEY_URL", server.url())
        .output()
        .expect("tpctl queues");
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("queues --json is JSON");
    all.into_iter()
        .find(|q| q["queue"] == name)
        .unwrap_or_else(|| panic!("no queue {name}"))
}

#[test]
fn monit_shows_apps_and_queues_and_acts_on_keys() {
    let mut server = RedisServer::start();
    let t = TempHome::new();
    ecosystem(&t);
    t.ok(&["start"]);
    for n in 0..3 {
        let out = t
            .cmd(&[
                "queue",
                "emails",
                "add",
                "send",
                "--data",
                &format!("{{\"n\":{n}}}"),
            ])
            .env("VALKEY_URL", server.url())
            .output()
            .expect("queue add");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let tmux = Tmux::start(
        &t,
        &server,
        &format!(
            "{} monit; echo MONIT-EXIT=$?; stty -a | grep -o -- '-*icanon'; sleep 600",
            BIN
        ),
    );

    // Both apps with their queues: three emails waiting and nobody to take them.
    let s = tmux.wait_for("the dashboard with queue figures", |s| {
        row(s, "▶ email-worker").contains("online")
            && row(s, "emails ").contains("no worker connected")
    });
    let emails = row(&s, "▶ email-worker").to_string();
    let figures: Vec<&str> = emails.split_whitespace().collect();
    assert!(figures.contains(&"3"), "waiting count missing: {emails}");
    // The selected app's log, live.
    tmux.wait_for("the email worker's log", |s| s.contains("sending mail"));

    // 80×24: help and quit stay in the footer, the queue note keeps its important half.
    tmux.tmux(&["resize-window", "-x", "80", "-y", "24"]);
    tmux.wait_for("the 80×24 layout", |s| {
        s.lines().count() <= 24
            && s.contains("? help · q quit")
            && row(s, "emails ").contains("no worker connected")
            && row(s, "▶ email-worker").contains("online")
    });
    // 200 columns: the log goes beside the queues and the history columns widen.
    tmux.tmux(&["resize-window", "-x", "200", "-y", "50"]);
    let s = tmux.wait_for("the wide layout", |s| {
        let header = row(s, "┌ Queues");
        header.contains("Log · email-worker") && row(s, "emails ").contains("sending mail")
    });
    let header = row(&s, "│app");
    let hist = header.find("cpu hist").expect("cpu hist column");
    let mem = header.find("mem hist").expect("mem hist column");
    assert!(
        header[hist..mem].chars().count() > 30,
        "history columns not widened:\n{s}"
    );
    tmux.tmux(&["resize-window", "-x", "160", "-y", "40"]);

    // r asks, n cancels, r + y restarts.
    let before = pid_of(&t, "email-worker").expect("email-worker runs");
    tmux.keys("r");
    tmux.wait_for("the restart question", |s| {
        s.contains("Really restart email-worker? y confirms")
    });
    tmux.keys("n");
    tmux.wait_for("the cancellation", |s| {
        s.contains("not done: restart email-worker")
    });
    assert_eq!(pid_of(&t, "email-worker"), Some(before));
    tmux.keys("r");
    tmux.wait_for("the restart question", |s| s.contains("Really restart"));
    tmux.keys("y");
    tmux.wait_for("the restart to be done", |s| {
        s.contains("done: restart email-worker")
    });
    wait_for("a new email-worker process", PATIENCE, || {
        pid_of(&t, "email-worker").is_some_and(|p| p != before)
    });
    let after = pid_of(&t, "email-worker")
        .expect("email-worker runs")
        .to_string();
    tmux.wait_for("the new pid on screen", |s| {
        row(s, "▶ email-worker")
            .split_whitespace()
            .any(|f| f == after)
    });

    // p pauses the selected app's queue, after a question.
    tmux.keys("p");
    tmux.wait_for("the pause question", |s| {
        s.contains("Really pause queue emails?")
    });
    tmux.keys("y");
    wait_for("the emails queue paused", PATIENCE, || {
        queue_json(&t, &server, "emails")["status"] == "paused"
    });
    tmux.wait_for("the paused queue", |s| row(s, "emails ").contains("paused"));

    // The second app, and its stderr log.
    tmux.keys("j");
    tmux.wait_for("forecast-worker selected", |s| {
        row(s, "▶ forecast-worker").contains("online") && s.contains("Log · forecast-worker")
    });
    tmux.wait_for("the forecast worker's stderr", |s| s.contains("forecast"));

    // Valkey goes away: the queue part says so, the processes stay live; it comes back.
    server.stop();
    tmux.wait_for("Valkey reported down", |s| {
        s.contains("DOWN")
            && s.contains("unreachable")
            && row(s, "forecast-worker").contains("online")
    });
    server.restart();
    tmux.wait_for("Valkey back", |s| {
        !s.contains("DOWN") && row(s, "emails ").contains("idle")
    });

    // Jobs per minute come from the queue's event stream: seven completions (and a failure,
    // which does not count) written as BullMQ's moveToFinished writes them.
    for id in 1..=8 {
        let event = if id == 8 { "failed" } else { "completed" };
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &server.port.to_string(),
                "XADD",
                "bull:forecast-updates:events",
                "*",
            ])
            .args(["event", event, "jobId", &id.to_string(), "prev", "active"])
            .output()
            .expect("redis-cli");
        assert!(out.status.success());
    }
    tmux.wait_for("7 jobs per minute", |s| {
        row(s, "▶ forecast-worker")
            .split_whitespace()
            .rfind(|f| *f != "│")
            == Some("7")
    });

    // A narrower terminal drops the least useful columns, not the app's essentials.
    tmux.tmux(&["resize-window", "-x", "70", "-y", "30"]);
    tmux.wait_for("the narrow layout", |s| {
        !s.contains("cpu hist") && row(s, "▶ forecast-worker").contains("online")
    });

    // s stops the selected app after a question; the terminal is restored on q.
    tmux.keys("s");
    tmux.wait_for("the stop question", |s| {
        s.contains("Really stop forecast-worker?")
    });
    tmux.keys("y");
    wait_for("forecast-worker stopped", PATIENCE, || {
        t.app("forecast-worker")["status"] == "stopped"
    });
    tmux.wait_for("the stopped row", |s| {
        row(s, "forecast-worker").contains("stopped")
    });
    tmux.keys("q");
    let s = tmux.wait_for("monit to exit and stty to report", |s| {
        s.contains("MONIT-EXIT=") && s.contains("icanon")
    });
    assert!(s.contains("MONIT-EXIT=0"), "{s}");
    assert_terminal_restored(&tmux, &s);
    tmux.kill();
    drop(tmux);
    t.finish();
}

#[test]
fn monit_exits_when_its_terminal_hangs_up() {
    let server = RedisServer::start();
    let t = TempHome::new();
    ecosystem(&t);
    t.ok(&["start", "email-worker"]);
    let tmux = Tmux::start(&t, &server, &format!("exec {BIN} monit"));
    tmux.wait_for("the dashboard", |s| {
        row(s, "email-worker").contains("online")
    });
    let monit = processes_with_env(&format!("TPCTL_HOME={}", t.home().display()))
        .into_iter()
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/exe"))
                .is_ok_and(|e| e == std::path::Path::new(BIN))
                && std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.ends_with(b"monit\0"))
        })
        .collect::<Vec<_>>();
    assert_eq!(monit.len(), 1, "one monit process: {monit:?}");
    // Closing the window hangs up its terminal: monit must end, not spin.
    tmux.kill();
    wait_for("monit to exit after the hang-up", PATIENCE, || {
        !alive(monit[0])
    });
    drop(tmux);
    t.finish();
}

#[test]
fn monit_refuses_without_a_terminal() {
    let t = TempHome::new();
    let out = t.run(&["monit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("monit needs a terminal"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_terminal_is_restored_after_a_panic() {
    let server = RedisServer::start();
    let t = TempHome::new();
    ecosystem(&t);
    let tmux = Tmux::start(
        &t,
        &server,
        &format!(
            "TPCTL_MONIT_TEST_PANIC=1 {BIN} monit; echo MONIT-EXIT=$?; stty -a | grep -o -- '-*icanon'; sleep 600"
        ),
    );
    tmux.wait_for("the dashboard", |s| s.contains("Processes"));
    tmux.keys("!");
    let s = tmux.wait_for("monit to exit and stty to report", |s| {
        s.contains("MONIT-EXIT=") && s.contains("icanon")
    });
    assert!(s.contains("MONIT-EXIT=101"), "a panic exits 101: {s}");
    assert!(
        s.contains("panic requested"),
        "the panic message is readable: {s}"
    );
    assert_terminal_restored(&tmux, &s);
    drop(tmux);
    t.finish();
}
