//! The dashboard drawn into ratatui's TestBackend and compared with snapshots in
//! `src/monit/snapshots/` (rewrite them with `TPCTL_UPDATE_SNAPSHOTS=1 cargo test monit`
//! and review the diff), and the keys driven through the pure model.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use tp_bullmq::Counts;

use super::feeds;
use super::model::{Action, Effect, LogLine, Mode, Model, QueueFigures, Valkey};
use super::view;
use crate::policy::{Exit, Status};
use crate::proto::AppStatus;
use crate::queues::QueueRow;

/// 2026-11-28 12:34:56Z.
const NOW: u64 = 1_795_869_296_000;
const ADDRESS: &str = "redis://127.0.0.1:6379";

fn app(name: &str, status: Status, cpu: f64, mem_mib: u64) -> AppStatus {
    let mut s = AppStatus::stopped(name, name, None, NOW - 3_600_000);
    s.status = status;
    if status == Status::Online {
        s.pid = Some(41_000 + name.len() as u32);
        s.keeper_pid = Some(40_000 + name.len() as u32);
        s.uptime_ms = Some(3 * 3_600_000 + 125_000);
        s.cpu_percent = Some(cpu);
        s.memory_bytes = Some(mem_mib * 1024 * 1024);
    }
    s
}

fn queue(name: &str, workers: usize, counts: Counts, paused: bool, per_min: u64) -> QueueFigures {
    QueueFigures {
        row: QueueRow {
            queue: name.into(),
            status: crate::queues::status_word(paused, &counts),
            concurrency: Some(workers as u32 * 5),
            workers,
            no_worker: crate::queues::no_worker(
                crate::queues::status_word(paused, &counts),
                &counts,
                workers,
            ),
            counts,
            error: None,
            worker_ips: vec![],
            consumers: vec![],
        },
        per_min: Some(per_min),
    }
}

fn counts(waiting: u64, active: u64, delayed: u64, failed: u64, completed: u64) -> Counts {
    Counts {
        waiting,
        active,
        delayed,
        failed,
        completed,
        ..Counts::default()
    }
}

/// TestPlanIt's workers, with 12 samples of history.
fn fleet(email: Status) -> Model {
    fleet_sampled(email, 12)
}

/// TestPlanIt's workers, with `samples` samples of history.
fn fleet_sampled(email: Status, samples: u64) -> Model {
    let mut m = Model::new(Valkey::Connecting {
        address: ADDRESS.into(),
    });
    for i in 0..samples {
        let wave = (i % 4) as f64;
        let mut email_app = app("email-worker", email, 1.0 + wave, 48 + i);
        if email == Status::Errored {
            email_app.restarts = 15;
            email_app.reason =
                Some("crash loop: 15 restarts within 60s (last exit: code 1)".into());
            email_app.last_exit = Some(Exit::Code(1));
        }
        m.set_apps(vec![
            (app("scheduler", Status::Completed, 0.0, 0), vec![]),
            (
                app("notification-worker", Status::Online, 0.5 + wave * 3.0, 52),
                vec!["notifications".into()],
            ),
            (email_app, vec!["emails".into()]),
            (
                app(
                    "forecast-worker",
                    Status::Online,
                    12.0 + wave * 10.0,
                    60 + i * 2,
                ),
                vec!["forecast-updates".into()],
            ),
            (
                app("audit-log-worker", Status::Online, 0.2, 41),
                vec!["audit-logs".into()],
            ),
        ]);
    }
    let email_workers = usize::from(email == Status::Online);
    m.set_queues(
        ADDRESS.into(),
        vec![
            queue("audit-logs", 1, counts(0, 0, 0, 0, 1830), false, 31),
            queue(
                "emails",
                email_workers,
                counts(12, 0, 3, 2, 10_450),
                false,
                0,
            ),
            queue(
                "forecast-updates",
                1,
                counts(240, 5, 0, 0, 56_120),
                false,
                622,
            ),
            queue("notifications", 1, counts(0, 1, 0, 0, 4_211), true, 18),
            queue("testmo-imports", 0, counts(1, 0, 0, 0, 0), false, 0),
        ],
    );
    m.set_logs(
        "scheduler",
        vec![
            line(
                "registered forecast-updates: update-all-cases-forecast at 0 3 * * *",
                false,
            ),
            line(
                "registered notifications: send-daily-digest at 0 8 * * *",
                false,
            ),
            line("scheduler done in 84ms", false),
        ],
    );
    m
}

fn line(text: &str, err: bool) -> LogLine {
    LogLine {
        err,
        text: text.into(),
    }
}

fn render(m: &Model, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    t.draw(|f| view::draw(f, m, NOW)).expect("drawing");
    t.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut row = String::new();
        for x in 0..area.width {
            row.push_str(buf[(x, y)].symbol());
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

fn check(name: &str, buf: &Buffer) {
    let path = format!(
        "{}/src/monit/snapshots/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let got = text(buf);
    if std::env::var_os("TPCTL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &got).expect("writing the snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {path}: {e}; create it with TPCTL_UPDATE_SNAPSHOTS=1")
    });
    assert!(
        got == want,
        "{name} differs from {path}\n--- got ---\n{got}--- want ---\n{want}"
    );
}

/// The cell where `needle` starts on the screen, on the first row that also holds `row_has`.
fn find(buf: &Buffer, row_has: &str, needle: &str) -> (u16, u16) {
    let t = text(buf);
    for (y, row) in t.lines().enumerate() {
        if !row.contains(row_has) {
            continue;
        }
        if let Some(x) = row.find(needle) {
            let x = row[..x].chars().count();
            return (x as u16, y as u16);
        }
    }
    panic!("{needle:?} is not on the screen:\n{t}");
}

#[test]
fn normal_screen() {
    let buf = render(&fleet(Status::Online), 140, 30);
    check("normal", &buf);
    // The queue with waiting jobs and nobody to take them is called out.
    assert!(text(&buf).contains("no worker connected, jobs waiting"));
}

#[test]
fn errored_app_stands_out() {
    let mut m = fleet(Status::Errored);
    // Select another app: the errored row is red on its own merit, not by selection.
    m.on_key(key(KeyCode::Down));
    let buf = render(&m, 140, 30);
    check("errored", &buf);
    let (x, y) = find(&buf, "email-worker", "errored");
    let cell = &buf[(x, y)];
    assert_eq!(cell.fg, Color::Red);
    assert!(cell.modifier.contains(Modifier::BOLD));
    // Its queue now has waiting jobs and no worker.
    let t = text(&buf);
    let emails = t
        .lines()
        .find(|l| l.contains("emails "))
        .expect("emails row");
    assert!(emails.contains("no worker connected"), "{emails}");
}

#[test]
fn valkey_down_keeps_processes_live() {
    let mut m = fleet(Status::Online);
    m.queues_down(
        ADDRESS.into(),
        "cannot connect to redis://127.0.0.1:6379: Connection refused (os error 111)".into(),
        NOW - 12_000,
    );
    let buf = render(&m, 140, 30);
    check("valkey_down", &buf);
    let t = text(&buf);
    assert!(t.contains("DOWN"));
    assert!(t.contains("Connection refused"));
    // Process figures are still there; the queue figures are not shown stale.
    assert!(t.contains("forecast-worker"));
    assert!(!t.contains("56.1k"));
}

#[test]
fn narrow_terminal_keeps_the_essentials() {
    let buf = render(&fleet(Status::Online), 64, 24);
    check("narrow", &buf);
    let t = text(&buf);
    for must in [
        "app",
        "status",
        "mem",
        "wait",
        "notification-worker",
        "online",
    ] {
        assert!(t.contains(must), "{must} missing:\n{t}");
    }
    assert!(!t.contains("cpu hist"));
}

#[test]
fn wide_terminal_gives_history_and_the_log_the_room() {
    let mut m = fleet_sampled(Status::Online, 100);
    let long = format!("sending mail to {} failed: 554 rejected", "x".repeat(120));
    m.set_logs(
        "email-worker",
        (0..40)
            .map(|n| line(&format!("line {n}"), false))
            .chain([line(&long, true)])
            .collect(),
    );
    let buf = render(&m, 200, 40);
    check("wide", &buf);
    let t = text(&buf);
    // The history columns take what the other columns leave: more than their 10 cells.
    let forecast = t
        .lines()
        .find(|l| l.contains("forecast-worker"))
        .expect("forecast-worker row");
    let longest_spark = forecast
        .split_whitespace()
        .filter(|w| w.chars().all(|c| ('▁'..='█').contains(&c)))
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0);
    assert!(longest_spark > 25, "{forecast}");
    // The log pane is beside the queues, not under them, and taller than the queue table.
    let (qx, qy) = find(&buf, "Queues", "Queues");
    let (lx, ly) = find(&buf, "Log ·", "Log ·");
    assert_eq!(qy, ly, "{t}");
    assert!(lx > qx + 100, "{t}");
    // A long line is wrapped, its end on screen; the newest lines are at the bottom.
    assert!(t.contains("failed: 554 rejected"), "{t}");
    assert!(t.contains("line 39"), "{t}");
    // The queue note is whole, not stretched.
    assert!(t.contains("no worker connected, jobs waiting"), "{t}");
}

#[test]
fn tiny_terminal_does_not_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (0, 0)] {
        render(&fleet(Status::Online), w, h);
    }
}

#[test]
fn overlays_draw_over_the_dashboard() {
    let mut m = fleet(Status::Online);
    m.on_key(key(KeyCode::Char('?')));
    let t = text(&render(&m, 140, 30));
    assert!(t.contains("Keys (any key closes)"), "{t}");
    m.on_key(key(KeyCode::Esc));
    assert_eq!(m.mode, Mode::Main);
    m.on_key(key(KeyCode::Down));
    m.on_key(key(KeyCode::Enter));
    let t = text(&render(&m, 140, 30));
    assert!(t.contains("keeper pid"), "{t}");
    assert!(t.contains("queue notifications"), "{t}");
    m.on_key(key(KeyCode::Char('x')));
    m.on_key(key(KeyCode::Char('r')));
    let t = text(&render(&m, 140, 30));
    assert!(
        t.contains("Really restart notification-worker? y confirms"),
        "{t}"
    );
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn select(m: &mut Model, id: &str) {
    m.on_key(key(KeyCode::Char('g')));
    while m.selected().map(|a| a.status.id.as_str()) != Some(id) {
        let before = m.selected_index();
        m.on_key(key(KeyCode::Char('j')));
        assert_ne!(before, m.selected_index(), "{id} not found");
    }
}

#[test]
fn destructive_keys_ask_first() {
    let mut m = fleet(Status::Online);
    select(&mut m, "email-worker");
    assert_eq!(m.on_key(key(KeyCode::Char('r'))), None);
    assert_eq!(
        m.mode,
        Mode::Confirm(Action::Restart("email-worker".into()))
    );
    // Anything but y cancels.
    assert_eq!(m.on_key(key(KeyCode::Char('n'))), None);
    assert_eq!(m.mode, Mode::Main);
    m.on_key(key(KeyCode::Char('r')));
    assert_eq!(
        m.on_key(key(KeyCode::Char('y'))),
        Some(Effect::Run(Action::Restart("email-worker".into())))
    );
    for (k, want) in [
        ('s', Action::Stop("email-worker".into())),
        ('p', Action::Pause(vec!["emails".into()])),
        ('R', Action::RetryFailed(vec!["emails".into()])),
        ('c', Action::Clean(vec!["emails".into()])),
    ] {
        assert_eq!(m.on_key(key(KeyCode::Char(k))), None, "{k}");
        assert_eq!(m.mode, Mode::Confirm(want.clone()), "{k}");
        assert_eq!(
            m.on_key(key(KeyCode::Char('y'))),
            Some(Effect::Run(want)),
            "{k}"
        );
    }
}

#[test]
fn harmless_keys_act_at_once() {
    let mut m = fleet(Status::Online);
    select(&mut m, "scheduler");
    // A settled app is started, without a question.
    assert_eq!(
        m.on_key(key(KeyCode::Char('s'))),
        Some(Effect::Run(Action::Start("scheduler".into())))
    );
    // A paused queue is resumed.
    select(&mut m, "notification-worker");
    assert_eq!(
        m.on_key(key(KeyCode::Char('p'))),
        Some(Effect::Run(Action::Resume(vec!["notifications".into()])))
    );
}

#[test]
fn queue_keys_explain_when_they_cannot_act() {
    let mut m = fleet(Status::Online);
    select(&mut m, "scheduler");
    assert_eq!(m.on_key(key(KeyCode::Char('p'))), None);
    assert_eq!(m.mode, Mode::Main);
    let msg = m.message.clone().expect("a hint");
    assert!(msg.text.contains("consumes no queue"), "{}", msg.text);
    select(&mut m, "email-worker");
    m.queues_down(ADDRESS.into(), "Connection refused".into(), NOW);
    assert_eq!(m.on_key(key(KeyCode::Char('R'))), None);
    assert_eq!(m.mode, Mode::Main);
    let msg = m.message.clone().expect("a hint");
    assert!(msg.text.contains("not reachable"), "{}", msg.text);
}

#[test]
fn selection_follows_the_app_and_quitting_works_everywhere() {
    let mut m = fleet(Status::Online);
    select(&mut m, "forecast-worker");
    // The list changes order and loses an app: the selection stays on forecast-worker.
    m.set_apps(vec![
        (app("forecast-worker", Status::Online, 1.0, 60), vec![]),
        (app("scheduler", Status::Completed, 0.0, 0), vec![]),
    ]);
    assert_eq!(
        m.selected().map(|a| a.status.id.as_str()),
        Some("forecast-worker")
    );
    // The selected app goes away: the first one is selected.
    m.set_apps(vec![(app("scheduler", Status::Completed, 0.0, 0), vec![])]);
    assert_eq!(
        m.selected().map(|a| a.status.id.as_str()),
        Some("scheduler")
    );
    // Selection stops at both ends.
    m.on_key(key(KeyCode::Up));
    m.on_key(key(KeyCode::Down));
    assert_eq!(m.selected_index(), Some(0));

    assert_eq!(m.on_key(key(KeyCode::Char('q'))), Some(Effect::Quit));
    assert_eq!(m.on_key(key(KeyCode::Esc)), Some(Effect::Quit));
    m.on_key(key(KeyCode::Char('r')));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(m.on_key(ctrl_c), Some(Effect::Quit));
}

#[test]
fn full_log_scrolls_and_follows() {
    let mut m = fleet(Status::Online);
    select(&mut m, "email-worker");
    m.set_logs(
        "email-worker",
        (0..100)
            .map(|i| line(&format!("line {i}"), i % 10 == 0))
            .collect(),
    );
    m.on_key(key(KeyCode::Char('l')));
    let t = text(&render(&m, 80, 12));
    assert!(t.contains("line 99") && !t.contains("line 80"), "{t}");
    m.on_key(key(KeyCode::PageUp));
    let buf = render(&m, 80, 12);
    let t = text(&buf);
    assert!(t.contains("line 89") && !t.contains("line 99"), "{t}");
    assert!(t.contains("scrolled up 10 lines"), "{t}");
    // stderr lines are red.
    let (x, y) = find(&buf, "line 80", "line 80");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    m.on_key(key(KeyCode::End));
    m.push_logs(vec![line("line 100", false)]);
    assert!(text(&render(&m, 80, 12)).contains("line 100"));
    m.on_key(key(KeyCode::Esc));
    assert_eq!(m.mode, Mode::Main);
}

#[test]
fn actions_become_tpctl_commands() {
    let qs = vec!["emails".to_string()];
    assert_eq!(
        feeds::commands(&Action::Restart("email-worker".into())),
        vec![vec!["--quiet", "restart", "email-worker"]]
    );
    assert_eq!(
        feeds::commands(&Action::RetryFailed(qs.clone())),
        vec![vec!["queue", "emails", "retry", "--all-failed", "--yes"]]
    );
    let clean = feeds::commands(&Action::Clean(qs));
    assert_eq!(clean.len(), 2);
    assert!(clean[0].iter().any(|a| a == "completed"));
    assert!(clean[1].iter().any(|a| a == "failed"));
}

#[test]
fn a_long_valkey_url_is_ellipsized_and_instances_show_their_ids() {
    let mut m = fleet(Status::Online);
    let mut apps: Vec<(AppStatus, Vec<String>)> =
        m.apps.iter().map(|a| (a.status.clone(), vec![])).collect();
    let mut web = app("web-1", Status::Online, 1.0, 50);
    web.name = "web".into();
    web.instance = Some(1);
    apps.push((web, vec![]));
    m.set_apps(apps);
    m.set_queues(
        "redis://valkey-primary.testplanit-production.internal.example.com:6379/0".into(),
        vec![],
    );
    let buf = render(&m, 80, 24);
    let t = text(&buf);
    let header = t.lines().next().unwrap_or_default();
    assert!(header.contains("Valkey redis://valkey-p"), "{header}");
    assert!(header.contains('…'), "ellipsized, not cut: {header}");
    assert!(!header.contains(":6379/0"), "{header}");
    assert!(t.contains("web-1"), "{t}");
}

#[test]
fn at_80_by_24_help_quit_and_the_no_worker_note_stay_on_screen() {
    let buf = render(&fleet(Status::Online), 80, 24);
    let t = text(&buf);
    assert!(t.contains("? help · q quit"), "{t}");
    assert!(t.contains("no worker connected"), "{t}");
}

#[test]
fn details_show_the_newest_restarts() {
    let mut m = fleet(Status::Online);
    let id = m
        .selected()
        .map(|a| a.status.id.clone())
        .expect("a selection");
    m.ledgers.insert(
        id,
        vec![crate::proto::LedgerEntry {
            at_ms: 1_795_869_296_000,
            cause: crate::policy::Cause::Exit {
                exit: crate::policy::Exit::Code(3),
            },
            uptime_ms: 1500,
            stderr_tail: vec!["VALKEY_URL is not set".into()],
        }],
    );
    m.on_key(key(KeyCode::Enter));
    let t = text(&render(&m, 140, 30));
    assert!(
        t.contains(
            "last restarts  2026-11-28 12:34:56Z  exit code 3 after 1s — VALKEY_URL is not set"
        ),
        "{t}"
    );
}
