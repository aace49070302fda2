//! `wait(fs, timeout, return_when)`: `FIRST_COMPLETED`, a timeout, `ALL_COMPLETED`, and
//! `FIRST_EXCEPTION`.
//!
//! Ports seed 004 ("wait"): four `spider(page)` tasks (page 1..4, each sleeping `page`
//! seconds) on `ThreadPoolExecutor(max_workers=5)`; `wait(all_task,
//! return_when=FIRST_COMPLETED)` returns once the first is done and the seed prints
//! `finished`; then `print(wait(all_task, timeout=2.5))` shows the done / not-done sets,
//! with only task 4 still running ("可以看到最后只有 task4 还在运行中").
//!
//! What it shows: `wait` returning `DoneAndNotDone { done, not_done }`; `FirstCompleted`
//! returning as soon as one future is done; a timeout that is not an error but leaves
//! futures in `not_done`; `AllCompleted` (the default) without a timeout returning
//! when everything is done; `FirstException` returning at the first panicking task
//! while a slower one is still running.
//!
//! How Rust differs:
//! - `wait` takes a slice of futures and returns the two sets as `Vec`s in input
//!   order (Python returns two `set`s). `timeout` is an `Option<Duration>`.
//! - A task's exception is a panic, reported by the future as `FutureError::Panicked`
//!   (the panic hook prints one line on stderr; Python prints nothing).
//! - Cancelling a future wakes `wait` at once (CPython may keep waiting, issue #92001).
//! - Seconds are scaled to 80 ms. "Only task 4 is still running" is asserted only if the
//!   set was read before task 4 could possibly have finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conc_futures::{DoneAndNotDone, Executor, Future, FutureError, ReturnWhen, wait};
use conc_thread::Event;

/// One "second" of the seeds.
const UNIT: Duration = Duration::from_millis(80);

/// Seed 004's `spider(page)`.
fn spider(page: u32, start: Instant) -> u32 {
    std::thread::sleep(page * UNIT);
    println!("{} crawl task{page} finished", examples::stamp(start));
    page
}

/// The pages of the futures in `fs`, found by position in `all` (page = index + 1).
fn pages(fs: &[Future<u32>], all: &[Future<u32>]) -> Vec<usize> {
    fs.iter()
        .map(|f| all.iter().position(|g| g == f).expect("f comes from all") + 1)
        .collect()
}

fn show(r: &DoneAndNotDone<u32>, all: &[Future<u32>]) -> String {
    format!(
        "DoneAndNotDone(done=tasks {:?}, not_done=tasks {:?})",
        pages(&r.done, all),
        pages(&r.not_done, all)
    )
}

fn main() {
    examples::one_line_panic_reports();
    examples::heading("Seed 004: wait(FIRST_COMPLETED), then wait(timeout=2.5)");
    let start = Instant::now();
    {
        let t = examples::pool(5);
        let all_task: Vec<_> = (1..=4)
            .map(|page| {
                t.submit(move || spider(page, start))
                    .expect("the pool is open")
            })
            .collect();

        let first = wait(&all_task, None, ReturnWhen::FirstCompleted);
        println!(
            "{} finished: {}",
            examples::stamp(start),
            show(&first, &all_task)
        );
        assert!(
            !first.done.is_empty(),
            "FIRST_COMPLETED returns with one done"
        );
        assert_eq!(first.done.len() + first.not_done.len(), 4);
        assert!(start.elapsed() >= UNIT, "nothing finishes before 1 unit");

        let waited_from = Instant::now();
        let r = wait(&all_task, Some(UNIT * 5 / 2), ReturnWhen::AllCompleted);
        let observed = start.elapsed();
        println!("{} {}", examples::stamp(start), show(&r, &all_task));
        if !r.not_done.is_empty() {
            assert!(
                waited_from.elapsed() >= UNIT * 5 / 2,
                "with futures left, wait returns only when the timeout is up"
            );
        }
        if observed < 4 * UNIT {
            // spider(4) sleeps 4 units, so it cannot be done yet.
            assert!(r.not_done.contains(&all_task[3]));
        }

        let all = wait(&all_task, None, ReturnWhen::AllCompleted);
        println!(
            "{} wait(ALL_COMPLETED): {}",
            examples::stamp(start),
            show(&all, &all_task)
        );
        assert!(all.not_done.is_empty(), "no timeout: every future is done");
        let results: Vec<u32> = all_task
            .iter()
            .map(|f| f.result().expect("spider does not panic"))
            .collect();
        println!("{} results: {results:?}", examples::stamp(start));
        assert_eq!(results, [1, 2, 3, 4]);
        assert!(start.elapsed() >= 4 * UNIT);
    }

    examples::heading("FIRST_EXCEPTION: returns at the first task that panics");
    let start = Instant::now();
    let pool = examples::pool(2);
    // The slow task runs until `release` is set (at most 5 s, so nothing can hang).
    let release = Arc::new(Event::new());
    let gate = release.clone();
    let slow = pool
        .submit(move || {
            gate.wait_timeout(Duration::from_secs(5));
            "slow done"
        })
        .expect("the pool is open");
    let failing = pool
        .submit(move || -> &'static str {
            std::thread::sleep(UNIT);
            panic!("page 2 could not be parsed")
        })
        .expect("the pool is open");
    let fs = [slow.clone(), failing.clone()];
    let r = wait(&fs, None, ReturnWhen::FirstException);
    println!(
        "{} wait(FIRST_EXCEPTION) returned: {} done, {} not done",
        examples::stamp(start),
        r.done.len(),
        r.not_done.len()
    );
    println!(
        "{} failing.exception() = {:?}",
        examples::stamp(start),
        failing.exception()
    );
    assert!(r.done == [failing.clone()], "the failed task is done");
    assert!(
        r.not_done == [slow.clone()],
        "the slow task waits for its gate"
    );
    assert_eq!(
        failing.result(),
        Err(FutureError::Panicked {
            message: "page 2 could not be parsed".into()
        })
    );
    release.set();
    assert_eq!(slow.result(), Ok("slow done"));
    println!(
        "{} slow.result() = {:?}",
        examples::stamp(start),
        slow.result()
    );
}
