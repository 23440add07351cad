//! Table tests of readiness and the watchdog (`notify = true`): online only at READY=1, a start
//! that never gets ready fails and counts towards the crash loop, a missed watchdog restarts.

use super::tests::{limits, run};
use super::*;
use crate::spec::NotifySpec;

fn notifying(watchdog: Option<u64>) -> Limits {
    Limits {
        notify: Some(NotifySpec {
            ready_timeout: Duration::from_secs(5),
            watchdog: watchdog.map(Duration::from_secs),
        }),
        ..limits()
    }
}

#[test]
fn online_only_once_ready_and_the_watchdog_is_armed_then() {
    let (_, out) = run(
        notifying(Some(3)),
        &[(0, Event::Start), (1, Event::Spawned), (100, Event::Ready)],
    );
    assert_eq!(
        out[1],
        (
            vec![Effect::Arm(Timer::Ready, Duration::from_secs(5))],
            Status::Launching
        )
    );
    assert_eq!(
        out[2],
        (
            vec![
                Effect::Disarm(Timer::Ready),
                Effect::Arm(Timer::Watchdog, Duration::from_secs(3))
            ],
            Status::Online
        )
    );
}

#[test]
fn ready_before_the_spawn_is_ignored_and_pings_rearm_the_watchdog() {
    let (_, out) = run(
        notifying(Some(3)),
        &[
            (0, Event::Start),
            (0, Event::Ready),
            (1, Event::Spawned),
            (1, Event::Ready),
            (1000, Event::WatchdogPing),
        ],
    );
    assert_eq!(out[1], (vec![], Status::Launching));
    assert_eq!(
        out[4],
        (
            vec![Effect::Arm(Timer::Watchdog, Duration::from_secs(3))],
            Status::Online
        )
    );
}

#[test]
fn no_ready_within_the_timeout_is_a_failed_run_that_counts_towards_the_crash_loop() {
    let mut steps = vec![(0, Event::Start)];
    // max_restarts is 3: three runs that never get ready, however long they lasted.
    for _ in 0..3 {
        steps.push((1, Event::Spawned));
        steps.push((5000, Event::Timer(Timer::Ready)));
        steps.push((
            10,
            Event::Ended {
                exit: Exit::Signal(libc::SIGINT),
            },
        ));
    }
    let (p, out) = run(notifying(None), &steps);
    // The timeout stops the app gracefully, saying why.
    assert_eq!(
        out[2].0,
        vec![
            Effect::Signal(libc::SIGINT),
            Effect::Arm(Timer::Kill, Duration::from_secs(5)),
            Effect::Disarm(Timer::Ready),
            Effect::Disarm(Timer::Watchdog),
        ]
    );
    assert_eq!(out[2].1, Status::Stopping);
    // Once stopped: recorded with its cause, and launched again.
    assert!(out[3].0.contains(&Effect::Record {
        cause: Cause::NotReady { after_ms: 5000 },
        uptime: Duration::from_millis(5010),
    }));
    assert!(out[3].0.contains(&Effect::Spawn));
    assert_eq!(p.status(), Status::Errored);
    assert!(
        p.reason()
            .is_some_and(|r| r.contains("3 consecutive runs that never got ready")),
        "{:?}",
        p.reason()
    );
}

#[test]
fn a_missed_watchdog_restarts_gracefully_with_its_cause() {
    let (p, out) = run(
        notifying(Some(3)),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (1, Event::Ready),
            (3000, Event::Timer(Timer::Watchdog)),
            (
                10,
                Event::Ended {
                    exit: Exit::Code(0),
                },
            ),
        ],
    );
    assert_eq!(out[3].1, Status::Stopping);
    assert!(out[3].0.contains(&Effect::Signal(libc::SIGINT)));
    // The run lasted past min_uptime: a stable run, restarted at once.
    assert!(out[4].0.contains(&Effect::Record {
        cause: Cause::Watchdog { window_ms: 3000 },
        uptime: Duration::from_millis(3011),
    }));
    assert!(out[4].0.contains(&Effect::Spawn));
    assert_eq!(p.status(), Status::Launching);
    assert_eq!(p.restarts(), 1);
}

#[test]
fn without_notify_spawned_is_online_and_notify_events_do_nothing() {
    let (_, out) = run(
        limits(),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (1, Event::Ready),
            (1, Event::WatchdogPing),
        ],
    );
    assert_eq!(out[1].1, Status::Online);
    assert_eq!(out[2], (vec![], Status::Online));
    assert_eq!(out[3], (vec![], Status::Online));
}
