//! Table tests of `after` and of one-shots that others need: an operator's start waits for the
//! dependencies, a failed one-shot is retried with back-off until it completes or gives up.

use super::tests::{crash, limits, record, run};
use super::*;

fn dependent() -> Limits {
    Limits {
        has_after: true,
        ..limits()
    }
}

fn pending(why: &str) -> Event {
    Event::DependenciesPending {
        reason: why.to_string(),
    }
}

#[test]
fn a_start_waits_until_the_dependencies_are_up_then_spawns() {
    let (p, out) = run(
        dependent(),
        &[
            (0, Event::Start),
            (0, pending("scheduler: running")),
            (250, Event::Timer(Timer::Dependencies)),
            (0, Event::DependenciesMet),
            (1, Event::Spawned),
        ],
    );
    assert_eq!(out[0], (vec![Effect::CheckDependencies], Status::Waiting));
    assert_eq!(
        out[1],
        (
            vec![Effect::Arm(Timer::Dependencies, DEPENDENCY_POLL)],
            Status::Waiting
        )
    );
    assert_eq!(out[2], (vec![Effect::CheckDependencies], Status::Waiting));
    assert_eq!(
        out[3],
        (
            vec![Effect::Disarm(Timer::Dependencies), Effect::Spawn],
            Status::Launching
        )
    );
    assert_eq!(out[4].1, Status::Online);
    assert_eq!(p.reason(), None);
}

#[test]
fn a_waiting_app_says_what_it_waits_for_and_stops_at_once() {
    let (p, out) = run(
        dependent(),
        &[
            (0, Event::Start),
            (0, pending("scheduler: failed: no Valkey")),
        ],
    );
    assert_eq!(out[1].1, Status::Waiting);
    assert_eq!(
        p.cause().as_deref(),
        Some("for scheduler: failed: no Valkey")
    );
    let (_, out) = run(
        dependent(),
        &[
            (0, Event::Start),
            (0, pending("scheduler: running")),
            (10, Event::Stop),
        ],
    );
    assert_eq!(
        out[2],
        (vec![Effect::Disarm(Timer::Dependencies)], Status::Stopped)
    );
}

#[test]
fn crash_restarts_do_not_wait_for_dependencies_but_operator_restarts_do() {
    let (_, out) = run(
        dependent(),
        &[
            (0, Event::Start),
            (0, Event::DependenciesMet),
            (0, Event::Spawned),
            (5000, crash(1)),
        ],
    );
    assert_eq!(
        out[3],
        (
            vec![record(Exit::Code(1), 5000), Effect::Spawn],
            Status::Launching
        )
    );
    let (_, out) = run(
        dependent(),
        &[
            (0, Event::Start),
            (0, Event::DependenciesMet),
            (0, Event::Spawned),
            (5000, Event::Restart),
            (
                10,
                Event::Ended {
                    exit: Exit::Signal(2),
                },
            ),
        ],
    );
    assert_eq!(out[4].1, Status::Waiting);
    assert!(
        out[4].0.contains(&Effect::CheckDependencies),
        "{:?}",
        out[4].0
    );
}

fn needed_one_shot() -> Limits {
    let mut l = limits();
    l.restart.autorestart = false;
    l.restart.retry_until_complete = true;
    l.restart.max_restarts = 4;
    l
}

#[test]
fn a_needed_one_shot_is_retried_with_doubling_delays_until_it_completes() {
    let (p, out) = run(
        needed_one_shot(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (10, crash(1)),
            (1000, Event::Timer(Timer::Restart)),
            (0, Event::Spawned),
            (10, crash(1)),
            (2000, Event::Timer(Timer::Restart)),
            (0, Event::Spawned),
            (10, crash(0)),
        ],
    );
    assert_eq!(
        out[2],
        (
            vec![
                record(Exit::Code(1), 10),
                Effect::Arm(Timer::Restart, Duration::from_secs(1))
            ],
            Status::WaitingRestart
        )
    );
    assert_eq!(out[3], (vec![Effect::Spawn], Status::Launching));
    assert_eq!(
        out[5].0[1],
        Effect::Arm(Timer::Restart, Duration::from_secs(2))
    );
    assert_eq!(out[8].1, Status::Completed);
    assert_eq!(p.restarts(), 2);
    assert_eq!(p.reason(), None);
}

#[test]
fn a_needed_one_shot_gives_up_after_max_restarts_failures() {
    let mut steps = vec![(0, Event::Start), (0, Event::Spawned)];
    for _ in 0..3 {
        steps.push((10, crash(1)));
        steps.push((30_000, Event::Timer(Timer::Restart)));
        steps.push((0, Event::Spawned));
    }
    steps.push((10, crash(1)));
    let (p, out) = run(needed_one_shot(), &steps);
    assert_eq!(out.last().map(|o| o.1), Some(Status::Failed));
    assert!(
        p.reason().is_some_and(|r| r.contains("4 times in a row")),
        "{:?}",
        p.reason()
    );
}

#[test]
fn a_one_shot_nothing_needs_fails_at_once() {
    let mut l = needed_one_shot();
    l.restart.retry_until_complete = false;
    let (_, out) = run(l, &[(0, Event::Start), (0, Event::Spawned), (10, crash(1))]);
    assert_eq!(out[2].1, Status::Failed);
    assert!(matches!(
        &out[2].0[..],
        [Effect::Alert {
            kind: AlertKind::Failed,
            ..
        }]
    ));
}

fn alerting() -> Limits {
    Limits {
        restart_rate: Some((2, Duration::from_secs(60))),
        recovered_after: Duration::from_secs(5),
        ..limits()
    }
}

fn alerts(fx: &[Effect]) -> Vec<AlertKind> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Alert { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

#[test]
fn going_over_the_restart_rate_alerts_once_then_a_stable_run_is_a_recovery() {
    let mut l = alerting();
    l.restart.max_restarts = 100;
    let mut steps = vec![(0, Event::Start), (0, Event::Spawned)];
    for _ in 0..4 {
        steps.push((10, crash(1)));
        steps.push((0, Event::Spawned));
    }
    steps.push((5000, Event::Timer(Timer::Recovered)));
    let (_, out) = run(l, &steps);
    let raised: Vec<(usize, Vec<AlertKind>)> = out
        .iter()
        .enumerate()
        .map(|(i, (fx, _))| (i, alerts(fx)))
        .filter(|(_, a)| !a.is_empty())
        .collect();
    // The third restart within the minute is over "2 per minute"; the fourth is not alerted
    // again; five seconds online after it is a recovery.
    assert_eq!(
        raised,
        vec![
            (6, vec![AlertKind::Restarts]),
            (10, vec![AlertKind::Recovered])
        ]
    );
    assert!(
        out[7]
            .0
            .contains(&Effect::Arm(Timer::Recovered, Duration::from_secs(5))),
        "a run after a problem arms the recovery timer: {:?}",
        out[7].0
    );
}

#[test]
fn a_memory_restart_alerts_and_a_new_keeper_after_errored_alerts_the_recovery() {
    let (_, out) = run(
        alerting(),
        &[
            (0, Event::Start),
            (0, Event::Spawned),
            (10, Event::Memory { rss_bytes: 500 }),
        ],
    );
    assert_eq!(alerts(&out[2].0), vec![AlertKind::Memory]);
    let mut p = Policy::new(alerting());
    p.set_problem_open(true);
    let now = Instant::now();
    p.on(now, Event::Start);
    let fx = p.on(now, Event::Spawned);
    assert_eq!(
        fx,
        vec![Effect::Arm(Timer::Recovered, Duration::from_secs(5))]
    );
    let fx = p.on(now + Duration::from_secs(5), Event::Timer(Timer::Recovered));
    assert_eq!(alerts(&fx), vec![AlertKind::Recovered]);
    // Recovered once: the next timer (a late one) says nothing.
    assert!(
        p.on(now + Duration::from_secs(9), Event::Timer(Timer::Recovered))
            .is_empty()
    );
}
