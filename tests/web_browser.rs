//! `tpctl web` in a real browser (headless Chromium through Selenium, both pinned): 20 apps
//! and 3 queues on the overview, live updates, a hostile log line and job name shown as
//! text, a line the app writes appearing in the live tail, a restart with the token changing
//! the restart count, and a failed job Node bullmq 5.67.2 created retried from the queue page
//! (checked afterwards through Node's own getters). `TPCTL_SCREENSHOT=PATH` saves the overview
//! (tests/support/update-screenshot writes README's).

mod common;
#[path = "../workers/bullmq/tests/support/node.rs"]
mod node_support;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use common::*;
use node_support::node_last;
use serde_json::json;

fn python() -> String {
    std::env::var("TPCTL_WEB_TEST_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/target/tmp/web-test-venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

fn browser_available() -> bool {
    let tools = ["/usr/bin/chromium", "/usr/bin/chromedriver"];
    let ok = tools.iter().all(|t| std::path::Path::new(t).exists())
        && std::path::Path::new(&python()).exists();
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI lacks chromium, chromedriver or the Selenium virtualenv: .ci/run installs them"
    );
    ok
}

fn ecosystem(server: &RedisServer) -> String {
    let env = format!("env = {{ VALKEY_URL = \"{}\" }}\n", server.url());
    let mut eco = format!(
        r#"
[[apps]]
name = "hostile"
script = "/bin/sh"
args = ["-c", "echo '<script>window.__pwned=true;alert(1)</script>'; exec sleep 600"]
queue = "emails"
{env}
[[apps]]
name = "ticker"
script = "/bin/sh"
args = ["-c", "while true; do echo tick $(date +%s%N); sleep 0.3; done"]
queue = "notifications"
{env}"#
    );
    for n in 1..=18 {
        let queue = if n == 1 {
            "queue = \"forecast-updates\"\n"
        } else {
            ""
        };
        eco.push_str(&format!(
            "\n[[apps]]\nname = \"worker-{n:02}\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"exec sleep 600\"]\n{queue}{env}"
        ));
    }
    eco
}

#[test]
fn the_dashboard_in_a_real_browser() {
    if !browser_available() {
        eprintln!("skipped: chromium, chromedriver or the Selenium virtualenv is missing");
        return;
    }
    let server = RedisServer::start();
    let url = server.url();
    // A failed job (a hostile name) from Node bullmq, a waiting and a delayed one.
    node_last(
        "produce.cjs",
        &[
            &url,
            "emails",
            &json!([{"name": "<img src=x onerror=window.__pwned=true>", "data": {"to": "a@b"}}])
                .to_string(),
        ],
        &[],
    );
    node_last(
        "consume.cjs",
        &[&url, "emails", "1", "20000"],
        &[("FAIL", "1")],
    );
    node_last(
        "produce.cjs",
        &[&url, "notifications", r#"[{"name": "n", "data": {}}]"#],
        &[],
    );
    node_last(
        "produce.cjs",
        &[
            &url,
            "forecast-updates",
            r#"[{"name": "f", "data": {}, "opts": {"delay": 600000}}]"#,
        ],
        &[],
    );

    let t = TempHome::new();
    t.write("ecosystem.toml", &ecosystem(&server));
    t.ok(&["start"]);
    let mut web = t
        .cmd(&["web", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tpctl web");
    let mut out = BufReader::new(web.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("listening line");
    let base = line
        .trim()
        .strip_prefix("tpctl web listening on ")
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("unexpected: {line}"));
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    let token = std::fs::read_to_string(t.home().join("web.token"))
        .expect("token")
        .trim()
        .to_string();

    let mut args = vec![
        format!(
            "{}/tests/fixtures/web/browser.py",
            env!("CARGO_MANIFEST_DIR")
        ),
        base,
        token,
    ];
    if let Ok(shot) = std::env::var("TPCTL_SCREENSHOT") {
        args.push(shot);
    }
    let run = std::process::Command::new(python())
        .args(&args)
        .output()
        .expect("python");
    let _ = web.kill();
    let _ = web.wait();
    let said = format!("{}{}", text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "the browser checks failed:\n{said}");
    println!("{said}");

    // What the page did, seen by Node: the failed job waits again.
    let counts = node_last("inspect.cjs", &[&url, "emails", "counts"], &[]);
    assert_eq!(counts["failed"], 0, "{counts}");
    assert_eq!(counts["waiting"], 1, "{counts}");
    assert_eq!(t.app("worker-03")["restarts"], 1);
    t.finish();
}
