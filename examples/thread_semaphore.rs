//! `BoundedSemaphore(5)`: 22 threads, at most 5 inside at once.
//!
//! Ports seed 001 §2.9 ("信号量"): `semaphore = threading.BoundedSemaphore(5)`; 22
//! threads each `semaphore.acquire(); time.sleep(1); print("run the thread:", n);
//! semaphore.release()`, so the lines come out five by five; the main thread spins in
//! `while threading.active_count() != 1: pass` and then prints
//! `-----all threads done-----`. Seed 004 describes the same counter ("n keys on a
//! hook by the kitchen door").
//!
//! What it shows: `BoundedSemaphore::access()` (the guard form of acquire/release);
//! time stamps showing the waves of five; a measured maximum of threads inside at once,
//! asserted to be at most 5; waiting for the threads by polling `active_count()` as the
//! seed does, then by joining, which is better; and the "bounded" part: releasing more
//! than was acquired is an error.
//!
//! How Rust differs: `with semaphore:` is `let _permit = semaphore.access();`. The
//! seed's busy loop burns a whole core while it waits; the port sleeps 5 ms per check,
//! and joins afterwards, which waits without polling at all. Python's
//! `release()` raising `ValueError` is `Err(ThreadError::OverRelease)` here. The 1 s
//! sleep is 150 ms, so the five waves take about 0.75 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conc_thread::{BoundedSemaphore, ThreadError, active_count};

const WORK: Duration = Duration::from_millis(150);

fn main() {
    examples::heading("Seed 001 §2.9: BoundedSemaphore(5), 22 threads");
    let semaphore = Arc::new(BoundedSemaphore::new(5)); // at most 5 threads at once
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..22)
        .map(|i| {
            let (semaphore, inside, max_inside) =
                (semaphore.clone(), inside.clone(), max_inside.clone());
            conc_thread::Builder::new()
                .name(format!("t-{i}"))
                .spawn(move || {
                    let _permit = semaphore.access(); // semaphore.acquire()
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(WORK);
                    println!("{} run the thread: t-{i}", examples::stamp(start));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    // `_permit` dropped here: semaphore.release()
                })
                .expect("the OS should start a thread")
        })
        .collect();

    // The seed's wait: `while threading.active_count() != 1: pass`.
    while active_count() != 1 {
        std::thread::sleep(Duration::from_millis(5)); // the seed spins; we nap
    }
    println!("-----all threads done-----");

    // The better wait: join every thread (here it returns at once, they are finished).
    for t in threads {
        t.join().expect("the thread does not panic");
    }
    let max = max_inside.load(Ordering::SeqCst);
    let took = start.elapsed();
    println!(
        "at most {max} threads were inside at once; 22 threads x {} took {}",
        examples::ms(WORK),
        examples::ms(took)
    );
    assert!(max <= 5, "the semaphore lets at most 5 in, saw {max}");
    assert!(max >= 1);
    // Five waves (5+5+5+5+2) of WORK each, one after another.
    assert!(
        took >= 5 * WORK,
        "at most 5 at a time means at least 5 waves"
    );
    assert_eq!(semaphore.value(), 5, "every permit came back");

    examples::heading("Bounded: one release() too many is an error");
    let over = semaphore.release(1);
    println!("release() with all 5 permits back: {over:?}");
    assert_eq!(over, Err(ThreadError::OverRelease));
    // A plain Semaphore would just grow to 6; that is the difference.
    let plain = conc_thread::Semaphore::new(5);
    plain.release(1);
    println!(
        "plain Semaphore(5) after one extra release(): value {}",
        plain.value()
    );
    assert_eq!(plain.value(), 6);
}
