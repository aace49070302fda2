//! Counting live threads with `active_count()` (and listing them with `enumerate()`).
//!
//! Ports seed 001 §2.3 ("统计活跃线程数"): three threads each `print("task", n)` and
//! `time.sleep(1)`. In example 1 the main thread sleeps 0.5 s and
//! `threading.active_count()` prints 4 (three workers + the main thread); in example 2
//! it sleeps 1 s, the workers are done, and it prints 1.
//!
//! What it shows: `conc_thread::active_count()` counts the main thread plus every thread
//! started through `conc_thread` that has not finished yet; `enumerate()` lists them.
//!
//! How Rust differs: nothing in the API, but the seed's "sleep a bit less / a bit more
//! than the workers" is a race that a busy machine can lose. Here the workers wait on an
//! `Event` gate instead of a timer, so the count is exactly 4 while they are held and
//! exactly 1 after they are joined, on any machine. A finished thread leaves the count
//! before its `join` returns.

use std::sync::Arc;
use std::time::Duration;

use conc_thread::{Event, active_count, enumerate};

fn main() {
    examples::heading("Example 1: three threads still running -> active_count() == 4");
    let gate = Arc::new(Event::new());
    let started = Arc::new(conc_thread::Semaphore::new(0));
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let (gate, started) = (gate.clone(), started.clone());
            conc_thread::Builder::new()
                .name(format!("t-{i}"))
                .spawn(move || {
                    println!("task t-{i}");
                    started.release(1);
                    // The seed's `time.sleep(1)`: "still busy". Held until main opens the gate.
                    gate.wait();
                })
                .expect("the OS should start a thread")
        })
        .collect();
    for _ in 0..3 {
        started.acquire(); // every worker has printed its line
    }
    std::thread::sleep(Duration::from_millis(50)); // the seed's time.sleep(0.5), scaled
    let running = active_count();
    println!("{running}");
    let names: Vec<String> = enumerate().iter().map(|t| t.name().to_owned()).collect();
    println!("threading.enumerate(): {names:?}");
    assert_eq!(running, 4, "three workers + the main thread");
    assert_eq!(names, ["MainThread", "t-0", "t-1", "t-2"]);

    examples::heading("Example 2: the workers are done -> active_count() == 1");
    gate.set(); // the workers' "sleep" ends
    for w in workers {
        // Instead of sleeping "long enough", join: afterwards the thread is gone for sure.
        w.join().expect("the worker does not panic");
    }
    let running = active_count();
    println!("{running}");
    assert_eq!(running, 1, "only the main thread is left");
    println!("-> only MainThread is left");
}
