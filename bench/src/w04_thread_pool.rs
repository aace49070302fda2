//! W4: 1,000,000 tiny tasks (`x + 1`) submitted to a 2-worker thread pool, all results
//! collected.
//!
//! The figure is tasks per second over the wall time from the first submission to the
//! last result in hand. One thread submits every task, then collects every result, as
//! a Python program looping over `submit` and then over `result()` would. Each run
//! builds its pool before the clock starts and shuts it down after the clock stops;
//! `ThreadPoolExecutor` starts its workers lazily, so its two thread starts (tens of
//! microseconds) fall inside the timed span.
//!
//! The systems:
//!
//! - `conc_futures::ThreadPoolExecutor` with `max_workers(2)`: `submit` every task, then
//!   `take()` every future in order (the target row); the same with `result()`; and
//!   `Executor::map` with `chunksize` 1.
//! - The baseline, a hand-written pool ([`ChannelPool`]): 2 threads receiving boxed jobs
//!   from one `crossbeam_channel::unbounded`, each job answering through a oneshot
//!   ([`Oneshot`]): an `Arc` holding a `parking_lot::Mutex<Option<T>>` and a
//!   `parking_lot::Condvar`. That is one allocation per task beside the job's box, as
//!   for a conc future, and the leanest of the obvious choices: parking_lot's
//!   `notify_one` is an atomic load when nobody waits (std's futex `Condvar` makes a
//!   `futex_wake` system call on every notify), and a `crossbeam_channel::bounded(1)`
//!   per task allocates a channel of several cache-padded lines. It is the near-limit
//!   baseline: about the least a per-task result handle can cost on this queue.
//! - rayon `ThreadPool::spawn` on a 2-thread pool, and the `threadpool` crate's
//!   `ThreadPool::new(2)`, each sending its results through one `std::sync::mpsc`
//!   channel (the sender cloned into every task); these hand back no per-task handle,
//!   the submitter receives `n` values.
//!
//! Ratios are paired by round ([`Stats::paired_speedup`](crate::harness::Stats::paired_speedup)),
//! so drift between rounds cancels out.
//!
//! Targets: `submit` + `take()` reaches at least 1/1.5 of the hand-written pool's rate,
//! and beats both `threadpool` and rayon spawn + channel. Every run checks the sum of
//! the results.

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use conc_futures::{Executor, Future, FutureError, ThreadPoolExecutor};
use parking_lot::{Condvar, Mutex};

use crate::harness::{Case, Config, Report, Row, Workload, at_least, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W4",
    title: "1,000,000 tiny tasks (x + 1) on a 2-worker thread pool, all results collected",
    run,
};

/// Tasks per run at full size.
const TASKS: u64 = 1_000_000;

/// Worker threads of every pool.
const WORKERS: usize = 2;

/// The system the targets are about.
const TARGET_SYSTEM: &str = "conc_futures::ThreadPoolExecutor submit + take()";

/// The near-limit baseline every ratio is taken against.
const BASELINE: &str = "hand-written crossbeam-channel pool + oneshot";

/// The rayon peer.
const RAYON: &str = "rayon::ThreadPool::spawn + mpsc";

/// The `threadpool` peer.
const THREADPOOL: &str = "threadpool::ThreadPool::execute + mpsc";

/// The target system must reach at least this fraction of the baseline's rate.
const TARGET_MIN_RATIO: f64 = 1.0 / 1.5;

/// Runs W4.
fn run(config: &Config) -> Report {
    let n = config.size(TASKS);
    let mut cases = [
        Case::new(TARGET_SYSTEM, || conc_submit(n, |f| f.take())),
        Case::new("conc_futures::ThreadPoolExecutor submit + result()", || {
            conc_submit(n, |f| f.result())
        }),
        Case::new("conc_futures::ThreadPoolExecutor map(chunksize=1)", || {
            conc_map(n)
        }),
        Case::new(BASELINE, || channel_pool(n)),
        Case::new(RAYON, || rayon_spawn(n)),
        Case::new(THREADPOOL, || threadpool_execute(n)),
    ];
    eprintln!("  -- {n} tasks, {WORKERS} workers");
    let stats = measure(config, &mut cases);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let stats_of = |system: &str| {
        cases
            .iter()
            .zip(&stats)
            .find(|(c, _)| c.system == system)
            .map(|(_, s)| s)
            .expect("every named system is measured")
    };
    let baseline = stats_of(BASELINE);

    let mut report = Report::default();
    for (case, s) in cases.iter().zip(&stats) {
        let value = rate(s.median);
        let ratio = s.paired_speedup(baseline);
        let mut notes = if case.system == BASELINE {
            String::from("baseline")
        } else {
            format!("{ratio:.2}x baseline")
        };
        if case.system == TARGET_SYSTEM {
            let verdict = at_least(ratio, TARGET_MIN_RATIO);
            notes.push_str(&format!("; target >= 0.67x: {verdict}"));
            report.verdicts.push(format!(
                "W4 target: {TARGET_SYSTEM} >= 1/1.5 (0.67x) of the {BASELINE}'s rate: \
                 {verdict} ({ratio:.2}x)"
            ));
            for peer in [THREADPOOL, RAYON] {
                let peer_ratio = s.paired_speedup(stats_of(peer));
                let verdict = at_least(peer_ratio, 1.0);
                notes.push_str(&format!(
                    "; {peer_ratio:.2}x {peer} (target > 1x: {verdict})"
                ));
                report.verdicts.push(format!(
                    "W4 target: {TARGET_SYSTEM} faster than {peer}: {verdict} ({peer_ratio:.2}x)"
                ));
            }
        }
        notes.push_str(&format!(
            "; {:.0} ns/task; runs {:.2}-{:.2} M/s; {}",
            s.median.as_nanos() as f64 / n as f64,
            rate(s.max) / 1e6,
            rate(s.min) / 1e6,
            config.method()
        ));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "tasks/s",
            notes,
        });
    }
    report
}

/// Checks that the results of `x + 1` for `x` in `0..n` add up.
fn check_sum(n: u64, sum: u64) {
    assert_eq!(sum, n * (n + 1) / 2, "results were lost or duplicated");
}

/// A `ThreadPoolExecutor` of [`WORKERS`] threads.
fn conc_pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("a valid worker count")
}

/// conc-futures: `submit` every task, then `collect` every future in order.
fn conc_submit(n: u64, collect: impl Fn(Future<u64>) -> Result<u64, FutureError>) -> Duration {
    let pool = conc_pool();
    let start = Instant::now();
    let futures: Vec<Future<u64>> = (0..n)
        .map(|x| pool.submit(move || x + 1).expect("the pool is open"))
        .collect();
    let sum: u64 = futures
        .into_iter()
        .map(|f| collect(f).expect("the task succeeded"))
        .sum();
    let elapsed = start.elapsed();
    check_sum(n, sum);
    elapsed
}

/// conc-futures: `Executor::map` with `chunksize` 1 (one task per item).
fn conc_map(n: u64) -> Duration {
    let pool = conc_pool();
    let start = Instant::now();
    let sum: u64 = pool
        .map(0..n, |x| x + 1, None, 1)
        .expect("the pool is open")
        .map(|r| r.expect("the task succeeded"))
        .sum();
    let elapsed = start.elapsed();
    check_sum(n, sum);
    elapsed
}

/// The baseline: the hand-written pool, one [`Oneshot`] per task, collected in order.
fn channel_pool(n: u64) -> Duration {
    let pool = ChannelPool::new(WORKERS);
    let start = Instant::now();
    let handles: Vec<Oneshot<u64>> = (0..n).map(|x| pool.submit(move || x + 1)).collect();
    let sum: u64 = handles.into_iter().map(Oneshot::wait).sum();
    let elapsed = start.elapsed();
    check_sum(n, sum);
    elapsed
}

/// rayon: `spawn` every task on a 2-thread pool; results come back through a channel.
fn rayon_spawn(n: u64) -> Duration {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .expect("rayon starts its threads");
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for x in 0..n {
        let tx = tx.clone();
        pool.spawn(move || tx.send(x + 1).expect("the receiver is alive"));
    }
    let sum: u64 = rx.iter().take(n as usize).sum();
    let elapsed = start.elapsed();
    check_sum(n, sum);
    elapsed
}

/// The `threadpool` crate: `execute` every task; results come back through a channel.
fn threadpool_execute(n: u64) -> Duration {
    let pool = threadpool::ThreadPool::new(WORKERS);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for x in 0..n {
        let tx = tx.clone();
        pool.execute(move || tx.send(x + 1).expect("the receiver is alive"));
    }
    let sum: u64 = rx.iter().take(n as usize).sum();
    let elapsed = start.elapsed();
    check_sum(n, sum);
    pool.join();
    elapsed
}

/// A job of the hand-written pool.
type Job = Box<dyn FnOnce() + Send>;

/// The hand-written pool: worker threads running boxed jobs from one unbounded
/// crossbeam channel. Dropping it closes the channel and joins the workers.
struct ChannelPool {
    /// The job queue; `None` once the pool is shutting down.
    jobs: Option<crossbeam_channel::Sender<Job>>,
    /// The worker threads.
    workers: Vec<thread::JoinHandle<()>>,
}

impl ChannelPool {
    /// A pool of `workers` threads.
    fn new(workers: usize) -> Self {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let workers = (0..workers)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || {
                    for job in queue {
                        job();
                    }
                })
            })
            .collect();
        ChannelPool {
            jobs: Some(jobs),
            workers,
        }
    }

    /// Queues `task`; its value comes back through the returned handle.
    fn submit<T: Send + 'static>(&self, task: impl FnOnce() -> T + Send + 'static) -> Oneshot<T> {
        let slot = Arc::new(Slot {
            value: Mutex::new(None),
            ready: Condvar::new(),
        });
        let answer = Arc::clone(&slot);
        let job: Job = Box::new(move || answer.set(task()));
        self.jobs
            .as_ref()
            .expect("the pool is open")
            .send(job)
            .expect("the workers are running");
        Oneshot(slot)
    }
}

impl Drop for ChannelPool {
    fn drop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            worker.join().expect("a worker panicked");
        }
    }
}

/// Where one task's value waits for its [`Oneshot`].
struct Slot<T> {
    /// The value, once the task has run.
    value: Mutex<Option<T>>,
    /// Signalled when the value is stored.
    ready: Condvar,
}

impl<T> Slot<T> {
    /// Stores the value and wakes the waiter, if any (after unlocking, so it does not
    /// wake into a held lock).
    fn set(&self, value: T) {
        *self.value.lock() = Some(value);
        self.ready.notify_one();
    }
}

/// The receiving end of one task's result.
struct Oneshot<T>(Arc<Slot<T>>);

impl<T> Oneshot<T> {
    /// Blocks until the value is there and takes it.
    fn wait(self) -> T {
        let mut value = self.0.value.lock();
        loop {
            if let Some(value) = value.take() {
                return value;
            }
            self.0.ready.wait(&mut value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_pool_answers_every_task() {
        let pool = ChannelPool::new(2);
        let handles: Vec<_> = (0..1000_u64).map(|x| pool.submit(move || x * 2)).collect();
        let values: Vec<u64> = handles.into_iter().map(Oneshot::wait).collect();
        assert_eq!(values, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn verdicts_are_relative_to_the_bar() {
        assert_eq!(at_least(1.0, TARGET_MIN_RATIO), "met, 50% above the bar");
        assert_eq!(at_least(0.5, TARGET_MIN_RATIO), "MISSED, 25% below the bar");
        assert_eq!(at_least(0.9, 1.0), "MISSED, 10% below the bar");
    }

    #[test]
    fn a_tiny_run_reports_every_system() {
        let report = run(&Config {
            quick: true,
            reps: 1,
        });
        assert_eq!(report.rows.len(), 6);
        assert_eq!(report.verdicts.len(), 3);
        assert!(report.rows.iter().all(|r| r.value > 0.0));
    }
}
