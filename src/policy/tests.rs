//! Table tests of the restart policy. Time is simulated: every step says how long after the
//! previous one it happens.

use super::*;
use crate::spec::RestartSpec;

pub(super) fn limits() -> Limits {
    Limits {
        restart: RestartSpec {
            autorestart: true,
            max_restarts: 3,
            min_uptime: Duration::from_secs(1),
            restart_delay: Duration::ZERO,
            exp_backoff_restart_delay: None,
            stop_exit_codes: vec![],
            retry_until_complete: false,
        },
        max_memory_bytes: Some(100),
        kill_signal: libc::SIGINT,
        kill_timeout: Duration::from_secs(5),
        has_after: false,
        restart_rate: None,
        recovered_after: Duration::from_secs(60),
        notify: None,
        health: None,
        consumption: None,
    }
}

/// Runs (delay_ms, event) steps and returns each step's effects and resulting status.
pub(super) fn run(limits: Limits, steps: &[(u64, Event)]) -> (Policy, Vec<(Vec<Effect>, Status)>) {
    let mut p = Policy::new(limits);
    let mut now = Instant::now();
    let mut out = vec![];
    for (delay, ev) in steps {
        now += Duration::from_millis(*delay);
        let fx = p.on(now, ev.clone());
        out.push((fx, p.status()));
    }
    (p, out)
}

pub(super) fn crash(code: i32) -> Event {
    Event::Ended {
        exit: Exit::Code(code),
    }
}

pub(super) fn record(exit: Exit, uptime_ms: u64) -> Effect {
    Effect::Record {
        cause: Cause::Exit { exit },
        uptime: Duration::from_millis(uptime_ms),
    }
}

#[test]
fn start_spawns_and_spawned_goes_online() {
    let (_, out) = run(limits(), &[(0, Event::Start), (1, Event::Spawned)]);
    assert_eq!(out[0], (vec![Effect::Spawn], Status::Launching));
    assert_eq!(out[1], (vec![], Status::Online));
}

#[test]
fn restarts_immediately_after_crash_without_delay() {
    let (p, out) = run(
        limits(),
        &[(0, Event::Start), (0, Event::Spawned), (5000, crash(1))],
    );
    assert_eq!(
        out[2],
        (
            vec![record(Exit::Code(1), 5000), Effect::Spawn],
            Status::Launching
        )
    );
    assert_eq!(p.restarts(), 1);
    assert_eq!(p.last_exit(), Some(Exit::Code(1)));
}

#[test]
fn restart_delay_waits_before_spawning() {
    let mut l = limits();
    l.restart.restart_delay = Duration::from_millis(250);
    let (_, out) = run(
        l,
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (2000, crash(1)),
            (250, Event::Timer(Timer::Restart)),
        ],
    );
    assert_eq!(
        out[2],
        (
            vec![
                record(Exit::Code(1), 2000),
                Effect::Arm(Timer::Restart, Duration::from_millis(250))
            ],
            Status::WaitingRestart
        )
    );
    assert_eq!(out[3], (vec![Effect::Spawn], Status::Launching));
}

#[test]
fn exponential_backoff_doubles_to_cap_and_resets_after_stable_run() {
    let mut l = limits();
    l.restart.max_restarts = 100;
    l.restart.exp_backoff_restart_delay = Some(Duration::from_secs(4));
    let mut p = Policy::new(l);
    let mut now = Instant::now();
    p.on(now, Event::Start);
    p.on(now, Event::Spawned);
    let mut delays = vec![];
    for _ in 0..6 {
        now += Duration::from_millis(10);
        let fx = p.on(now, crash(1));
        let Some(Effect::Arm(Timer::Restart, d)) = fx.last().cloned() else {
            panic!("expected a restart timer, got {fx:?}")
        };
        delays.push(d.as_secs());
        now += d;
        assert_eq!(p.on(now, Event::Timer(Timer::Restart)), vec![Effect::Spawn]);
        p.on(now, Event::Spawned);
    }
    assert_eq!(delays, vec![4, 8, 16, 30, 30, 30]);
    // A run longer than min_uptime resets the back-off to its base.
    now += Duration::from_secs(2);
    let fx = p.on(now, crash(1));
    assert_eq!(
        fx.last(),
        Some(&Effect::Arm(Timer::Restart, Duration::from_secs(4)))
    );
}

#[test]
fn crash_loop_ends_errored_after_max_restarts_short_runs() {
    let (p, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (100, crash(2)),
            (0, Event::Spawned),
            (100, crash(2)),
            (0, Event::Spawned),
            (100, crash(2)),
        ],
    );
    assert_eq!(out[2].1, Status::Launching);
    assert_eq!(out[4].1, Status::Launching);
    assert_eq!(out[6].1, Status::Errored);
    assert!(
        matches!(&out[6].0[..], [Effect::Alert { kind: AlertKind::Errored, detail }] if detail.contains("crash loop")),
        "{:?}",
        out[6].0
    );
    assert!(
        p.reason().is_some_and(|r| r.contains("3 consecutive runs")),
        "{:?}",
        p.reason()
    );
    assert_eq!(p.restarts(), 2);
}

#[test]
fn crash_loop_counts_at_any_age_and_stable_runs_reset_it() {
    // Two short runs, a long one, then three short ones: errored only at the end, an hour in.
    let mut steps = vec![(0, Event::Start), (0, Event::Spawned)];
    for uptime in [100, 100, 3_600_000, 100, 100, 100] {
        steps.push((uptime, crash(1)));
        steps.push((0, Event::Spawned));
    }
    let (_, out) = run(limits(), &steps);
    let statuses: Vec<Status> = out.iter().skip(2).step_by(2).map(|(_, s)| *s).collect();
    use Status::*;
    assert_eq!(
        statuses,
        vec![
            Launching, Launching, Launching, Launching, Launching, Errored
        ]
    );
}

#[test]
fn stop_exit_codes_mean_done() {
    let mut l = limits();
    l.restart.stop_exit_codes = vec![0, 3];
    let (p, out) = run(
        l,
        &[(0, Event::Start), (0, Event::Spawned), (5000, crash(3))],
    );
    assert_eq!(out[2], (vec![], Status::Stopped));
    assert!(p.reason().is_some_and(|r| r.contains("stop_exit_codes")));
}

#[test]
fn one_shot_completes_or_fails() {
    let mut l = limits();
    l.restart.autorestart = false;
    let (_, ok) = run(
        l.clone(),
        &[(0, Event::Start), (0, Event::Spawned), (10, crash(0))],
    );
    assert_eq!(ok[2], (vec![], Status::Completed));
    let (p, bad) = run(
        l.clone(),
        &[(0, Event::Start), (0, Event::Spawned), (10, crash(4))],
    );
    assert_eq!(
        bad[2],
        (
            vec![Effect::Alert {
                kind: AlertKind::Failed,
                detail: "exit code 4".into()
            }],
            Status::Failed
        )
    );
    assert_eq!(p.reason(), Some("exit code 4"));
    let (_, sig) = run(
        l,
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (
                10,
                Event::Ended {
                    exit: Exit::Signal(9),
                },
            ),
        ],
    );
    assert_eq!(sig[2].1, Status::Failed);
}

#[test]
fn stop_signals_then_escalates_after_kill_timeout() {
    let (_, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (10, Event::Stop),
            (5000, Event::Timer(Timer::Kill)),
            (
                1,
                Event::Ended {
                    exit: Exit::Signal(9),
                },
            ),
        ],
    );
    assert_eq!(
        out[2],
        (
            vec![
                Effect::Signal(libc::SIGINT),
                Effect::Arm(Timer::Kill, Duration::from_secs(5))
            ],
            Status::Stopping
        )
    );
    assert_eq!(out[3], (vec![Effect::KillGroup], Status::Stopping));
    assert_eq!(out[4], (vec![Effect::Disarm(Timer::Kill)], Status::Stopped));
}

#[test]
fn stop_while_waiting_to_restart_cancels_the_restart() {
    let mut l = limits();
    l.restart.restart_delay = Duration::from_secs(10);
    let (_, out) = run(
        l,
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (2000, crash(1)),
            (1, Event::Stop),
            (10_000, Event::Timer(Timer::Restart)),
        ],
    );
    assert_eq!(
        out[3],
        (vec![Effect::Disarm(Timer::Restart)], Status::Stopped)
    );
    assert_eq!(out[4], (vec![], Status::Stopped));
}

#[test]
fn memory_over_limit_restarts_gracefully_with_cause() {
    let (p, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (500, Event::Memory { rss_bytes: 100 }),
            (500, Event::Memory { rss_bytes: 101 }),
            (100, Event::Memory { rss_bytes: 500 }),
            (
                50,
                Event::Ended {
                    exit: Exit::Code(0),
                },
            ),
        ],
    );
    assert_eq!(out[2], (vec![], Status::Online));
    assert_eq!(out[3].1, Status::Stopping);
    assert_eq!(out[3].0[0], Effect::Signal(libc::SIGINT));
    assert_eq!(
        out[4],
        (vec![], Status::Stopping),
        "samples while stopping are ignored"
    );
    assert_eq!(
        out[5].0,
        vec![
            Effect::Disarm(Timer::Kill),
            Effect::Record {
                cause: Cause::Memory {
                    rss_bytes: 101,
                    limit_bytes: 100
                },
                uptime: Duration::from_millis(1150)
            },
            Effect::Spawn
        ]
    );
    assert_eq!(p.restarts(), 1);
}

#[test]
fn manual_restart_stops_then_spawns() {
    let (_, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (10, Event::Restart),
            (
                5,
                Event::Ended {
                    exit: Exit::Signal(2),
                },
            ),
        ],
    );
    assert_eq!(out[2].1, Status::Stopping);
    assert_eq!(
        out[3].0,
        vec![
            Effect::Disarm(Timer::Kill),
            Effect::Record {
                cause: Cause::Manual,
                uptime: Duration::from_millis(15)
            },
            Effect::Spawn
        ]
    );
}

#[test]
fn spawn_failure_is_errored_with_reason() {
    let (p, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (
                0,
                Event::SpawnFailed {
                    reason: "no such file".into(),
                },
            ),
        ],
    );
    assert_eq!(
        out[1],
        (
            vec![Effect::Alert {
                kind: AlertKind::StartFailed,
                detail: "no such file".into()
            }],
            Status::Errored
        )
    );
    assert_eq!(p.reason(), Some("no such file"));
}

#[test]
fn leftover_processes_are_stopped_before_the_restart_decision() {
    let (_, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (
                3000,
                Event::Leftovers {
                    exit: Exit::Code(1),
                },
            ),
            (
                10,
                Event::Ended {
                    exit: Exit::Code(1),
                },
            ),
        ],
    );
    assert_eq!(
        out[2].0,
        vec![
            Effect::Signal(libc::SIGINT),
            Effect::Arm(Timer::Kill, Duration::from_secs(5))
        ]
    );
    assert_eq!(
        out[3].0,
        vec![
            Effect::Disarm(Timer::Kill),
            record(Exit::Code(1), 3010),
            Effect::Spawn
        ]
    );
}

#[test]
fn start_is_idempotent_while_running() {
    let (_, out) = run(
        limits(),
        &[(0, Event::Start), (0, Event::Spawned), (1, Event::Start)],
    );
    assert_eq!(out[2], (vec![], Status::Online));
}

#[test]
fn memory_is_sampled_only_with_a_limit_and_faster_near_it() {
    let mib = |n: u64| n << 20;
    assert_eq!(sample_interval(Some(mib(500)), None), None);
    assert_eq!(
        sample_interval(None, Some(mib(200))),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        sample_interval(Some(mib(149)), Some(mib(200))),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        sample_interval(Some(mib(150)), Some(mib(200))),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        sample_interval(Some(mib(900)), Some(mib(200))),
        Some(Duration::from_millis(250))
    );
}

#[test]
fn the_cause_says_why_the_last_run_ended_in_a_few_words() {
    let started = [(0, Event::Start), (0, Event::Spawned)];
    let cause_after = |more: &[(u64, Event)]| {
        let mut steps = started.to_vec();
        steps.extend_from_slice(more);
        run(limits(), &steps).0.cause()
    };
    assert_eq!(cause_after(&[]), None);
    assert_eq!(
        cause_after(&[(5000, crash(3))]).as_deref(),
        Some("crashed (exit 3)")
    );
    assert_eq!(
        cause_after(&[(
            5000,
            Event::Ended {
                exit: Exit::Signal(libc::SIGSEGV)
            }
        )])
        .as_deref(),
        Some("killed by SIGSEGV")
    );
    let memory = [
        (10, Event::Memory { rss_bytes: 500 }),
        (
            10,
            Event::Ended {
                exit: Exit::Signal(libc::SIGINT),
            },
        ),
    ];
    assert_eq!(cause_after(&memory).as_deref(), Some("memory limit"));
    let stubborn = [
        (10, Event::Stop),
        (5000, Event::Timer(Timer::Kill)),
        (
            10,
            Event::Ended {
                exit: Exit::Signal(libc::SIGKILL),
            },
        ),
    ];
    assert_eq!(
        cause_after(&stubborn).as_deref(),
        Some("stopped, SIGKILL after kill_timeout")
    );
    // A graceful stop after a killed one is plain again.
    let mut again = stubborn.to_vec();
    again.extend([
        (10, Event::Start),
        (0, Event::Spawned),
        (10, Event::Stop),
        (
            10,
            Event::Ended {
                exit: Exit::Signal(libc::SIGINT),
            },
        ),
    ]);
    assert_eq!(cause_after(&again).as_deref(), Some("stopped"));
    // The main process is gone but its group is not: the stop in progress says so.
    assert_eq!(
        cause_after(&[(
            5000,
            Event::Leftovers {
                exit: Exit::Code(1)
            }
        )])
        .as_deref(),
        Some("main process ended (exit 1); stopping its leftovers")
    );
    let crash_loop = [
        (10, crash(1)),
        (0, Event::Spawned),
        (10, crash(1)),
        (0, Event::Spawned),
        (10, crash(1)),
    ];
    assert_eq!(
        cause_after(&crash_loop).as_deref(),
        Some("crash loop (exit 1)")
    );
}
