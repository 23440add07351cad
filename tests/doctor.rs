//! `tpctl doctor` against real servers: a private redis-server and the machine's PostgreSQL.

mod common;

use common::*;

const PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn eco(t: &TempHome, valkey: &str, database: &str, concurrency: u32) {
    t.write(
        "ecosystem.toml",
        &format!(
            "[defaults]\nkill_timeout = \"30s\"\nenv = {{ VALKEY_URL = \"{valkey}\", DATABASE_URL = \"{database}\", EMAIL_SERVER_HOST = \"localhost\", EMAIL_FROM = \"tp@localhost\", NEXTAUTH_URL = \"http://localhost:3000\" }}\n\n\
             [[apps]]\nname = \"email-worker\"\nscript = \"/bin/sleep\"\nqueue = \"emails\"\nconcurrency = {concurrency}\n"
        ),
    );
}

fn doctor(t: &TempHome) -> (i32, Vec<serde_json::Value>) {
    let out = t.run(&["doctor", "--json"]);
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    (out.status.code().unwrap_or(-1), lines)
}

fn failing(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["verdict"] == "fail")
        .map(|l| {
            format!(
                "{}: {}",
                l["check"].as_str().unwrap_or(""),
                l["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_healthy_setup_passes() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    eco(&t, &redis.url(), PG, 3);
    let (code, lines) = doctor(&t);
    assert_eq!(failing(&lines), Vec::<String>::new());
    assert_eq!(code, 0);
    assert!(
        lines
            .iter()
            .any(|l| l["check"] == "valkey"
                && l["detail"].as_str().unwrap_or("").contains("Redis 7")),
        "{lines:?}"
    );
    let human = t.run(&["doctor"]);
    assert!(
        text(&human.stdout).contains("✓ postgres"),
        "{}",
        text(&human.stdout)
    );
}

#[test]
fn a_stopped_valkey_is_a_failed_line_and_exit_1() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let t = TempHome::new();
    eco(&t, &url, PG, 3);
    let started = std::time::Instant::now();
    let (code, lines) = doctor(&t);
    assert_eq!(code, 1);
    let fails = failing(&lines);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].starts_with("valkey: cannot reach Valkey at")
            && fails[0].contains("start it or fix VALKEY_URL"),
        "{fails:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "doctor must not hang on a dead service"
    );
}

#[test]
fn an_unreachable_postgres_is_a_failed_line_without_its_password() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    eco(&t, &redis.url(), "postgres://tp:hunter2@127.0.0.1:1/tp", 3);
    let (code, lines) = doctor(&t);
    assert_eq!(code, 1);
    let fails = failing(&lines);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].starts_with(
            "postgres: cannot connect to PostgreSQL at postgres://tp:<redacted>@127.0.0.1:1/tp"
        ),
        "{fails:?}"
    );
    assert!(
        !serde_json::to_string(&lines)
            .unwrap_or_default()
            .contains("hunter2")
    );
}

#[test]
fn too_small_max_connections_for_the_workers_concurrency_fails() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    eco(&t, &redis.url(), PG, 5000);
    let (code, lines) = doctor(&t);
    assert_eq!(code, 1);
    let fails = failing(&lines);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].contains("max_connections is")
            && fails[0].contains("adds up to 5000")
            && fails[0].contains("raise max_connections to at least 5010"),
        "{fails:?}"
    );
}

#[test]
fn missing_env_vars_are_named_never_their_values() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    t.write("ecosystem.toml", &format!("[[apps]]\nname = \"email-worker\"\nscript = \"/bin/sleep\"\nqueue = \"emails\"\nenv = {{ VALKEY_URL = \"{0}\", DATABASE_URL = \"{PG}\" }}\n\n[[apps]]\nname = \"reindex-worker\"\nscript = \"/bin/sleep\"\nqueue = \"elasticsearch-reindex\"\nenv = {{ VALKEY_URL = \"{0}\", DATABASE_URL = \"{PG}\", ELASTICSEARCH_NODE = \"\" }}\n", redis.url()));
    let (code, lines) = doctor(&t);
    assert_eq!(code, 1);
    let fails = failing(&lines);
    assert!(fails.iter().any(|f| f == "env: email-worker: missing EMAIL_SERVER_HOST, EMAIL_FROM, NEXTAUTH_URL (set them in its env_file or env)"), "{fails:?}");
    assert!(
        fails.iter().any(|f| f
            == "env: reindex-worker: missing ELASTICSEARCH_NODE (set them in its env_file or env)"),
        "{fails:?}"
    );
}

#[test]
fn an_ecosystem_without_queues_skips_valkey_and_postgres() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"web\"\nscript = \"/bin/sleep\"\nargs = [\"60\"]\n",
    );
    let out = t
        .cmd(&["doctor", "--json"])
        .env_remove("VALKEY_URL")
        .env_remove("DATABASE_URL")
        .output()
        .expect("doctor");
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(failing(&lines), Vec::<String>::new());
    for check in ["valkey", "postgres"] {
        let line = lines
            .iter()
            .find(|l| l["check"] == check)
            .unwrap_or_else(|| panic!("no {check} line: {lines:?}"));
        assert_eq!(line["verdict"], "skip", "{line}");
        assert!(
            line["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("skipped: no app works a queue"),
            "{line}"
        );
    }
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_bullmq_prefix_is_shown_and_checked() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    eco(&t, &redis.url(), PG, 3);
    let run = |prefix: &str| {
        let out = t
            .cmd(&["doctor", "--json"])
            .env("BULLMQ_PREFIX", prefix)
            .output()
            .expect("doctor");
        let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
        (out.status.code(), lines)
    };
    let (code, lines) = run("tp-prod");
    assert_eq!(code, Some(0), "{lines:?}");
    assert!(
        lines.iter().any(|l| l["check"] == "valkey"
            && l["detail"]
                .as_str()
                .unwrap_or("")
                .contains(r#"queues under prefix "tp-prod""#)),
        "{lines:?}"
    );
    let (code, lines) = run("tp:prod");
    assert_eq!(code, Some(1));
    assert!(
        failing(&lines)
            .iter()
            .any(|f| f.starts_with(r#"valkey: BULLMQ_PREFIX "tp:prod" is not a valid key prefix"#)),
        "{lines:?}"
    );
}

#[test]
fn a_sync_worker_without_encryption_key_is_warned_about_not_failed() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    let app = |name: &str, key: &str| {
        format!(
            "[[apps]]\nname = \"{name}\"\nscript = \"/bin/sleep\"\nqueue = \"issue-sync\"\nkill_timeout = \"3m\"\nenv = {{ VALKEY_URL = \"{}\", DATABASE_URL = \"{PG}\"{key} }}\n",
            redis.url()
        )
    };
    t.write(
        "ecosystem.toml",
        &format!(
            "{}\n{}",
            app("sync-worker", ""),
            app("keyed-sync", ", ENCRYPTION_KEY = \"k\"")
        ),
    );
    let (_, lines) = doctor(&t);
    let warned: Vec<String> = lines
        .iter()
        .filter(|l| l["verdict"] == "warn" && l["check"] == "env")
        .map(|l| l["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        warned,
        [
            "sync-worker: ENCRYPTION_KEY is not set: stored credentials are read with TestPlanIt's development key; set the web app's ENCRYPTION_KEY if it has one"
        ],
        "{lines:?}"
    );
    assert!(
        failing(&lines)
            .iter()
            .all(|f| !f.contains("ENCRYPTION_KEY"))
    );
}

#[test]
fn a_testmo_import_worker_without_s3_keys_is_warned_about_not_failed() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    let app = |name: &str, keys: &str| {
        format!(
            "[[apps]]\nname = \"{name}\"\nscript = \"/bin/sleep\"\nqueue = \"testmo-imports\"\nenv = {{ VALKEY_URL = \"{}\", DATABASE_URL = \"{PG}\"{keys} }}\n",
            redis.url()
        )
    };
    t.write(
        "ecosystem.toml",
        &format!(
            "{}\n{}\n{}",
            app("testmo-import-worker", ""),
            app("half-keyed", ", AWS_ACCESS_KEY_ID = \"k\""),
            app(
                "keyed",
                ", AWS_ACCESS_KEY_ID = \"k\", AWS_SECRET_ACCESS_KEY = \"s\""
            )
        ),
    );
    let (_, lines) = doctor(&t);
    let warned: Vec<String> = lines
        .iter()
        .filter(|l| l["verdict"] == "warn" && l["check"] == "env")
        .map(|l| l["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    let tail = "not set: Testmo imports cannot read their uploads from S3; set the web app's AWS_* settings (or remove the app if you do not import from Testmo)";
    assert_eq!(
        warned,
        [
            format!("testmo-import-worker: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY {tail}"),
            format!("half-keyed: AWS_SECRET_ACCESS_KEY {tail}"),
        ],
        "{lines:?}"
    );
    assert!(
        failing(&lines).iter().all(|f| !f.contains("AWS_")),
        "{lines:?}"
    );
}

fn kill_timeout_warnings(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["check"] == "kill_timeout")
        .map(|l| l["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A stop must wait as long as a running job may need to end: BullMQ's 30 s lock, or for the
/// sync and reindex workers (which hand a long job back between two steps) one step's 3 min.
#[test]
fn kill_timeout_is_checked_against_what_each_queue_needs_to_stop() {
    let redis = RedisServer::start();
    let t = TempHome::new();
    let app = |name: &str, queue: &str, kill: &str| {
        format!(
            "[[apps]]\nname = \"{name}\"\nscript = \"/bin/sleep\"\nqueue = \"{queue}\"\nkill_timeout = \"{kill}\"\n\n"
        )
    };
    t.write(
        "ecosystem.toml",
        &format!(
            "[defaults]\nenv = {{ VALKEY_URL = \"{}\", DATABASE_URL = \"{PG}\", ELASTICSEARCH_NODE = \"http://127.0.0.1:9\", ENCRYPTION_KEY = \"k\" }}\n\n{}{}{}{}",
            redis.url(),
            app("audit-worker", "audit-logs", "10s"),
            app("sync-worker", "issue-sync", "1m"),
            app("reindex-worker", "elasticsearch-reindex", "3m"),
            app("forecast-worker", "forecast-updates", "30s"),
        ),
    );
    let (_, lines) = doctor(&t);
    let warned = kill_timeout_warnings(&lines);
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(
        warned[0].starts_with("audit-worker: kill_timeout 10s is shorter than the 30s"),
        "{warned:?}"
    );
    assert!(
        warned[1].starts_with("sync-worker: kill_timeout 1m is shorter than the 3m"),
        "{warned:?}"
    );

    // The file this repository ships asks for no more than it gives.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/ecosystem.toml");
    let out = t.run(&["doctor", shipped, "--json"]);
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert!(
        lines
            .iter()
            .any(|l| l["check"] == "ecosystem" && l["verdict"] == "ok"),
        "{lines:?}"
    );
    assert_eq!(kill_timeout_warnings(&lines), Vec::<String>::new());
}
