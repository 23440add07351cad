//! A keeper killed with SIGKILL takes its app with it, is reported as lost, and `start` brings
//! the app back exactly once.

mod common;

use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn sigkill_of_a_keeper_kills_its_app_and_status_reports_it_lost() {
    let t = TempHome::new();
    let pids = t.path().join("pids.txt");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"victim\"\nscript = \"{}\"\nkill_timeout = \"300ms\"\nenv = {{ PIDS = \"{}\" }}\n\n[[apps]]\nname = \"bystander\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
            fixture("stubborn.sh"),
            pids.display()
        ),
    );
    t.ok(&["start"]);
    wait_for("pids written", LONG, || lines(&pids).len() == 1);
    let app_and_grandchild: Vec<i32> = lines(&pids)[0]
        .split(' ')
        .map(|p| p.parse().expect("pid"))
        .collect();
    let victim = t.app("victim");
    let keeper = victim["keeper_pid"].as_i64().expect("keeper pid") as i32;
    let bystander_pid = t.app("bystander")["pid"].clone();

    unsafe { libc::kill(keeper, libc::SIGKILL) };
    wait_for("app dies with its keeper", LONG, || {
        !alive(app_and_grandchild[0])
    });

    let lost = t.app("victim");
    assert_eq!(lost["status"], "lost", "{lost}");
    let reason = lost["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("keeper died while the app was online"),
        "{reason}"
    );
    // The grandchild outlived the parent-death signal; finding the loss cleaned it up.
    wait_for("grandchild killed", LONG, || !alive(app_and_grandchild[1]));
    assert_eq!(
        t.app("bystander")["pid"],
        bystander_pid,
        "other apps are unaffected"
    );

    t.ok(&["start", "victim"]);
    t.ok(&["start", "victim"]);
    wait_for("new pids", LONG, || {
        lines(&pids)
            .first()
            .is_some_and(|l| !l.starts_with(&app_and_grandchild[0].to_string()))
    });
    let copies = t.instances("victim", "stubborn.sh").len();
    assert_eq!(copies, 1, "exactly one copy of the app after two starts");
    assert_eq!(t.app("victim")["status"], "online");
    t.finish();
}
