//! W9: one producer thread puts 1,000,000 `u64`s, one consumer thread gets them.
//!
//! The figure is items per second over the wall time from the producer's first send to
//! the consumer's last receive. The baseline is `crossbeam_channel::unbounded`, which
//! `conc_thread::Queue` is built on; the target is that `Queue::new(0)` (Python's
//! unbounded `Queue()`, with `task_done`/`join` kept) moves at least 0.85x the baseline's
//! rate (issue 14; 1/1.5 before). Every run checks the sum of what arrived.
//! Ratios are paired by round ([`Stats::paired_speedup`](crate::harness::Stats::paired_speedup)):
//! two systems a whole round apart differ by more than this workload's margins on a
//! shared 2-core machine.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Case, Config, Report, Row, Workload, at_least, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W9",
    title: "1 producer -> 1 consumer, 1,000,000 u64 through a queue",
    run,
};

/// Items per run at full size.
const ITEMS: u64 = 1_000_000;

/// The system every ratio is taken against.
const BASELINE: &str = "crossbeam_channel::unbounded";

/// The system the target is about.
const TARGET_SYSTEM: &str = "conc_thread::Queue::new(0)";

/// `Queue::new(0)` must reach at least this fraction of the baseline's rate.
const TARGET_MIN_RATIO: f64 = 0.85;

/// Runs W9.
fn run(config: &Config) -> Report {
    let n = config.size(ITEMS);
    let mut cases = [
        Case::new(TARGET_SYSTEM, || {
            let queue = conc_thread::Queue::new(0);
            transfer(
                n,
                &queue,
                &queue,
                |q, i| q.put(i).unwrap(),
                |q| q.get().unwrap(),
            )
        }),
        Case::new("conc_thread::Queue::new(1024)", || {
            let queue = conc_thread::Queue::new(1024);
            transfer(
                n,
                &queue,
                &queue,
                |q, i| q.put(i).unwrap(),
                |q| q.get().unwrap(),
            )
        }),
        Case::new("conc_thread::SimpleQueue", || {
            let queue = conc_thread::SimpleQueue::new();
            transfer(n, &queue, &queue, |q, i| q.put(i), |q| q.get())
        }),
        Case::new(BASELINE, || {
            let (tx, rx) = crossbeam_channel::unbounded();
            transfer(
                n,
                tx,
                rx,
                |tx, i| tx.send(i).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        }),
        Case::new("crossbeam_channel::bounded(1024)", || {
            let (tx, rx) = crossbeam_channel::bounded(1024);
            transfer(
                n,
                tx,
                rx,
                |tx, i| tx.send(i).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        }),
        Case::new("std::sync::mpsc::channel", || {
            let (tx, rx) = std::sync::mpsc::channel();
            transfer(
                n,
                tx,
                rx,
                |tx, i| tx.send(i).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        }),
    ];
    let stats = measure(config, &mut cases);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let baseline = cases
        .iter()
        .zip(&stats)
        .find(|(c, _)| c.system == BASELINE)
        .map(|(_, s)| s)
        .expect("the baseline is measured");

    let mut report = Report::default();
    for (case, s) in cases.iter().zip(&stats) {
        let value = rate(s.median);
        let ratio = s.paired_speedup(baseline);
        let mut notes = if case.system == BASELINE {
            String::from("baseline")
        } else {
            format!("{ratio:.2}x {BASELINE}")
        };
        if case.system == TARGET_SYSTEM {
            let verdict = verdict(ratio);
            notes.push_str(&format!("; target >= 0.85x: {verdict}"));
            report.verdicts.push(format!(
                "W9 target: {TARGET_SYSTEM} >= 0.85x {BASELINE}'s rate: {verdict} \
                 ({ratio:.2}x)"
            ));
        }
        notes.push_str(&format!(
            "; runs {:.1}-{:.1} M/s; {}",
            rate(s.max) / 1e6,
            rate(s.min) / 1e6,
            config.method()
        ));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "items/s",
            notes,
        });
    }
    report
}

/// Says whether `ratio` meets the target, and by how much.
fn verdict(ratio: f64) -> String {
    at_least(ratio, TARGET_MIN_RATIO)
}

/// Moves `0..n` from a producer thread through `send` to a consumer thread through
/// `recv`; returns the wall time from the producer's first send to the consumer's last
/// receive, and checks that every item arrived.
///
/// The two threads start together on a barrier and read the clock themselves, so the
/// figure does not depend on when the spawning thread is scheduled again.
fn transfer<S: Send, R: Send>(
    n: u64,
    tx: S,
    rx: R,
    send: impl Fn(&S, u64) + Send,
    recv: impl Fn(&R) -> u64 + Send,
) -> Duration {
    let barrier = &Barrier::new(2);
    let (start, (sum, end)) = thread::scope(|scope| {
        let consumer = scope.spawn(move || {
            barrier.wait();
            let sum = (0..n).map(|_| recv(&rx)).sum::<u64>();
            (sum, Instant::now())
        });
        let producer = scope.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            for i in 0..n {
                send(&tx, i);
            }
            start
        });
        (
            producer.join().expect("the producer panicked"),
            consumer.join().expect("the consumer panicked"),
        )
    });
    assert_eq!(sum, n * (n - 1) / 2, "items were lost or duplicated");
    end - start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_moves_every_item() {
        let (tx, rx) = crossbeam_channel::unbounded();
        transfer(
            1000,
            tx,
            rx,
            |tx, i| tx.send(i).unwrap(),
            |rx| rx.recv().unwrap(),
        );
    }

    #[test]
    fn verdicts_are_relative_to_the_bar() {
        assert_eq!(verdict(1.0), "met, 18% above the bar");
        assert_eq!(verdict(0.5), "MISSED, 41% below the bar");
    }

    #[test]
    fn a_tiny_run_reports_every_system() {
        let report = run(&Config {
            quick: true,
            reps: 1,
        });
        assert_eq!(report.rows.len(), 6);
        assert_eq!(report.verdicts.len(), 1);
        assert!(report.rows.iter().all(|r| r.value > 0.0));
    }
}
