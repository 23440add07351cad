//! `tpctl web` over real HTTP: the token, the Host check and loopback reads; the JSON API as
//! the CLI's JSON; an action that restarts an app; a hostile log line shown inert; `/metrics`
//! read by promtool and by prometheus-client's OpenMetrics parser, its counters growing across
//! a restart; Valkey away while the server still answers; bad input refused before listening.

mod common;
#[path = "../workers/bullmq/tests/support/node.rs"]
mod node_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

const PATIENCE: Duration = Duration::from_secs(30);

/// A running `tpctl web` on a port it chose; killed on drop.
struct Web {
    child: Child,
    addr: String,
}

impl Web {
    fn start(t: &TempHome, extra: &[&str], env: &[(&str, &str)]) -> Web {
        let mut args = vec!["web", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut cmd = t.cmd(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tpctl web");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the listening line");
        let addr = line
            .trim()
            .strip_prefix("tpctl web listening on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        // The rest of its output is not read; keep the pipe drained so it never blocks.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = out.read_to_string(&mut sink);
        });
        Web { child, addr }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(&self.addr, "GET", path, &[])
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on its own connection; the status and body of the answer.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

fn ecosystem(t: &TempHome, valkey: Option<&str>) {
    let env = valkey
        .map(|u| format!("env = {{ VALKEY_URL = \"{u}\" }}\n"))
        .unwrap_or_default();
    t.write(
        "ecosystem.toml",
        &format!(
            r#"
[[apps]]
name = "echo-worker"
script = "/bin/sh"
args = ["-c", "echo 'hello <script>alert(1)</script> & bye'; while true; do sleep 0.2; done"]
max_memory_restart = "200M"
queue = "emails"
{env}
[[apps]]
name = "quiet-worker"
script = "/bin/sh"
args = ["-c", "while true; do sleep 1; done"]
{env}"#
        ),
    );
}

fn token(t: &TempHome) -> String {
    std::fs::read_to_string(t.home().join("web.token"))
        .expect("the token file")
        .trim()
        .to_string()
}

#[test]
fn reads_from_loopback_actions_need_the_token_and_a_restart_shows() {
    let t = TempHome::new();
    ecosystem(&t, None);
    t.ok(&["start"]);
    let web = Web::start(&t, &[], &[]);
    let token = token(&t);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.home().join("web.token"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The API's apps are `status --json`'s.
    let (code, body) = web.get("/api/v1/apps");
    assert_eq!(code, 200, "{body}");
    let apps: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
    let ids: Vec<&str> = apps.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, ["echo-worker", "quiet-worker"]);
    let (code, body) = web.get("/api/v1/apps/echo-worker");
    assert_eq!(code, 200, "{body}");
    let described: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
    assert_eq!(described[0]["max_memory_restart"].as_u64(), Some(200 << 20));

    // Unknown apps: 404 with the CLI's did-you-mean.
    let (code, body) = web.get("/api/v1/apps/echo-workr");
    assert_eq!(code, 404);
    assert!(body.contains("did you mean \\\"echo-worker\\\""), "{body}");

    // No token 401, a wrong one 403, the right one restarts.
    let path = "/api/v1/apps/echo-worker/restart";
    assert_eq!(http(&web.addr, "POST", path, &[]).0, 401);
    assert_eq!(
        http(&web.addr, "POST", path, &[("Authorization", "Bearer nope")]).0,
        403
    );
    let before = t.app("echo-worker")["pid"].as_u64();
    let bearer = format!("Bearer {token}");
    let (code, body) = http(&web.addr, "POST", path, &[("Authorization", &bearer)]);
    assert_eq!(code, 200, "{body}");
    wait_for("a new echo-worker", PATIENCE, || {
        let a = t.app("echo-worker");
        a["status"] == "online" && a["pid"].as_u64() != before
    });
    let (_, body) = web.get("/api/v1/apps");
    assert!(body.contains("\"restarts\":1"), "{body}");
    // An unknown action is a 404 naming the ones there are.
    let (code, body) = http(
        &web.addr,
        "POST",
        "/api/v1/apps/echo-worker/explode",
        &[("Authorization", &bearer)],
    );
    assert_eq!(code, 404);
    assert!(body.contains("start, stop, restart or reload"), "{body}");

    // DNS rebinding: a Host that names another site is refused, even from loopback.
    let (code, body) = http(&web.addr, "GET", "/", &[("Host", "evil.example")]);
    assert_eq!(code, 403, "{body}");
    drop(web);
    t.finish();
}

#[test]
fn a_hostile_log_line_is_shown_as_text() {
    let t = TempHome::new();
    ecosystem(&t, None);
    t.ok(&["start", "echo-worker"]);
    wait_for("the line in the log", PATIENCE, || {
        t.run(&["logs", "echo-worker", "--nostream"])
            .stdout
            .windows(8)
            .any(|w| w == b"<script>")
    });
    let web = Web::start(&t, &[], &[]);
    let (code, page) = web.get("/apps/echo-worker");
    assert_eq!(code, 200);
    assert!(
        page.contains("hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; bye"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(1)"), "{page}");
    // The JSON tail carries it as data, lossless.
    let (_, logs) = web.get("/api/v1/apps/echo-worker/logs?lines=10");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&logs).expect("json");
    assert!(
        lines
            .iter()
            .any(|l| l["line"] == "hello <script>alert(1)</script> & bye"),
        "{logs}"
    );
    drop(web);
    t.finish();
}

/// A Python with prometheus_client: TPCTL_WEB_TEST_PYTHON, else the virtualenv
/// tests/support/install-web-test-tools makes.
fn python_with_prometheus_client() -> Option<String> {
    let python = std::env::var("TPCTL_WEB_TEST_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/target/tmp/web-test-venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    std::path::Path::new(&python).exists().then_some(python)
}

/// promtool's verdict on Prometheus text (required in CI, where .ci/run installs it).
fn promtool_accepts(text: &str) {
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    match promtool {
        Ok(mut p) => {
            p.stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write");
            let out = p.wait_with_output().expect("promtool");
            assert!(
                out.status.success(),
                "promtool: {}{}\n{text}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(e) => assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing in CI ({e}); .ci/run installs Debian's prometheus"
        ),
    }
}

#[test]
fn metrics_parse_with_promtool_and_prometheus_client_and_counters_only_grow() {
    let mut server = RedisServer::start();
    // Two jobs completed by a worker that records BullMQ's metrics (Node's, with the option
    // tp-worker's workers use): the counters read them.
    node_support::node_last(
        "produce.cjs",
        &[
            &server.url(),
            "emails",
            r#"[{"name": "a", "data": {}}, {"name": "b", "data": {}}]"#,
        ],
        &[],
    );
    node_support::node_last(
        "consume.cjs",
        &[&server.url(), "emails", "2", "20000"],
        &[("METRICS", "10080")],
    );
    let t = TempHome::new();
    ecosystem(&t, Some(&server.url()));
    t.ok(&["start"]);
    let web = Web::start(&t, &[], &[]);
    let scrape = |om: bool| {
        let accept = if om {
            "application/openmetrics-text; version=1.0.0"
        } else {
            "text/plain"
        };
        let (code, body) = http(&web.addr, "GET", "/metrics", &[("Accept", accept)]);
        assert_eq!(code, 200, "{body}");
        body
    };
    // echo-worker has a queue and never consumes it: its keeper says so once it has looked.
    wait_for(
        "tpctl_app_consuming of echo-worker",
        Duration::from_secs(30),
        || {
            scrape(true).lines().any(|l| {
                l.starts_with("tpctl_app_consuming{")
                    && l.contains("app=\"echo-worker\"")
                    && l.contains("queue=\"emails\"")
                    && l.ends_with(" 0")
            })
        },
    );
    let om = scrape(true);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("tpctl_valkey_up{host="), "{om}");
    assert!(
        om.contains("tpctl_queue_jobs{host=") && om.contains("queue=\"emails\""),
        "{om}"
    );
    assert!(
        om.contains("tpctl_queue_completed_total{host=")
            && om
                .lines()
                .any(|l| l.starts_with("tpctl_queue_completed_total{")
                    && l.contains("queue=\"emails\"")
                    && l.ends_with(" 2")),
        "{om}"
    );
    let text = scrape(false);
    assert!(!text.contains("# EOF"));

    // promtool reads the Prometheus text; prometheus_client's parser the OpenMetrics.
    promtool_accepts(&text);
    match python_with_prometheus_client() {
        Some(python) => {
            let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
for name, kind in [("tpctl_app_restarts", "counter"), ("tpctl_app_cpu_seconds", "counter"),
                   ("tpctl_app_memory_bytes", "gauge"), ("tpctl_queue_jobs", "gauge"), ("tpctl_build", "info"),
                   ("tpctl_app_consuming", "gauge")]:
    assert fams[name].type == kind, (name, fams[name].type)
print(sum(len(f.samples) for f in fams.values()))
"#;
            let mut p = std::process::Command::new(&python)
                .args(["-c", script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python");
            p.stdin
                .take()
                .expect("stdin")
                .write_all(om.as_bytes())
                .expect("write");
            let out = p.wait_with_output().expect("python");
            assert!(
                out.status.success(),
                "prometheus_client: {}\n{om}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => assert!(
            std::env::var_os("CI").is_none(),
            "no Python with prometheus_client in CI: .ci/run runs tests/support/install-web-test-tools"
        ),
    }

    // Counters only grow across a restart of the app.
    let sample = |body: &str, name: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(name) && l.contains("app=\"echo-worker\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
    };
    let restarts_before = sample(&om, "tpctl_app_restarts_total");
    t.ok(&["restart", "echo-worker"]);
    let after = scrape(true);
    assert!(sample(&after, "tpctl_app_restarts_total") > restarts_before);
    assert!(
        sample(&after, "tpctl_app_cpu_seconds_total") >= sample(&om, "tpctl_app_cpu_seconds_total")
    );

    // Valkey away: /metrics still answers, and says so.
    server.stop();
    let body = scrape(true);
    assert!(body.contains("tpctl_valkey_up{host="), "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("tpctl_valkey_up{") && l.ends_with(" 0")),
        "{body}"
    );
    assert!(body.contains("tpctl_app_up{"), "{body}");
    let (code, _) = web.get("/");
    assert_eq!(code, 200);
    drop(web);
    t.finish();
}

#[test]
fn bad_input_is_refused_before_anything_listens() {
    let t = TempHome::new();
    let out = t.run(&["web", "--listen", "localhost:notaport"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--listen"),
        "{}",
        text(&out.stderr)
    );

    let out = t.run(&["web", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs a token you chose")
            && text(&out.stderr).contains("--token-file"),
        "{}",
        text(&out.stderr)
    );

    let unreadable = t.write("open.token", "abc\n");
    let out = t.run(&["web", "--token-file", unreadable.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("chmod 600"),
        "{}",
        text(&out.stderr)
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").to_string();
    let out = t.run(&["web", "--listen", &port]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot listen on") && text(&out.stderr).contains("--listen"),
        "{}",
        text(&out.stderr)
    );
    t.finish();
}

#[test]
fn the_queue_api_pages_jobs_shows_one_and_names_unknown_queues() {
    let server = RedisServer::start();
    let t = TempHome::new();
    ecosystem(&t, Some(&server.url()));
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
    let web = Web::start(&t, &[], &[]);
    let (code, body) = web.get("/api/v1/queues/emails/jobs?state=waiting");
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(page["counts"]["waiting"], 3, "{body}");
    let jobs = page["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 3, "{body}");
    let id = jobs[0]["id"].as_str().expect("an id").to_string();
    // The progress a worker reported (updateProgress writes the job's `progress` field).
    let status = std::process::Command::new("redis-cli")
        .args([
            "-u",
            &server.url(),
            "HSET",
            &format!("bull:emails:{id}"),
            "progress",
            "{\"done\":42}",
        ])
        .status()
        .expect("redis-cli");
    assert!(status.success());
    let (code, body) = web.get(&format!("/api/v1/queues/emails/jobs/{id}"));
    assert_eq!(code, 200, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(job["state"], "waiting");
    assert_eq!(job["name"], "send");
    assert_eq!(job["progress"]["done"], 42, "{body}");
    let (code, page) = web.get(&format!("/queues/emails/jobs/{id}"));
    assert_eq!(code, 200);
    assert!(page.contains("&quot;n&quot;"), "the data is shown: {page}");

    let (code, body) = web.get("/api/v1/queues/emals/jobs");
    assert_eq!(code, 404);
    assert!(body.contains("did you mean \\\"emails\\\""), "{body}");
    let (code, body) = web.get("/api/v1/queues/emails/jobs?state=sleeping");
    assert_eq!(code, 400);
    assert!(body.contains("no job state"), "{body}");
    let (code, body) = web.get("/api/v1/queues/emails/jobs/999");
    assert_eq!(code, 404, "{body}");
    // Actions need the token; with it, a queue is paused as `tpctl queue emails pause` does.
    let path = "/api/v1/queues/emails/pause";
    assert_eq!(http(&web.addr, "POST", path, &[]).0, 401);
    let bearer = format!("Bearer {}", token(&t));
    let (code, body) = http(&web.addr, "POST", path, &[("Authorization", &bearer)]);
    assert_eq!(code, 200, "{body}");
    let (_, body) = web.get("/api/v1/queues");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
    let emails = rows
        .iter()
        .find(|r| r["queue"] == "emails")
        .expect("emails");
    assert_eq!(emails["status"], "paused", "{body}");
    drop(web);
    t.finish();
}

#[test]
fn two_hosts_see_each_other_through_valkey_and_a_gone_one_is_shown_gone() {
    let server = RedisServer::start();
    let (alpha, beta) = (TempHome::new(), TempHome::new());
    for t in [&alpha, &beta] {
        ecosystem(t, Some(&server.url()));
        t.ok(&["start", "quiet-worker"]);
    }
    let web_a = Web::start(&alpha, &[], &[("TPCTL_HOST_NAME", "alpha")]);
    let mut web_b = Web::start(&beta, &[], &[("TPCTL_HOST_NAME", "beta")]);
    let fleet = |web: &Web| -> Vec<serde_json::Value> {
        let (code, body) = web.get("/api/v1/overview?scope=fleet");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["fleet"].as_array().cloned().unwrap_or_default()
    };
    let sees = |web: &Web, other: &str| {
        fleet(web).iter().any(|h| {
            h["host"] == other
                && h["gone"] == false
                && h["apps"].as_array().is_some_and(|a| a.len() == 1)
        })
    };
    wait_for("alpha and beta to see each other", PATIENCE, || {
        sees(&web_a, "beta") && sees(&web_b, "alpha")
    });
    let (_, page) = web_a.get("/");
    assert!(page.contains("Apps on beta"), "{page}");
    let (_, metrics) = web_a.get("/metrics?scope=fleet");
    assert!(
        metrics.contains("tpctl_app_up{host=\"beta\",app=\"quiet-worker\""),
        "{metrics}"
    );
    promtool_accepts(&metrics);
    // The entry lives in its own namespace, with an expiry.
    let ttl = std::process::Command::new("redis-cli")
        .args(["-u", &server.url(), "PTTL", "tpctl-fleet:host:beta"])
        .output()
        .expect("redis-cli");
    let ttl: i64 = text(&ttl.stdout).trim().parse().expect("a ttl");
    assert!(ttl > 0, "no expiry: {ttl}");

    // beta's tpctl web dies: once its entry expires, alpha shows it gone, with when.
    let _ = web_b.child.kill();
    let _ = web_b.child.wait();
    wait_for("beta shown gone", PATIENCE, || {
        fleet(&web_a).iter().any(|h| {
            h["host"] == "beta" && h["gone"] == true && h["last_seen_ms"].as_u64() > Some(0)
        })
    });
    let (_, page) = web_a.get("/");
    assert!(page.contains("beta has not published since"), "{page}");
    let (_, metrics) = web_a.get("/metrics?scope=fleet");
    assert!(
        metrics.contains("tpctl_host_up{host=\"beta\"} 0"),
        "{metrics}"
    );
    drop(web_a);
    drop(web_b);
    alpha.finish();
    beta.finish();
}

#[test]
fn the_page_and_metrics_answer_when_the_apps_cannot_be_read() {
    let t = TempHome::new();
    let web = Web::start(&t, &[], &[]);
    // The apps directory replaced by a file: nothing in it can be listed.
    let apps = t.home().join("apps");
    let _ = std::fs::remove_dir_all(&apps);
    std::fs::write(&apps, "not a directory").expect("write");
    let (code, page) = web.get("/");
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("apps unavailable: cannot list apps in"),
        "{page}"
    );
    let (code, metrics) = web.get("/metrics");
    assert_eq!(code, 200, "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tpctl_apps_readable{") && l.ends_with(" 0")),
        "{metrics}"
    );
    let _ = std::fs::remove_file(&apps);
    drop(web);
    t.finish();
}
