//! Kills at the worst moment: a keeper SIGKILLed while it stops its app, while it restarts
//! it, and while it rotates the app's logs at full speed; `tpctl start` and `tpctl stop`
//! racing on the same app. Never an orphan or a second instance, the state shown is the truth
//! (`lost`), and `tpctl start` brings the app back exactly once.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

fn kill_keeper(t: &TempHome, id: &str) {
    let keeper = t.app(id)["keeper_pid"].as_i64().expect("keeper pid") as i32;
    unsafe { libc::kill(keeper, libc::SIGKILL) };
    wait_for("the keeper to die", LONG, || !alive(keeper));
}

/// After the keeper's death: its app and the app's leftovers die, status says lost, and two
/// starts bring back exactly one instance.
fn comes_back_once(t: &TempHome, id: &str, comm: &str, before: &[i32]) {
    wait_for("the app to die with its keeper", LONG, || {
        before.iter().all(|p| !alive(*p))
    });
    wait_for("status to say lost", LONG, || t.app(id)["status"] == "lost");
    assert!(t.instances(id, comm).is_empty(), "an orphan of {id}");
    t.ok(&["start", id]);
    t.ok(&["start", id]);
    wait_for("the app online", LONG, || t.app(id)["status"] == "online");
    // The instance may still be exec-ing its interpreter (a shim): wait for it, and never
    // see two.
    wait_for("one instance", LONG, || {
        let n = t.instances(id, comm).len();
        assert!(n <= 1, "{n} instances of {id}");
        n == 1
    });
}

fn stubborn(t: &TempHome) -> std::path::PathBuf {
    let pids = t.path().join("pids.txt");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"victim\"\nscript = \"{}\"\nkill_timeout = \"20s\"\nenv = {{ PIDS = \"{}\" }}\n",
            fixture("stubborn.sh"),
            pids.display()
        ),
    );
    pids
}

fn pids_of(pids: &std::path::Path) -> Vec<i32> {
    lines(pids)
        .first()
        .map(|l| l.split(' ').filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// `stop` (or `restart`) waits out the kill_timeout of an app that ignores its signals; the
/// keeper dies in the middle.
fn keeper_dies_while(verb: &str) {
    let t = TempHome::new();
    let pids = stubborn(&t);
    t.ok(&["start"]);
    wait_for("pids written", LONG, || pids_of(&pids).len() == 2);
    let before = pids_of(&pids);
    let cmd = t
        .cmd(&[verb, "victim"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(verb);
    wait_for("the app to be stopping", LONG, || {
        t.app("victim")["status"] == "stopping"
    });
    kill_keeper(&t, "victim");
    let out = cmd.wait_with_output().expect("wait");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    if verb == "restart" {
        // A restart whose keeper died still ends with the app running, once.
        assert!(out.status.success(), "{said}");
        wait_for("the old app to die", LONG, || {
            before.iter().all(|p| !alive(*p))
        });
        wait_for("one new instance", LONG, || {
            t.instances("victim", "stubborn.sh").len() == 1
        });
        t.finish();
        return;
    }
    // The app is down, as asked, and the answer says how: its keeper was lost.
    assert!(said.contains("victim: not running (lost)"), "{said}");
    comes_back_once(&t, "victim", "stubborn.sh", &before);
    t.finish();
}

#[test]
fn a_keeper_killed_during_a_stop() {
    keeper_dies_while("stop");
}

#[test]
fn a_keeper_killed_during_a_restart() {
    keeper_dies_while("restart");
}

#[test]
fn a_keeper_killed_during_log_rotation() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"spam\"\nscript = \"{}\"\nlog_max_size = \"64K\"\nlog_keep = 3\nenv = {{ LINES = \"100000000\" }}\n",
            fixture("spammer.py")
        ),
    );
    t.ok(&["start"]);
    let logs = t.home().join("apps/spam/logs");
    wait_for("rotations", LONG, || logs.join("out.log.3").exists());
    let before: Vec<i32> = t.app("spam")["pid"]
        .as_i64()
        .map(|p| vec![p as i32])
        .unwrap_or_default();
    kill_keeper(&t, "spam");
    // Read the files once nothing writes them: with the app back, rotation goes on and a
    // file can be mid-rename when read.
    wait_for("the app to die with its keeper", LONG, || {
        before.iter().all(|p| !alive(*p))
    });
    // What was written stays whole lines, in every file the rotation left. A kill between
    // two renames of a rotation leaves that one name missing; the oldest is always there.
    assert!(logs.join("out.log.3").exists(), "out.log.3 is gone");
    for name in ["out.log.1", "out.log.2", "out.log.3"] {
        let path = logs.join(name);
        if !path.exists() {
            continue;
        }
        let l = lines(&path);
        assert!(!l.is_empty(), "{name} is empty");
        for x in &l {
            let n = x.split(' ').next().unwrap_or("");
            assert!(
                n.parse::<u64>().is_ok() || x.starts_with("[tpctl]"),
                "{name}: cut line {x:?}"
            );
        }
    }
    comes_back_once(&t, "spam", "python3", &before);
    t.finish();
}

/// Two starts and a stop at once, 50 times: never two instances.
#[test]
fn racing_starts_and_stops_never_run_two_instances() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"solo\"\nscript = \"/bin/sleep\"\nargs = [\"1000\"]\n",
    );
    for round in 0..50 {
        let mut children: Vec<_> = [["start", "solo"], ["stop", "solo"], ["start", "solo"]]
            .iter()
            .map(|args| {
                t.cmd(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for c in &mut children {
            let _ = c.wait();
        }
        let n = t.instances("solo", "sleep").len();
        assert!(n <= 1, "round {round}: {n} instances");
        let status = t.app("solo")["status"].as_str().unwrap_or("").to_string();
        let expected = if n == 1 { "online" } else { "stopped" };
        assert_eq!(
            status, expected,
            "round {round}: status says {status} with {n} instances"
        );
    }
    t.ok(&["start", "solo"]);
    assert_eq!(t.instances("solo", "sleep").len(), 1);
    t.finish();
}
