//! W1: two coroutines pass control back and forth 1,000,000 times; and a spawn/drop
//! microbenchmark.
//!
//! # Switching
//!
//! The figure is nanoseconds per switch, where a switch is one transfer of control
//! from one coroutine (or thread) to the other: a round trip is two switches. Every
//! system makes [`SWITCHES`] transfers in its timed span (a tenth with `--quick`),
//! bouncing a `u64` that grows by one at each round trip; every run checks its final
//! value.
//!
//! - conc-coro, main greenlet and one greenlet (the target row): the thread's main
//!   greenlet calls `g.switch_as::<u64, _>(x)` and the greenlet answers with
//!   `main.switch_as::<u64, _>(x + 1)`. Main to greenlet is one corosensei `resume`
//!   from the trampoline; greenlet to main is one `suspend`. The greenlet is created and
//!   started before the clock starts and killed after it stops.
//! - conc-coro, two greenlets switching to each other directly: each switch is a
//!   `suspend` to the trampoline on the main stack plus a `resume` of the other
//!   greenlet, so it goes through the trampoline twice per round trip where the row
//!   above goes through it once. The timed span includes the main greenlet's switch
//!   into the first greenlet and that greenlet's switch back at the end (2 of the
//!   transfers).
//! - raw corosensei, the baseline: `Coroutine::resume(x)` answered by
//!   `Yielder::suspend(x + 1)` on a `Coroutine<u64, u64, u64>` (default 1 MiB stack),
//!   started before the clock. One resume + suspend pair is two transfers.
//! - `may` coroutines on a scheduler of one worker thread: two coroutines ping-ponging
//!   through two `may::sync::mpsc` channels (a `recv` parks, a `send` readies the
//!   other), and two coroutines handing a turn flag over with `yield_now`. The clock
//!   runs inside a coordinating coroutine, around spawning and joining the pair. may's
//!   configuration is process-wide and fixed when its scheduler first starts: this
//!   workload sets one worker the first time it runs.
//! - OS threads: the benchmark thread and one other exchanging the value through two
//!   `crossbeam_channel::bounded(0)` (rendezvous) channels. Each transfer is a futex
//!   wake-up of the other thread (about 20 µs on the 2-core machine of the recorded
//!   runs), so this row makes a tenth of the transfers ([`OS_THREAD_SCALE`]) and says
//!   so in its notes; the figure is per transfer either way.
//!
//! Target: a conc-coro switch between the main greenlet and a greenlet costs at most 2×
//! a raw corosensei transfer, comparing ns per transfer on both sides (conc-coro's time
//! for a round trip over raw corosensei's time for one resume + suspend pair). The
//! greenlet-to-greenlet row is held to the same bar.
//!
//! # Spawn, run, drop
//!
//! The figure is nanoseconds per greenlet or coroutine created, run once to completion
//! (it returns `x + 1`) and dropped, [`SPAWNS`] times (a tenth with `--quick`):
//! conc-coro's `Greenlet::new` + `switch_as` + drop (the stack comes from and returns to
//! the thread's pool), raw corosensei `Coroutine::new` + `resume` + drop (an `mmap`, a
//! guard-page `mprotect` and a `munmap` each time), and raw corosensei
//! `Coroutine::with_stack` on one reused stack, taken back with `into_stack` (the
//! near-limit baseline for a pooled stack).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use conc_coro::{Greenlet, getcurrent};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::harness::{Case, Config, Report, Row, Stats, Workload, at_most, format_value, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W1",
    title: "two coroutines pass control back and forth 1,000,000 times; spawn+run+drop",
    run,
};

/// Transfers of control per switching run at full size.
const SWITCHES: u64 = 1_000_000;

/// The OS-thread row makes this fraction of the transfers, to keep the run short.
const OS_THREAD_SCALE: u64 = 10;

/// Coroutines created, run and dropped per spawn run at full size.
const SPAWNS: u64 = 100_000;

/// The system the target is about.
const TARGET_SYSTEM: &str = "conc-coro: main greenlet <-> greenlet (switch/switch_as)";

/// The OS-thread row.
const OS_THREADS: &str = "OS threads: crossbeam_channel::bounded(0)";

/// The second conc-coro switching row, held to its own target.
const GREENLET_PAIR: &str =
    "conc-coro: greenlet <-> greenlet (via the root loop: 2 transfers each)";

/// The switching baseline.
const BASELINE: &str = "corosensei: Coroutine::resume + Yielder::suspend";

/// A main <-> greenlet switch may cost at most this many raw corosensei transfers.
const TARGET_MAX_RATIO: f64 = 2.0;

/// A greenlet <-> greenlet switch (two transfers through the root loop) may cost at
/// most this many raw corosensei transfers.
const PAIR_MAX_RATIO: f64 = 4.0;

/// Greenlet::new + switch + drop may cost at most this many times corosensei on one
/// reused stack.
const SPAWN_MAX_RATIO: f64 = 3.0;

/// The spawn row of conc-coro.
const SPAWN_CONC: &str = "conc-coro: Greenlet::new + switch + drop (pooled stack)";

/// The spawn row of raw corosensei with a fresh stack each time.
const SPAWN_RAW: &str = "corosensei: Coroutine::new + resume + drop (mmap each time)";

/// The spawn row of raw corosensei with one reused stack.
const SPAWN_REUSE: &str = "corosensei: Coroutine::with_stack + resume + into_stack (one stack)";

/// Runs W1.
fn run(config: &Config) -> Report {
    let mut report = Report::default();
    switching(config, &mut report);
    spawning(config, &mut report);
    report
}

/// The switching rows.
fn switching(config: &Config, report: &mut Report) {
    let n = config.size(SWITCHES);
    let n_threads = n / OS_THREAD_SCALE;
    let mut cases = [
        Case::new(TARGET_SYSTEM, || greenlet_with_main(n)),
        Case::new(GREENLET_PAIR, || greenlet_pair(n)),
        Case::new(BASELINE, || raw_corosensei(n)),
        Case::new("may: 2 coroutines, 1 worker, mpsc channels", || {
            may_channels(n)
        }),
        Case::new("may: 2 coroutines, 1 worker, yield_now + turn flag", || {
            may_yield(n)
        }),
        Case::new(OS_THREADS, || os_threads(n_threads)),
    ];
    eprintln!("  -- {n} switches ({n_threads} for OS threads)");
    let stats = measure(config, &mut cases);

    let ns = |d: Duration| d.as_nanos() as f64 / n as f64;
    let ns_threads = |d: Duration| d.as_nanos() as f64 / n_threads as f64;
    let baseline = cases
        .iter()
        .zip(&stats)
        .find(|(c, _)| c.system == BASELINE)
        .map(|(_, s)| ns(s.median))
        .expect("the baseline is measured");
    for (case, s) in cases.iter().zip(&stats) {
        let per_switch = if case.system == OS_THREADS {
            &ns_threads as &dyn Fn(Duration) -> f64
        } else {
            &ns
        };
        let value = per_switch(s.median);
        let ratio = value / baseline;
        let mut notes = if case.system == BASELINE {
            String::from("baseline: ns per transfer (a resume + suspend pair is 2)")
        } else {
            times_baseline(ratio)
        };
        if case.system == OS_THREADS {
            notes.push_str(&format!("; scaled: {n_threads} transfers"));
        }
        let target = match case.system.as_str() {
            TARGET_SYSTEM => Some(TARGET_MAX_RATIO),
            GREENLET_PAIR => Some(PAIR_MAX_RATIO),
            _ => None,
        };
        if let Some(max) = target {
            let verdict = at_most(ratio, max);
            notes.push_str(&format!("; target <= {max}x per transfer: {verdict}"));
            report.verdicts.push(format!(
                "W1 target: {} <= {max}x raw corosensei, ns per switch vs ns per \
                 transfer: {verdict} ({ratio:.2}x: {value:.1} ns vs {baseline:.1} ns)",
                case.system
            ));
        }
        notes.push_str(&spread(s, per_switch, config));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "ns/switch",
            notes,
        });
    }
}

/// The spawn/drop rows.
fn spawning(config: &Config, report: &mut Report) {
    let n = config.size(SPAWNS);
    let mut cases = [
        Case::new(SPAWN_CONC, || spawn_greenlets(n)),
        Case::new(SPAWN_RAW, || spawn_coroutines(n)),
        Case::new(SPAWN_REUSE, || spawn_on_one_stack(n)),
    ];
    eprintln!("  -- {n} spawn+run+drop");
    let stats = measure(config, &mut cases);

    let ns = |d: Duration| d.as_nanos() as f64 / n as f64;
    let fresh = ns(stats[1].median);
    let reused = ns(stats[2].median);
    for (case, s) in cases.iter().zip(&stats) {
        let value = ns(s.median);
        let mut notes = match case.system.as_str() {
            SPAWN_RAW => String::from("baseline"),
            SPAWN_REUSE => format!("{}; near-limit", times_baseline(value / fresh)),
            _ => {
                let verdict = at_most(value / reused, SPAWN_MAX_RATIO);
                report.verdicts.push(format!(
                    "W1 target: {} <= {SPAWN_MAX_RATIO}x the reused-stack row: {verdict} \
                     ({:.2}x: {value:.1} ns vs {reused:.1} ns)",
                    case.system,
                    value / reused
                ));
                format!(
                    "{}; {:.2}x the reused-stack row; target <= {SPAWN_MAX_RATIO}x: {verdict}",
                    times_baseline(value / fresh),
                    value / reused
                )
            }
        };
        notes.push_str(&spread(s, ns, config));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "ns/spawn+run+drop",
            notes,
        });
    }
}

/// A ratio to the baseline for the notes: `2.50x baseline`, or `1/85 of baseline`
/// when it is too small for two decimals to show.
fn times_baseline(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("1/{:.0} of baseline", 1.0 / ratio)
    } else {
        format!("{ratio:.2}x baseline")
    }
}

/// The notes' tail: the fastest and slowest runs, and the method.
fn spread(s: &Stats, ns: impl Fn(Duration) -> f64, config: &Config) -> String {
    format!(
        "; runs {}-{} ns; {}",
        format_value(ns(s.min)),
        format_value(ns(s.max)),
        config.method()
    )
}

/// Checks the bounced value after `round_trips` round trips starting from 0.
fn check(round_trips: u64, value: u64) {
    assert_eq!(value, round_trips, "a switch lost or duplicated the value");
}

/// conc-coro: the main greenlet and one greenlet, `n / 2` round trips.
fn greenlet_with_main(n: u64) -> Duration {
    let round_trips = n / 2;
    let main = getcurrent();
    let g = Greenlet::new(move |mut x: u64| -> u64 {
        loop {
            x = main.switch_as(x + 1).expect("main switches a u64 back");
        }
    });
    // Start it outside the clock: it parks in its first switch back to main.
    let mut x: u64 = g.switch_as(0_u64).expect("the greenlet answers a u64");
    check(1, x);
    x = 0;
    let start = Instant::now();
    for _ in 0..round_trips {
        x = g.switch_as(x).expect("the greenlet answers a u64");
    }
    let elapsed = start.elapsed();
    check(round_trips, x);
    g.kill().expect("the greenlet dies");
    assert!(g.dead());
    elapsed
}

/// conc-coro: two greenlets switching to each other directly; `n` transfers in all,
/// counting main's switch into the first and the first's switch back.
fn greenlet_pair(n: u64) -> Duration {
    let round_trips = n / 2 - 1;
    let main = getcurrent();
    let slot_b: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let a = {
        let slot_b = Rc::clone(&slot_b);
        Greenlet::new(move |mut x: u64| -> u64 {
            let b = slot_b.borrow().clone().expect("b is set before a starts");
            for _ in 0..round_trips {
                x = b.switch_as(x).expect("b switches a u64 back");
            }
            drop(b);
            loop {
                x = main.switch_as(x).expect("main switches a u64");
            }
        })
    };
    let b = {
        let a = a.clone();
        Greenlet::new(move |mut x: u64| -> u64 {
            loop {
                x = a.switch_as(x + 1).expect("a switches a u64 back");
            }
        })
    };
    *slot_b.borrow_mut() = Some(b.clone());
    let start = Instant::now();
    let x: u64 = a.switch_as(0_u64).expect("a answers a u64");
    let elapsed = start.elapsed();
    check(round_trips, x);
    // b holds a handle to a: kill both to free them.
    b.kill().expect("the greenlet dies");
    a.kill().expect("the greenlet dies");
    assert!(a.dead() && b.dead());
    elapsed
}

/// Raw corosensei: `n / 2` resume + suspend pairs.
fn raw_corosensei(n: u64) -> Duration {
    let round_trips = n / 2;
    let mut co = Coroutine::new(|yielder: &Yielder<u64, u64>, mut x: u64| -> u64 {
        loop {
            x = yielder.suspend(x + 1);
        }
    });
    let resume = |co: &mut Coroutine<u64, u64, u64>, x| match co.resume(x) {
        CoroutineResult::Yield(y) => y,
        CoroutineResult::Return(_) => unreachable!("the coroutine loops forever"),
    };
    check(1, resume(&mut co, 0));
    let mut x = 0;
    let start = Instant::now();
    for _ in 0..round_trips {
        x = resume(&mut co, x);
    }
    let elapsed = start.elapsed();
    check(round_trips, x);
    drop(co); // unwinds the suspended coroutine
    elapsed
}

/// Configures may's scheduler with one worker, once per process.
fn may_one_worker() {
    static CONFIG: Once = Once::new();
    CONFIG.call_once(|| {
        may::config().set_workers(1);
    });
}

/// Spawns `f` as a may coroutine.
fn may_spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> may::coroutine::JoinHandle<T> {
    // SAFETY: may's `spawn` is unsafe because a coroutine may move between worker
    // threads, making thread-local accesses unsound, and overflows its stack into a
    // segfault. The closures spawned here touch no thread-locals of their own (and may
    // runs one worker), and use a few hundred bytes of may's 32 KiB default stack.
    unsafe { may::coroutine::spawn(f) }
}

/// Runs `pair` in a coordinating may coroutine, which times it.
fn may_timed(pair: impl FnOnce() + Send + 'static) -> Duration {
    may_one_worker();
    may_spawn(move || {
        let start = Instant::now();
        pair();
        start.elapsed()
    })
    .join()
    .expect("the may coroutines did not panic")
}

/// may: two coroutines ping-ponging through two channels, `n / 2` round trips.
fn may_channels(n: u64) -> Duration {
    let round_trips = n / 2;
    may_timed(move || {
        let (to_b, from_a) = may::sync::mpsc::channel::<u64>();
        let (to_a, from_b) = may::sync::mpsc::channel::<u64>();
        let a = may_spawn(move || {
            let mut x = 0;
            for _ in 0..round_trips {
                to_b.send(x).expect("b is alive");
                x = from_b.recv().expect("b answers");
            }
            x
        });
        let b = may_spawn(move || {
            for x in from_a.iter() {
                to_a.send(x + 1).expect("a is alive");
            }
        });
        check(round_trips, a.join().expect("a did not panic"));
        b.join().expect("b did not panic");
    })
}

/// may: two coroutines handing a turn flag to each other with `yield_now`; `n / 2`
/// hand-overs each.
fn may_yield(n: u64) -> Duration {
    let per_side = n / 2;
    may_timed(move || {
        let turn = Arc::new(AtomicU8::new(0));
        let side = |me: u8| {
            let turn = Arc::clone(&turn);
            move || {
                let mut yields = 0_u64;
                for _ in 0..per_side {
                    while turn.load(Ordering::Acquire) != me {
                        may::coroutine::yield_now();
                        yields += 1;
                    }
                    turn.store(1 - me, Ordering::Release);
                }
                yields
            }
        };
        let a = may_spawn(side(0));
        let b = may_spawn(side(1));
        let yields = a.join().expect("a did not panic") + b.join().expect("b did not panic");
        // Every hand-over but the first of each side costs its receiver a yield.
        assert!(yields + 2 >= n, "only {yields} yields for {n} hand-overs");
    })
}

/// OS threads: this thread and one other exchanging the value through two rendezvous
/// channels, `n / 2` round trips.
fn os_threads(n: u64) -> Duration {
    let round_trips = n / 2;
    let (to_b, from_a) = crossbeam_channel::bounded::<u64>(0);
    let (to_a, from_b) = crossbeam_channel::bounded::<u64>(0);
    thread::scope(|scope| {
        scope.spawn(move || {
            for x in from_a {
                to_a.send(x + 1).expect("the benchmark thread is alive");
            }
        });
        let mut x = 0;
        let start = Instant::now();
        for _ in 0..round_trips {
            to_b.send(x).expect("the echo thread is alive");
            x = from_b.recv().expect("the echo thread answers");
        }
        let elapsed = start.elapsed();
        check(round_trips, x);
        drop(to_b); // ends the echo thread
        elapsed
    })
}

/// conc-coro: `Greenlet::new`, one switch running it to completion, drop; `n` times.
fn spawn_greenlets(n: u64) -> Duration {
    let mut sum = 0;
    let start = Instant::now();
    for i in 0..n {
        let g = Greenlet::new(|x: u64| x + 1);
        sum += g
            .switch_as::<u64, _>(i)
            .expect("the greenlet returns a u64");
        drop(g);
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n + 1) / 2);
    elapsed
}

/// Raw corosensei: `Coroutine::new` (a fresh 1 MiB stack), resume to completion, drop.
fn spawn_coroutines(n: u64) -> Duration {
    let mut sum = 0;
    let start = Instant::now();
    for i in 0..n {
        let mut co = Coroutine::new(|_: &Yielder<u64, ()>, x: u64| x + 1);
        sum += finish(co.resume(i));
        drop(co);
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n + 1) / 2);
    elapsed
}

/// Raw corosensei: `Coroutine::with_stack` on one stack (conc-coro's default size),
/// resume to completion, `into_stack` for the next.
fn spawn_on_one_stack(n: u64) -> Duration {
    let mut stack = Some(DefaultStack::new(conc_coro::DEFAULT_STACK_SIZE).expect("a stack"));
    let mut sum = 0;
    let start = Instant::now();
    for i in 0..n {
        let mut co = Coroutine::with_stack(
            stack.take().expect("the stack is back"),
            |_: &Yielder<u64, ()>, x: u64| x + 1,
        );
        sum += finish(co.resume(i));
        stack = Some(co.into_stack());
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n + 1) / 2);
    elapsed
}

/// The return value of a coroutine that must have finished.
fn finish(result: CoroutineResult<(), u64>) -> u64 {
    match result {
        CoroutineResult::Return(x) => x,
        CoroutineResult::Yield(()) => unreachable!("the coroutine never yields"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switching_system_bounces_the_value() {
        // Each asserts its own final value.
        for system in [
            greenlet_with_main,
            greenlet_pair,
            raw_corosensei,
            may_channels,
            may_yield,
            os_threads,
        ] {
            assert!(system(1000) > Duration::ZERO);
        }
    }

    #[test]
    fn every_spawn_system_runs_each_coroutine() {
        for system in [spawn_greenlets, spawn_coroutines, spawn_on_one_stack] {
            assert!(system(100) > Duration::ZERO);
        }
    }

    #[test]
    fn ratios_read_at_any_size() {
        assert_eq!(times_baseline(29.214), "29.21x baseline");
        assert_eq!(times_baseline(0.5), "0.50x baseline");
        assert_eq!(times_baseline(0.0117), "1/85 of baseline");
    }

    #[test]
    fn verdicts_are_relative_to_the_bar() {
        assert_eq!(at_most(1.0, TARGET_MAX_RATIO), "met, 50% under the bar");
        assert_eq!(at_most(3.0, TARGET_MAX_RATIO), "MISSED, 50% over the bar");
    }

    #[test]
    fn a_tiny_run_reports_every_system() {
        let report = run(&Config {
            quick: true,
            reps: 1,
        });
        assert_eq!(report.rows.len(), 9);
        assert_eq!(
            report.verdicts.len(),
            3,
            "two switching targets and the spawn one"
        );
        assert!(report.rows.iter().all(|r| r.value > 0.0));
    }
}
