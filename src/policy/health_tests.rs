//! Table tests of health checks: checks run while online, failures within `grace` do not
//! count, `retries` in a row restart gracefully, `restart = false` only reports, and a
//! flapping check cannot reset the crash count while a long healthy run does.

use super::tests::{limits, run};
use super::*;
use crate::spec::{HealthCheck, HealthSpec};

fn checked(restart: bool) -> Limits {
    Limits {
        health: Some(HealthSpec {
            check: HealthCheck::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            every: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            retries: 2,
            grace: Duration::from_secs(2),
            restart,
        }),
        ..limits()
    }
}

fn pass() -> Event {
    Event::Health {
        ok: true,
        detail: "accepts connections".into(),
    }
}

fn fail() -> Event {
    Event::Health {
        ok: false,
        detail: "cannot connect: refused".into(),
    }
}

#[test]
fn checks_run_while_online_and_grace_forgives_early_failures() {
    let (p, out) = run(
        checked(true),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (1000, Event::Timer(Timer::Health)),
            (10, fail()),
            (990, fail()),
        ],
    );
    assert_eq!(
        out[1].0,
        vec![Effect::Arm(Timer::Health, Duration::from_secs(1))]
    );
    // The next check is armed as this one goes out: a fixed cadence, whenever verdicts come.
    assert_eq!(
        out[2].0,
        vec![
            Effect::Arm(Timer::Health, Duration::from_secs(1)),
            Effect::CheckHealth
        ]
    );
    // Within grace (2 s): shown, not counted.
    assert_eq!(out[3], (vec![], Status::Online));
    assert_eq!(out[4].1, Status::Online);
    assert_eq!(
        p.health().as_deref(),
        Some("unhealthy: cannot connect: refused")
    );
}

#[test]
fn retries_failures_in_a_row_restart_gracefully_with_the_cause() {
    let (p, out) = run(
        checked(true),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (3000, fail()),
            (1000, pass()),
            (1000, fail()),
            (1000, fail()),
            (
                10,
                Event::Ended {
                    exit: Exit::Code(0),
                },
            ),
        ],
    );
    assert_eq!(out[3].1, Status::Online);
    assert_eq!(p.restarts(), 1);
    // The second failure in a row (after a pass) stops the app with its signal.
    assert_eq!(out[5].1, Status::Stopping);
    assert!(out[5].0.contains(&Effect::Signal(libc::SIGINT)));
    assert!(out[6].0.contains(&Effect::Record {
        cause: Cause::Health {
            detail: "cannot connect: refused".into()
        },
        uptime: Duration::from_millis(6010),
    }));
    assert!(out[6].0.contains(&Effect::Spawn));
}

#[test]
fn restart_false_only_reports() {
    let (p, out) = run(
        checked(false),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (3000, fail()),
            (1000, fail()),
            (1000, fail()),
        ],
    );
    assert_eq!(out[4].1, Status::Online);
    assert_eq!(
        p.health().as_deref(),
        Some("unhealthy: cannot connect: refused")
    );
    assert_eq!(p.restarts(), 0);
}

#[test]
fn a_flapping_check_ends_in_a_crash_loop_and_a_long_healthy_run_resets_the_count() {
    // max_restarts is 3: each run passes once (short of retries x every = 2 s healthy)
    // then fails twice: three such runs are a crash loop, whatever their length.
    let mut steps = vec![(0, Event::Start)];
    for _ in 0..3 {
        steps.extend([
            (1, Event::Spawned),
            (3000, pass()),
            (1000, fail()),
            (1000, fail()),
            (
                10,
                Event::Ended {
                    exit: Exit::Code(0),
                },
            ),
        ]);
    }
    let (p, _) = run(checked(true), &steps);
    assert_eq!(p.status(), Status::Errored);
    assert!(
        p.reason().is_some_and(|r| r.contains("health check")),
        "{:?}",
        p.reason()
    );

    // Healthy for 3 s before failing: a stable run, the count starts again.
    let mut steps = vec![(0, Event::Start)];
    for _ in 0..5 {
        steps.extend([
            (1, Event::Spawned),
            (3000, pass()),
            (1000, pass()),
            (1000, pass()),
            (1000, pass()),
            (1000, fail()),
            (1000, fail()),
            (
                10,
                Event::Ended {
                    exit: Exit::Code(0),
                },
            ),
        ]);
    }
    let (p, _) = run(checked(true), &steps);
    assert_eq!(p.status(), Status::Launching);
    assert_eq!(p.restarts(), 5);
}
