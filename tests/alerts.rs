//! Alerts reach a person: an errored app posts one webhook and sends one email (secrets
//! taken out), a crash loop raises no storm, a receiver that is down gets the alert once it is
//! back, a lost keeper is told by the command that finds it, and `tpctl alerts test` tries
//! every destination. Real processes: a webhook receiver, aiosmtpd, the keepers and senders.

mod common;

#[path = "support/alert_servers.rs"]
mod alert_servers;

use std::path::PathBuf;
use std::time::Duration;

use alert_servers::{Receiver, Smtp};
use common::*;

const LONG: Duration = Duration::from_secs(60);

/// The app's alerts still waiting to be sent.
fn queued(t: &TempHome, id: &str) -> usize {
    std::fs::read_dir(t.home().join(format!("apps/{id}/alerts/pending")))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// No alert sender of this test left running.
fn senders(t: &TempHome) -> Vec<i32> {
    t.live_processes()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.contains("alert-sender"))
        })
        .collect()
}

fn crasher(name: &str, max_restarts: u32, extra: &str) -> String {
    format!(
        "[[apps]]\nname = \"{name}\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"echo \\\"cannot log in with $API_TOKEN\\\" >&2; exit 3\"]\nmax_restarts = {max_restarts}\n{extra}\n"
    )
}

#[test]
fn an_errored_app_posts_one_webhook_and_one_email_without_its_secrets() {
    let t = TempHome::new();
    let hook = Receiver::start(t.path().join("hook.jsonl"));
    let smtp = Smtp::start();
    t.write(
        ".env",
        &format!(
            "EMAIL_SERVER_HOST=127.0.0.1\nEMAIL_SERVER_PORT={}\nEMAIL_FROM=tpctl@example.com\nAPI_TOKEN=tok-very-secret\n",
            smtp.port
        ),
    );
    t.write(
        "ecosystem.toml",
        &format!(
            "[defaults]\nenv_file = \".env\"\n\n[alerts]\nevents = [\"errored\"]\n\n[[alerts.webhook]]\nurl = \"{}\"\nformat = \"slack\"\n\n[alerts.email]\nto = [\"ops@example.com\"]\n\n{}",
            hook.url("/slack"),
            crasher("mailer", 3, "")
        ),
    );
    t.ok(&["start"]);
    wait_for("the webhook and the email", LONG, || {
        !hook.records().is_empty() && !smtp.received().is_empty()
    });
    wait_for("the queue emptied and its sender gone", LONG, || {
        queued(&t, "mailer") == 0 && senders(&t).is_empty()
    });
    assert_eq!(t.app("mailer")["status"], "errored");
    let posts = hook.records();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["path"], "/slack");
    assert_eq!(posts[0]["content_type"], "application/json");
    let text = posts[0]["body"]["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("*mailer on ") && text.contains(": is errored*"),
        "{text}"
    );
    assert!(
        text.contains("crash loop: 3 consecutive runs")
            && text.contains("last error: cannot log in with <redacted>")
            && !text.contains("tok-very-secret"),
        "{text}"
    );
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["to"][0], "ops@example.com");
    assert!(
        mails[0]["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("[tpctl] mailer on ") && s.ends_with(": is errored")),
        "{mails:?}"
    );
    let body = mails[0]["text"].as_str().unwrap_or_default();
    assert!(
        body.contains("crash loop") && !body.contains("tok-very-secret"),
        "{body}"
    );
    t.finish();
}

#[test]
fn a_crash_loop_of_fifty_restarts_posts_no_more_than_max_per_hour() {
    let t = TempHome::new();
    let hook = Receiver::start(t.path().join("hook.jsonl"));
    t.write(
        "ecosystem.toml",
        &format!(
            "[alerts]\nmax_per_hour = 2\ndedup = \"0s\"\nrestart_rate = \"3/1m\"\nrecovered_after = \"1s\"\n\n[[alerts.webhook]]\nurl = \"{}\"\n\n{}",
            hook.url("/json"),
            crasher("looper", 51, "")
        ),
    );
    t.ok(&["start"]);
    wait_for("the crash loop over", LONG, || {
        t.app("looper")["status"] == "errored"
    });
    assert!(t.app("looper")["restarts"].as_u64() >= Some(50));
    wait_for("every queued alert delivered", LONG, || {
        queued(&t, "looper") == 0 && senders(&t).is_empty()
    });
    let events: Vec<String> = hook
        .records()
        .iter()
        .map(|r| r["body"]["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(events, ["restarts", "errored"], "at most max_per_hour");

    // A second crash loop within the hour is held back, counted, and said by the next alert
    // that goes: the recovery, once the app runs stable again.
    let out = t.run(&["restart", "looper"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    wait_for("the second crash loop over", LONG, || {
        t.app("looper")["status"] == "errored"
    });
    t.write(
        "ecosystem.toml",
        &format!(
            "[alerts]\nmax_per_hour = 2\ndedup = \"0s\"\nrestart_rate = \"3/1m\"\nrecovered_after = \"1s\"\n\n[[alerts.webhook]]\nurl = \"{}\"\n\n[[apps]]\nname = \"looper\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
            hook.url("/json"),
        ),
    );
    t.ok(&["restart", "looper"]);
    wait_for("the recovery alert", LONG, || hook.records().len() == 3);
    let last = &hook.records()[2]["body"];
    assert_eq!(last["event"], "recovered", "{last}");
    assert!(last["held_back"].as_u64() >= Some(1), "{last}");
    t.finish();
}

#[test]
fn a_receiver_that_is_down_gets_the_alert_once_it_is_back_even_across_a_keeper_restart() {
    let t = TempHome::new();
    let mut hook = Receiver::start(t.path().join("hook.jsonl"));
    hook.stop();
    t.write(
        "ecosystem.toml",
        &format!(
            "[alerts]\nevents = [\"errored\"]\n\n[[alerts.webhook]]\nurl = \"{}\"\nformat = \"discord\"\n\n{}",
            hook.url("/discord"),
            crasher("flaky", 2, "")
        ),
    );
    t.ok(&["start"]);
    wait_for("the app errored, its keeper gone", LONG, || {
        t.app("flaky")["status"] == "errored" && t.app("flaky")["keeper_pid"].is_null()
    });
    let keeper_log = t.home().join("apps/flaky/keeper.log");
    wait_for("the refusal logged", LONG, || {
        lines(&keeper_log)
            .iter()
            .any(|l| l.contains("alert destination refuses"))
    });
    // The alert waits on disk with its sender, which outlives the keeper.
    assert_eq!(queued(&t, "flaky"), 1);
    let sender = senders(&t);
    assert_eq!(sender.len(), 1);
    // Even a sender killed outright (a reboot) loses nothing: the app's next keeper sends
    // what is queued. (Its own crash loop's alert is the same event: held back by dedup.)
    unsafe { libc::kill(sender[0], libc::SIGKILL) };
    wait_for("the sender gone", LONG, || !alive(sender[0]));
    t.ok(&["start", "flaky"]);
    wait_for("a new sender at work", LONG, || senders(&t).len() == 1);
    assert_eq!(queued(&t, "flaky"), 1);

    hook.start_again();
    wait_for("the alert delivered", LONG, || !hook.records().is_empty());
    wait_for("the sender done", LONG, || {
        queued(&t, "flaky") == 0 && senders(&t).is_empty()
    });
    let posts = hook.records();
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0]["body"]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("**flaky on ")),
        "{posts:?}"
    );
    let log = lines(&keeper_log);
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("alert destination refuses"))
            .count(),
        1,
        "one line per outage: {log:?}"
    );
    assert!(log.iter().any(|l| l.contains("answers again")), "{log:?}");
    t.finish();
}

#[test]
fn a_lost_keeper_is_alerted_by_the_command_that_finds_it() {
    let t = TempHome::new();
    let hook = Receiver::start(t.path().join("hook.jsonl"));
    t.write(
        "ecosystem.toml",
        &format!(
            "[alerts]\n\n[[alerts.webhook]]\nurl = \"{}\"\n\n[[apps]]\nname = \"web\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
            hook.url("/json")
        ),
    );
    t.ok(&["start"]);
    let keeper = t.app("web")["keeper_pid"].as_i64().expect("keeper pid") as i32;
    unsafe { libc::kill(keeper, libc::SIGKILL) };
    wait_for("the keeper gone", LONG, || !alive(keeper));
    assert_eq!(t.app("web")["status"], "lost");
    wait_for("the lost alert", LONG, || !hook.records().is_empty());
    let body = &hook.records()[0]["body"];
    assert_eq!(body["event"], "lost", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("keeper died")),
        "{body}"
    );
    wait_for("the sender done", LONG, || senders(&t).is_empty());
    t.finish();
}

#[test]
fn alerts_test_tries_every_destination_and_names_the_one_that_fails() {
    let t = TempHome::new();
    let hook = Receiver::start(t.path().join("hook.jsonl"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let got: PathBuf = t.path().join("command-got.json");
    t.write(
        "notify.sh",
        &format!(
            "#!/bin/sh\ncat > {}\necho \"$TPCTL_ALERT_EVENT $TPCTL_ALERT_APP\" >> {}\n",
            got.display(),
            got.display()
        ),
    );
    std::fs::set_permissions(
        t.path().join("notify.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    t.write(
        "ecosystem.toml",
        &format!(
            "[alerts]\n\n[[alerts.webhook]]\nurl = \"{}\"\nformat = \"teams\"\n\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:{closed}/secret-path\"\n\n[[alerts.command]]\nrun = [\"{}\"]\n\n[[apps]]\nname = \"web\"\nscript = \"/bin/sleep\"\n",
            hook.url("/teams"),
            t.path().join("notify.sh").display()
        ),
    );
    let out = t.run(&["alerts", "test"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "✓ webhook http://127.0.0.1:{}/… (teams): delivered",
            hook.port
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "✗ webhook http://127.0.0.1:{closed}/… (json): cannot reach"
        )) && !stdout.contains("secret-path"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✓ command ") && stdout.contains("notify.sh: delivered"),
        "{stdout}"
    );
    let card = &hook.records()[0]["body"];
    assert_eq!(card["@type"], "MessageCard");
    assert!(
        card["title"]
            .as_str()
            .is_some_and(|t| t.ends_with(": test alert")),
        "{card}"
    );
    let got = std::fs::read_to_string(&got).expect("the command ran");
    assert!(
        got.contains("\"event\":\"test\"") && got.ends_with("test web\n"),
        "{got}"
    );
    t.finish();
}
