//! W11: greenlets offloading blocking calls to a thread pool.
//!
//! 1,000 greenlets on one hub each submit [`CALLS_PER_TASK`] calls of `x + 1` in turn to
//! a 2-worker `ThreadPoolExecutor` and wait on each future (100,000 calls in all, a
//! tenth with `--quick`). With conc-futures' `coro` feature the wait parks the
//! greenlet, not the hub's thread, so the hub keeps running the other greenlets while
//! the pool works. The peer: tokio current-thread tasks awaiting `spawn_blocking` with
//! a blocking pool of 2 threads. The figure is calls per second.
//!
//! Target: conc-coro + conc-futures at least tokio's rate.

use std::time::{Duration, Instant};

use conc_futures::{Executor, ThreadPoolExecutor};

use crate::harness::{Case, Config, Report, Row, Workload, at_least, format_value, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W11",
    title: "1,000 greenlets offload 100,000 x + 1 calls to a 2-worker thread pool",
    run,
};

/// Greenlets (and tokio tasks).
const TASKS: u64 = 1_000;
/// Calls each makes at full size.
const CALLS_PER_TASK: u64 = 100;
/// The pool's workers.
const WORKERS: usize = 2;

const CONC: &str = "conc-coro greenlets waiting on conc-futures ThreadPoolExecutor futures";
const TOKIO: &str = "tokio current-thread tasks awaiting spawn_blocking (2 blocking threads)";

fn run(config: &Config) -> Report {
    let calls = config.size(CALLS_PER_TASK);
    let mut cases = [
        Case::new(CONC, move || greenlets(calls)),
        Case::new(TOKIO, move || tokio_tasks(calls)),
    ];
    eprintln!("  -- {TASKS} tasks x {calls} calls");
    let stats = measure(config, &mut cases);
    let total = (TASKS * calls) as f64;
    let rate = |d: Duration| total / d.as_secs_f64();
    let tokio_rate = rate(stats[1].median);
    let mut report = Report::default();
    for (case, s) in cases.iter().zip(&stats) {
        let value = rate(s.median);
        let mut notes = format!("{:.2}x tokio", value / tokio_rate);
        if case.system == CONC {
            let verdict = at_least(value / tokio_rate, 1.0);
            notes.push_str(&format!("; target >= 1x: {verdict}"));
            report.verdicts.push(format!(
                "W11 target: greenlets offloading to a thread pool >= tokio spawn_blocking: \
                 {verdict} ({:.2}x: {value:.0} vs {tokio_rate:.0} calls/s)",
                value / tokio_rate
            ));
        }
        notes.push_str(&format!(
            "; runs {}-{} calls/s; {}",
            format_value(rate(s.max)),
            format_value(rate(s.min)),
            config.method()
        ));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "calls/s",
            notes,
        });
    }
    report
}

fn greenlets(calls: u64) -> Duration {
    let pool = std::sync::Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(WORKERS)
            .build()
            .expect("a pool"),
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let pool = pool.clone();
            conc_coro::spawn(move || {
                let mut x = t;
                for _ in 0..calls {
                    x = pool
                        .submit(move || x + 1)
                        .expect("the pool runs")
                        .result()
                        .expect("x + 1");
                }
                x
            })
        })
        .collect();
    conc_coro::joinall(&tasks, None).expect("every greenlet ends");
    let elapsed = start.elapsed();
    for (t, task) in tasks.iter().enumerate() {
        assert_eq!(task.get(None), Ok(t as u64 + calls), "a call was lost");
    }
    elapsed
}

fn tokio_tasks(calls: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(WORKERS)
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                tokio::spawn(async move {
                    let mut x = t;
                    for _ in 0..calls {
                        x = tokio::task::spawn_blocking(move || x + 1)
                            .await
                            .expect("x + 1");
                    }
                    x
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.expect("a task"));
        }
        let elapsed = start.elapsed();
        for (t, x) in results.into_iter().enumerate() {
            assert_eq!(x, t as u64 + calls, "a call was lost");
        }
        elapsed
    })
}
