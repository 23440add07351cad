//! Health checks with real processes: an http endpoint that starts answering 500 and one that
//! hangs past its timeout (both restart the app, the ledger says why), a tcp check to a closed
//! port that only reports (`restart = false`), an exec check, and malformed `health` tables
//! as located errors.

mod common;

use std::time::Duration;

use common::*;

const PATIENCE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn health(t: &TempHome, id: &str) -> String {
    t.app(id)["health"].as_str().unwrap_or_default().to_string()
}

fn ledger_causes(t: &TempHome, id: &str) -> Vec<String> {
    let out = t.ok(&["describe", id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v[0]["ledger"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e["cause"]["detail"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_http_endpoint_answering_500_or_hanging_restarts_the_app() {
    let t = TempHome::new();
    let port = free_port();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"api\"\nscript = \"python3\"\nargs = [\"{}\", \"{port}\"]\nhealth = {{ http = \"http://127.0.0.1:{port}/health\", every = \"300ms\", timeout = \"200ms\", retries = 2, grace = \"0s\" }}\n",
            fixture("health_server.py")
        ),
    );
    t.ok(&["start"]);
    wait_for("healthy", PATIENCE, || health(&t, "api") == "healthy");

    // 500s: unhealthy with the reason, then restarted after two in a row.
    t.write("sick", "");
    wait_for("a restart for HTTP 500", PATIENCE, || {
        ledger_causes(&t, "api").iter().any(|c| c == "HTTP 500")
    });
    std::fs::remove_file(t.path().join("sick")).expect("rm sick");
    wait_for("healthy again", PATIENCE, || {
        t.app("api")["status"] == "online" && health(&t, "api") == "healthy"
    });

    // No answer within the timeout: the same.
    t.write("hang", "");
    wait_for("a restart for the timeout", PATIENCE, || {
        ledger_causes(&t, "api")
            .iter()
            .any(|c| c == "no answer within 200ms")
    });
    std::fs::remove_file(t.path().join("hang")).expect("rm hang");
    let table = t.ok(&["describe", "api"]);
    assert!(
        table.contains("health check")
            && table.contains(&format!("http://127.0.0.1:{port}/health every 300ms")),
        "{table}"
    );
    t.finish();
}

#[test]
fn a_tcp_check_to_a_closed_port_only_reports_when_restart_is_off() {
    let t = TempHome::new();
    let port = free_port();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nargs = [\"600\"]\nhealth = {{ tcp = \"127.0.0.1:{port}\", every = \"200ms\", timeout = \"100ms\", retries = 1, grace = \"0s\", restart = false }}\n"
        ),
    );
    t.ok(&["start"]);
    wait_for("unhealthy", PATIENCE, || {
        health(&t, "w").starts_with("unhealthy: cannot connect")
    });
    let table = t.ok(&["status"]);
    assert!(table.contains("unhealthy: cannot connect"), "{table}");
    // Reported a few times over, never restarted.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(t.app("w")["restarts"], 0);
    assert_eq!(t.app("w")["status"], "online");
    t.finish();
}

#[test]
fn an_exec_check_follows_its_exit_code() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nargs = [\"600\"]\nhealth = { exec = [\"test\", \"-e\", \"ok\"], every = \"200ms\", timeout = \"150ms\", grace = \"0s\", restart = false }\n",
    );
    t.write("ok", "");
    t.ok(&["start"]);
    wait_for("healthy", PATIENCE, || health(&t, "w") == "healthy");
    std::fs::remove_file(t.path().join("ok")).expect("rm ok");
    wait_for("unhealthy", PATIENCE, || {
        health(&t, "w") == "unhealthy: the check ended with exit code 1"
    });
    // A command that cannot start says so, distinct from one that fails.
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nargs = [\"600\"]\nhealth = { exec = [\"/no/such/check\"], every = \"200ms\", timeout = \"150ms\", grace = \"0s\", restart = false }\n",
    );
    t.ok(&["restart", "ecosystem.toml"]);
    wait_for("the check cannot start", PATIENCE, || {
        health(&t, "w").starts_with("unhealthy: the check cannot start: /no/such/check")
    });
    t.finish();
}

#[test]
fn malformed_health_tables_are_located_errors() {
    let t = TempHome::new();
    for (table, says) in [
        (
            "{ http = \"http://127.0.0.1:1/\", tcp = \"127.0.0.1:1\" }",
            "exactly one check",
        ),
        (
            "{ grpc = \"127.0.0.1:1\" }",
            "unknown key `grpc` in health: the checks are http",
        ),
        (
            "{ tcp = \"127.0.0.1:1\", every = \"1s\", timeout = \"2s\" }",
            "must be shorter than every",
        ),
        (
            "{ http = \"https://127.0.0.1/\" }",
            "https is not supported",
        ),
    ] {
        t.write(
            "ecosystem.toml",
            &format!("[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nhealth = {table}\n"),
        );
        let out = t.run(&["start"]);
        assert_eq!(out.status.code(), Some(2), "{table}");
        let err = text(&out.stderr);
        assert!(
            err.contains("ecosystem.toml:4") && err.contains(says),
            "{table}: {err}"
        );
    }
    t.finish();
}

#[test]
fn a_tcp_check_to_a_listening_port_is_healthy() {
    let t = TempHome::new();
    let port = free_port();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"api\"\nscript = \"python3\"\nargs = [\"{}\", \"{port}\"]\nhealth = {{ tcp = \"127.0.0.1:{port}\", every = \"200ms\", timeout = \"100ms\", grace = \"5s\" }}\n",
            fixture("health_server.py")
        ),
    );
    t.ok(&["start"]);
    wait_for("healthy", PATIENCE, || health(&t, "api") == "healthy");
    t.finish();
}

#[test]
fn http_checks_keep_their_connection_and_a_server_closing_it_is_no_failure() {
    let t = TempHome::new();
    let port = free_port();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"api\"\nscript = \"python3\"\nargs = [\"{}\", \"{port}\"]\nenv = {{ KEEP_ALIVE = \"1\" }}\nhealth = {{ http = \"http://127.0.0.1:{port}/health\", every = \"400ms\", timeout = \"350ms\", retries = 1, grace = \"0s\" }}\n",
            fixture("health_server.py")
        ),
    );
    let count = |what: &str| -> u64 {
        std::fs::read_to_string(t.path().join(what))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    t.ok(&["start"]);
    wait_for("eight checks", PATIENCE, || count("requests") >= 8);
    assert_eq!(health(&t, "api"), "healthy");
    // One connection carried them all (HTTP keep-alive).
    assert_eq!(count("connections"), 1, "{} requests", count("requests"));

    // The server closes each connection after its answer (as an idle timeout does): the next
    // check finds it closed and goes again on a new one, never counted as a failure (one
    // failure would restart the app: retries = 1).
    t.write("drop", "");
    let from = count("requests");
    wait_for("eight more checks", PATIENCE, || {
        count("requests") >= from + 8
    });
    assert!(count("connections") >= 5, "{}", count("connections"));
    let app = t.app("api");
    assert_eq!(app["restarts"], 0, "{app}");
    assert_eq!(health(&t, "api"), "healthy");
    assert!(ledger_causes(&t, "api").is_empty());
    t.finish();
}
