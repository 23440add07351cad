//! Table tests of queue consumption: looks while online, `since` from the loss (or from
//! online when never consumed), no restart on unknown, the restart after the window, and the
//! crash loop for runs that never consume.

use super::consumption::{Seen, Watch, interval};
use super::tests::{limits, run};
use super::*;

fn watched(window: Option<u64>) -> Limits {
    let window = window.map(Duration::from_secs);
    Limits {
        consumption: Some(Watch {
            queues: vec!["emails".into(), "sync".into()],
            window,
            every: interval(window),
        }),
        ..limits()
    }
}

fn found(emails: bool, sync: bool) -> Event {
    Event::Consumption(Ok(vec![("emails".into(), emails), ("sync".into(), sync)]))
}

fn unknown() -> Event {
    Event::Consumption(Err("Valkey: cannot connect: refused".into()))
}

fn ended() -> Event {
    Event::Ended {
        exit: Exit::Code(0),
    }
}

#[test]
fn looks_come_a_quarter_window_apart_within_bounds() {
    assert_eq!(interval(None), Duration::from_secs(10));
    assert_eq!(
        interval(Some(Duration::from_secs(120))),
        Duration::from_secs(10)
    );
    assert_eq!(
        interval(Some(Duration::from_secs(8))),
        Duration::from_secs(2)
    );
    assert_eq!(
        interval(Some(Duration::from_secs(1))),
        Duration::from_millis(500)
    );
}

#[test]
fn a_run_is_looked_at_once_online_and_a_loss_is_timed_from_the_look_that_found_it() {
    let (p, out) = run(
        watched(None),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (2000, Event::Timer(Timer::Consumption)),
            (5, found(true, true)),
            (10_000, found(true, false)),
            (10_000, found(true, false)),
        ],
    );
    assert_eq!(
        out[1].0,
        vec![Effect::Arm(Timer::Consumption, Duration::from_secs(2))]
    );
    assert_eq!(out[2].0, vec![Effect::CheckConsumption]);
    assert_eq!(
        out[3].0,
        vec![Effect::Arm(Timer::Consumption, Duration::from_secs(10))]
    );
    // Report only: not consuming for 10 s is shown, nothing restarts.
    assert_eq!(out[5].1, Status::Online);
    let seen = p.consumption();
    assert_eq!(seen[0], ("emails".into(), Seen::Consuming));
    assert!(
        matches!(seen[1].1, Seen::NotConsuming { .. }),
        "sync is not consumed: {seen:?}"
    );
}

#[test]
fn the_window_restarts_gracefully_with_the_queue_in_the_cause() {
    let (p, out) = run(
        watched(Some(8)),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (2000, found(true, true)),
            (2000, found(true, false)),
            (2000, found(true, false)),
            (2000, found(true, false)),
            (2000, found(true, false)),
            (2000, found(true, false)),
            (10, ended()),
        ],
    );
    // Timed from the look that first found sync lost: 6 s later still online, 8 s later
    // stopped with the app's signal.
    assert_eq!(out[6].1, Status::Online);
    assert_eq!(out[7].1, Status::Stopping);
    assert!(out[7].0.contains(&Effect::Signal(libc::SIGINT)));
    assert!(out[7].0.contains(&Effect::Disarm(Timer::Consumption)));
    let cause = Cause::NotConsuming {
        queue: "sync".into(),
        window_ms: 8000,
    };
    assert_eq!(cause.to_string(), "not consuming queue sync for 8s");
    assert!(out[8].0.contains(&Effect::Record {
        cause,
        uptime: Duration::from_millis(12_010),
    }));
    assert!(out[8].0.contains(&Effect::Spawn));
    assert_eq!(p.restarts(), 1);
}

#[test]
fn never_consuming_counts_from_online_and_unknown_never_restarts() {
    // Never consumed: 8 s after it came online it is restarted.
    let (_, out) = run(
        watched(Some(8)),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (2000, found(false, false)),
            (6000, found(false, false)),
        ],
    );
    assert_eq!(out[2].1, Status::Online);
    assert_eq!(out[3].1, Status::Stopping);

    // Valkey unreadable for a minute: unknown, no restart; once it can be read again, the
    // window starts then.
    let (_, out) = run(
        watched(Some(8)),
        &[
            (0, Event::Start),
            (1, Event::Spawned),
            (2000, found(true, true)),
            (2000, unknown()),
            (60_000, unknown()),
            (2000, found(false, true)),
            (6000, found(false, true)),
            (2000, found(false, true)),
        ],
    );
    assert_eq!(out[4].1, Status::Online);
    assert_eq!(out[6].1, Status::Online);
    assert_eq!(out[7].1, Status::Stopping);
}

#[test]
fn unknown_is_shown_with_its_reason_and_nothing_is_shown_when_not_online() {
    let (p, _) = run(
        watched(Some(8)),
        &[(0, Event::Start), (1, Event::Spawned), (2000, unknown())],
    );
    assert_eq!(
        p.consumption()[0].1,
        Seen::Unknown("Valkey: cannot connect: refused".into())
    );
    let (p, _) = run(
        watched(Some(8)),
        &[(0, Event::Start), (1, Event::Spawned), (10, Event::Stop)],
    );
    assert!(p.consumption().is_empty());
}

#[test]
fn runs_that_never_consume_end_in_a_crash_loop_and_consuming_ones_do_not() {
    let mut steps = vec![(0, Event::Start)];
    for _ in 0..3 {
        steps.extend([
            (1, Event::Spawned),
            (2000, found(false, false)),
            (6000, found(false, false)),
            (10, ended()),
        ]);
    }
    let (p, _) = run(watched(Some(8)), &steps);
    assert_eq!(p.status(), Status::Errored);
    assert!(
        p.reason()
            .is_some_and(|r| r.contains("never consumed their queue")),
        "{:?}",
        p.reason()
    );

    let mut steps = vec![(0, Event::Start)];
    for _ in 0..5 {
        steps.extend([
            (1, Event::Spawned),
            (2000, found(true, true)),
            (2000, found(false, true)),
            (8000, found(false, true)),
            (10, ended()),
        ]);
    }
    let (p, _) = run(watched(Some(8)), &steps);
    assert_eq!(p.status(), Status::Launching);
    assert_eq!(p.restarts(), 5);
}
