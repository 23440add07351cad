//! Apps belong to the ecosystem file they were started from: another file naming them does not
//! take them over silently, `status` shows the files when there are several, a broken file
//! does not block `restart all` for the others, and the deploy verbs start what is new and
//! restart what runs.

mod common;

use common::*;

fn app(name: &str, mark: &str) -> String {
    format!(
        "[[apps]]\nname = \"{name}\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv = {{ MARK = \"{mark}\" }}\n\n"
    )
}

fn pid(t: &TempHome, id: &str) -> i64 {
    t.app(id)["pid"].as_i64().unwrap_or(-1)
}

fn mark(t: &TempHome, id: &str) -> String {
    let env = std::fs::read(format!("/proc/{}/environ", pid(t, id))).unwrap_or_default();
    env.split(|b| *b == 0)
        .find_map(|e| e.strip_prefix(b"MARK="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

#[test]
fn a_second_file_naming_the_same_app_is_refused_for_it_and_restart_moves_it() {
    let t = TempHome::new();
    t.write("a.toml", &(app("email-worker", "a") + &app("idle", "a")));
    t.write("b.toml", &(app("email-worker", "b") + &app("other", "b")));
    t.ok(&["start", "a.toml"]);
    let first = pid(&t, "email-worker");

    let out = t.run(&["start", "b.toml"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "✗ email-worker: not started: it belongs to a.toml, not b.toml; `tpctl restart b.toml` moves it to b.toml"
        ) && stdout.contains("`tpctl delete email-worker` first"),
        "{stdout}"
    );
    // The app of b.toml that no other file has starts; email-worker is left as it was.
    assert_eq!(t.app("other")["status"], "online");
    assert_eq!(pid(&t, "email-worker"), first);
    assert_eq!(mark(&t, "email-worker"), "a");

    // Two files in use: status shows each app's.
    let table = t.ok(&["status"]);
    assert!(
        table.contains(" file ") && table.contains("a.toml") && table.contains("b.toml"),
        "{table}"
    );
    assert!(
        t.app("other")["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("/b.toml"))
    );

    // restart b.toml moves it, with b.toml's settings.
    let out = t.ok(&["restart", "b.toml"]);
    assert!(
        out.contains("↪ email-worker: moves from a.toml to b.toml"),
        "{out}"
    );
    assert_eq!(mark(&t, "email-worker"), "b");
    assert!(
        t.app("email-worker")["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("/b.toml"))
    );
    t.finish();
}

#[test]
fn a_typo_in_one_file_does_not_block_restart_all_for_the_others() {
    let t = TempHome::new();
    t.write("a.toml", &app("idle", "a"));
    t.write("b.toml", &app("other", "b"));
    t.ok(&["start", "a.toml"]);
    t.ok(&["start", "b.toml"]);
    let (idle, other) = (pid(&t, "idle"), pid(&t, "other"));
    t.write("a.toml", &app("idle", "a").replace("args", "argz"));

    let out = t.run(&["restart", "all"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✗ idle: not restarted:")
            && stdout.contains("a.toml")
            && stdout.contains("argz"),
        "{stdout}"
    );
    assert_ne!(pid(&t, "other"), other, "b.toml's app was restarted");
    assert_eq!(
        pid(&t, "idle"),
        idle,
        "a.toml's app keeps running as it was"
    );
    t.finish();
}

#[test]
fn start_or_restart_starts_what_is_new_and_restarts_what_runs() {
    let t = TempHome::new();
    t.write("ecosystem.toml", &app("web", "1"));
    let out = t.ok(&["startOrRestart", "ecosystem.toml"]);
    assert!(out.contains("✓ web: online"), "{out}");
    let first = pid(&t, "web");

    t.write("ecosystem.toml", &(app("web", "2") + &app("mailer", "2")));
    let out = t.ok(&["start-or-restart", "ecosystem.toml"]);
    assert!(
        out.contains("✓ mailer: online") && out.contains("✓ web: online"),
        "{out}"
    );
    assert_ne!(pid(&t, "web"), first);
    assert_eq!(mark(&t, "web"), "2");
    assert_eq!(t.app("web")["restarts"], 1);

    t.write(
        "ecosystem.toml",
        &(app("web", "3") + &app("mailer", "3") + &app("late", "3")),
    );
    let web = pid(&t, "web");
    let out = t.ok(&["startOrReload", "ecosystem.toml"]);
    assert!(out.contains("✓ late: online"), "{out}");
    assert_ne!(pid(&t, "web"), web);
    assert_eq!(mark(&t, "mailer"), "3");
    t.finish();
}
