//! `/metrics`: a snapshot of the host in OpenMetrics text (the Prometheus project's encoder),
//! or in Prometheus' text format 0.0.4 for a scraper that does not ask for OpenMetrics.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::data::{QueueState, Snapshot};
use crate::policy::Status;
use crate::proto::ConsumptionState;

type Labels = Vec<(String, String)>;

/// Every status an app can be in: one series each, 1 for the current one (a state set).
const STATUSES: [Status; 10] = [
    Status::Waiting,
    Status::Launching,
    Status::Online,
    Status::WaitingRestart,
    Status::Stopping,
    Status::Stopped,
    Status::Errored,
    Status::Completed,
    Status::Failed,
    Status::Lost,
];

/// The snapshot in OpenMetrics text, ending with `# EOF`.
pub fn openmetrics(s: &Snapshot, apps_error: Option<&str>) -> String {
    let mut r = Registry::with_prefix("tpctl");
    let labels = |host: &str, extra: &[(&str, &str)]| -> Labels {
        let mut l = vec![("host".to_string(), host.to_string())];
        l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l
    };
    let host = |extra: &[(&str, &str)]| labels(&s.host, extra);
    // This host's apps, and with `scope=fleet` those of every live host of the fleet.
    let mut tables: Vec<(&str, &[super::data::AppView])> = vec![(&s.host, &s.apps)];
    for h in s.fleet.iter().flatten().filter(|h| !h.gone) {
        tables.push((&h.host, &h.apps));
    }

    let info = Info::new(host(&[("version", env!("CARGO_PKG_VERSION"))]));
    r.register("build", "The tpctl that serves these metrics", info);

    let keepers_up = Family::<Labels, Gauge>::default();
    keepers_up
        .get_or_create(&host(&[]))
        .set(i64::from(apps_error.is_none()));
    r.register(
        "apps_readable",
        "1 when the apps' keepers and state files could be read, 0 when not (then no app series)",
        keepers_up,
    );

    let up = Family::<Labels, Gauge>::default();
    let status = Family::<Labels, Gauge>::default();
    let restarts = Family::<Labels, Counter>::default();
    let cpu = Family::<Labels, Counter<f64, AtomicU64>>::default();
    let memory = Family::<Labels, Gauge>::default();
    let limit = Family::<Labels, Gauge>::default();
    let started = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let consuming = Family::<Labels, Gauge>::default();
    for (on, a) in tables
        .iter()
        .flat_map(|(on, apps)| apps.iter().map(move |a| (*on, a)))
    {
        let st = &a.status;
        let instance = st.instance.map(|i| i.to_string()).unwrap_or_default();
        let l = labels(on, &[("app", &st.name), ("instance", &instance)]);
        up.get_or_create(&l)
            .set(i64::from(st.status == Status::Online));
        for candidate in STATUSES {
            let mut ls = l.clone();
            ls.push(("status".into(), candidate.as_str().into()));
            status
                .get_or_create(&ls)
                .set(i64::from(st.status == candidate));
        }
        restarts.get_or_create(&l).inc_by(u64::from(st.restarts));
        if let Some(c) = st.cpu_seconds {
            cpu.get_or_create(&l).inc_by(c);
        }
        if let Some(m) = st.memory_bytes {
            memory.get_or_create(&l).set(m as i64);
        }
        if let Some(m) = a.memory_limit {
            limit.get_or_create(&l).set(m as i64);
        }
        // Known states only: an unknown one (Valkey unreadable) is no sample, not a 0.
        for c in &st.consumption {
            let on = match c.state {
                ConsumptionState::Consuming => 1,
                ConsumptionState::NotConsuming => 0,
                _ => continue,
            };
            let mut ls = l.clone();
            ls.push(("queue".into(), c.queue.clone()));
            consuming.get_or_create(&ls).set(on);
        }
        if let Some(up_ms) = st.uptime_ms {
            started
                .get_or_create(&l)
                .set(s.at_ms.saturating_sub(up_ms) as f64 / 1000.0);
        }
    }
    r.register("app_up", "1 when the app instance is online", up);
    r.register(
        "app_status",
        "1 for the status the app instance is in, 0 for the others",
        status,
    );
    r.register(
        "app_restarts",
        "Restarts of the app instance (crashes, memory limit, cron, operators)",
        restarts,
    );
    r.register_with_unit(
        "app_cpu",
        "CPU time of the app instance's process tree, over its runs while its keeper lives",
        Unit::Seconds,
        cpu,
    );
    r.register_with_unit(
        "app_memory",
        "Resident memory of the app instance's process tree",
        Unit::Bytes,
        memory,
    );
    r.register_with_unit(
        "app_memory_limit",
        "The app's max_memory_restart",
        Unit::Bytes,
        limit,
    );
    r.register(
        "app_consuming",
        "1 when the app instance holds a worker connection on the queue (Valkey's client list), 0 when not",
        consuming,
    );
    r.register_with_unit(
        "app_start_time",
        "When the app instance's current run started, since the Unix epoch",
        Unit::Seconds,
        started,
    );

    if let Some(fleet) = &s.fleet {
        let host_up = Family::<Labels, Gauge>::default();
        let last_seen = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        host_up.get_or_create(&host(&[])).set(1);
        last_seen
            .get_or_create(&host(&[]))
            .set(s.at_ms as f64 / 1000.0);
        for h in fleet {
            host_up
                .get_or_create(&labels(&h.host, &[]))
                .set(i64::from(!h.gone));
            last_seen
                .get_or_create(&labels(&h.host, &[]))
                .set(h.last_seen_ms as f64 / 1000.0);
        }
        r.register(
            "host_up",
            "1 while the host's tpctl web publishes to the fleet, 0 once its entry expired",
            host_up,
        );
        r.register_with_unit(
            "host_last_seen",
            "When the host last published to the fleet, since the Unix epoch",
            Unit::Seconds,
            last_seen,
        );
    }

    let valkey_up = Family::<Labels, Gauge>::default();
    let jobs = Family::<Labels, Gauge>::default();
    let workers = Family::<Labels, Gauge>::default();
    let paused = Family::<Labels, Gauge>::default();
    let readable = Family::<Labels, Gauge>::default();
    let completed = Family::<Labels, Counter>::default();
    let failed = Family::<Labels, Counter>::default();
    match &s.queues {
        QueueState::NotConfigured => {}
        QueueState::Down { .. } => {
            valkey_up.get_or_create(&host(&[])).set(0);
        }
        QueueState::Up { rows, finished, .. } => {
            valkey_up.get_or_create(&host(&[])).set(1);
            for (q, f) in finished {
                let l = host(&[("queue", q)]);
                if let Some(n) = f.completed {
                    completed.get_or_create(&l).inc_by(n);
                }
                if let Some(n) = f.failed {
                    failed.get_or_create(&l).inc_by(n);
                }
            }
            for q in rows {
                let l = host(&[("queue", &q.queue)]);
                readable.get_or_create(&l).set(i64::from(q.error.is_none()));
                if q.error.is_some() {
                    continue;
                }
                let c = &q.counts;
                for (state, n) in [
                    ("waiting", c.waiting),
                    ("active", c.active),
                    ("delayed", c.delayed),
                    ("prioritized", c.prioritized),
                    ("paused", c.paused),
                    ("waiting-children", c.waiting_children),
                    ("completed", c.completed),
                    ("failed", c.failed),
                ] {
                    let mut ls = l.clone();
                    ls.push(("state".into(), state.into()));
                    jobs.get_or_create(&ls).set(n as i64);
                }
                workers.get_or_create(&l).set(q.workers as i64);
                paused
                    .get_or_create(&l)
                    .set(i64::from(q.status == "paused"));
            }
        }
    }
    r.register(
        "valkey_up",
        "1 when Valkey answered this scrape, 0 when it did not (absent: no VALKEY_URL)",
        valkey_up,
    );
    r.register(
        "queue_readable",
        "1 when the queue's keys could be read",
        readable,
    );
    r.register("queue_jobs", "Jobs of the queue in each state", jobs);
    r.register(
        "queue_workers",
        "Workers connected to the queue (BullMQ's getWorkers)",
        workers,
    );
    r.register("queue_paused", "1 when the queue is paused", paused);
    r.register(
        "queue_completed",
        "Jobs the queue's workers completed, as BullMQ's metrics count them (workers with the metrics option, as tp-worker's)",
        completed,
    );
    r.register(
        "queue_failed",
        "Jobs that failed in the queue, as BullMQ's metrics count them",
        failed,
    );

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// Prometheus' text format 0.0.4 from OpenMetrics text: no `# EOF` or `# UNIT`, a counter's
/// family named as its `_total` sample, an info family as a gauge named `_info`.
pub fn prometheus_text(openmetrics: &str) -> String {
    let mut kinds: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            kinds.insert(name, kind);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        if let Some((tag, rest)) = meta
            && let Some((name, tail)) = rest.split_once(' ')
        {
            let (name, tail) = match kinds.get(name).copied() {
                Some("counter") => (format!("{name}_total"), tail.to_string()),
                Some("info") => (
                    format!("{name}_info"),
                    if tag == "# TYPE " {
                        "gauge".to_string()
                    } else {
                        tail.to_string()
                    },
                ),
                _ => (name.to_string(), tail.to_string()),
            };
            out.push_str(&format!("{tag}{name} {tail}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
