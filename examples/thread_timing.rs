//! Timing sequential vs threaded sleeps; `join`; `current_thread()` and thread names.
//!
//! Ports seed 001 §2.2 ("统计线程的运行时间"): `run(n)` prints
//! `task n <Thread(Thread-1, started 10564)>` and sleeps 3 × 1 s; three threads are
//! started, every one is joined, and `cost: 3.00…` shows the sleeps overlapped (9 s of
//! sleeping in 3 s), then `print(threading.current_thread())` shows `MainThread`.
//! Also ports seed 001 §3.2 example 2: five threads, `setDaemon(True)` and then `join`
//! anyway, each printing `threading.current_thread().name` (`Thread-1` … `Thread-5`).
//!
//! What it shows: sleeping (like waiting on I/O) does not use the CPU, so three threads
//! finish three sleeps in the time of one; `join` makes the main thread wait; every
//! thread, the main one included, has a `Thread` identity with a name and an id.
//!
//! How Rust differs: the same as Python here (sleep releases the CPU, and in Python the
//! GIL too). The numbers in default names `Thread-N` come from one process-wide
//! counter, as in Python, so they keep counting across the two parts. Steps are 100 ms
//! instead of 1 s.

use std::time::{Duration, Instant};

use conc_thread::{Builder, Thread, current_thread};

const STEP: Duration = Duration::from_millis(100);

/// Python's `repr(thread)`: `<Thread(Thread-1, started 10564)>`.
fn repr(t: &Thread) -> String {
    format!("<Thread({}, started {})>", t.name(), t.native_id())
}

/// Seed 001's `run(n)`: three steps of sleeping.
fn run(n: &str) {
    println!("task {n} {}", repr(&current_thread()));
    for left in ["3s", "2s", "1s"] {
        std::thread::sleep(STEP);
        println!("{n}: {left}");
    }
}

fn main() {
    examples::heading("Sequentially: run(\"s-0\"), run(\"s-1\"), run(\"s-2\") on the main thread");
    let start = Instant::now();
    for i in 0..3 {
        run(&format!("s-{i}"));
    }
    let sequential = start.elapsed();
    println!("cost: {}", examples::ms(sequential));

    examples::heading("Threaded: three threads, then join each (seed 001 §2.2)");
    let start = Instant::now();
    let mut t_obj = Vec::new(); // the seed's list of thread objects
    for i in 0..3 {
        let n = format!("t-{i}");
        t_obj.push(conc_thread::spawn(move || run(&n)));
    }
    for t in t_obj {
        t.join().expect("run does not panic"); // the main thread waits here
    }
    let threaded = start.elapsed();
    println!("cost: {}", examples::ms(threaded));
    println!("{}", repr(&current_thread()));
    println!(
        "-> 9 steps of sleeping took {:.1}x less time with 3 threads",
        sequential.as_secs_f64() / threaded.as_secs_f64()
    );

    // Sleeping 9 steps one after another cannot take less than 9 steps; three threads
    // sleeping 3 steps each side by side take about 3.
    assert!(sequential >= 9 * STEP);
    assert!(threaded >= 3 * STEP);
    assert!(
        threaded < sequential,
        "threads should overlap their sleeps: {threaded:?} vs {sequential:?}"
    );
    assert_eq!(current_thread().name(), "MainThread");

    examples::heading("Seed 001 §3.2: five daemon threads, joined anyway, print their names");
    let start = Instant::now();
    println!("this is the main thread: {}", current_thread().name());
    let thread_list: Vec<_> = (0..5)
        .map(|_| {
            Builder::new()
                .daemon(true) // t.setDaemon(True)
                .spawn(|| {
                    std::thread::sleep(STEP);
                    let name = current_thread().name().to_owned();
                    println!("the current thread's name is: {name}");
                    std::thread::sleep(STEP);
                    name
                })
                .expect("the OS should start a thread")
        })
        .collect();
    let mut names = Vec::new();
    for t in thread_list {
        // join() waits even for a daemon thread: daemon only matters at program exit.
        names.push(t.join().expect("the thread does not panic"));
    }
    println!("main thread finished! {}", current_thread().name());
    println!("total time: {}", examples::ms(start.elapsed()));
    assert_eq!(names.len(), 5);
    assert!(names.iter().all(|n| n.starts_with("Thread-")));
}
