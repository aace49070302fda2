//! Daemon threads, and what happens to threads when the program ends.
//!
//! Ports seed 001 §2.4 ("守护线程"): three threads are made daemons with
//! `t.setDaemon(True)` before `start()`; each prints `task n` and would then count
//! `3`, `2`, `1` a second apart, but the main thread only sleeps 0.5 s, prints
//! `active_count()` (4) and ends, and the daemons die with the program before printing
//! anything else.
//!
//! What it shows: `Builder::daemon(true)`; the daemon flag is inherited by threads a
//! daemon starts; `join_non_daemon_threads()` and `ExitGuard` wait for the non-daemon
//! threads only, so daemons are cut off when the process exits while ordinary threads
//! get to finish, exactly Python's exit rule.
//!
//! How Rust differs: a Rust process ends as soon as `main` returns, killing *every*
//! thread, daemon or not. `conc_thread` restores Python's rule on request: hold an
//! `ExitGuard` in `main` (it waits in its `Drop`), or call `join_non_daemon_threads()`.
//! Without either, the non-daemon "writer" below would be killed half-way too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conc_thread::{Builder, ExitGuard, active_count, current_thread, join_non_daemon_threads};

/// The seed's one-second step. The daemons really take 1 s per step: the program is
/// over long before their first step ends.
const SECOND: Duration = Duration::from_secs(1);

/// Seed 001's `run(n)` for the daemons.
fn run(n: String) {
    println!("task {n}");
    std::thread::sleep(SECOND);
    println!("3"); // never printed: the process is gone by then
    std::thread::sleep(SECOND);
    println!("2");
    std::thread::sleep(SECOND);
    println!("1");
}

fn main() {
    // Python's exit rule for the whole program: when `_exit` is dropped at the end of
    // `main`, it waits for every non-daemon thread, but not for daemons.
    let _exit = ExitGuard::new();
    let start = Instant::now();

    examples::heading("Seed 001 §2.4: three daemon threads, main sleeps 0.5 s and ends");
    let mut daemons = Vec::new();
    for i in 0..3 {
        let t = Builder::new()
            .name(format!("t-{i}"))
            .daemon(true) // t.setDaemon(True), before start() as Python requires
            .spawn(move || run(format!("t-{i}")))
            .expect("the OS should start a thread");
        daemons.push(t);
    }
    std::thread::sleep(Duration::from_millis(100)); // time.sleep(0.5), scaled
    let running = active_count();
    println!("{running}");
    assert!(running >= 4, "three daemons + main are alive");

    examples::heading("A daemon's children are daemons too");
    let child_is_daemon = Builder::new()
        .name("parent")
        .daemon(true)
        .spawn(|| {
            conc_thread::spawn(|| current_thread().is_daemon())
                .join()
                .expect("the child does not panic")
        })
        .expect("the OS should start a thread")
        .join()
        .expect("the parent does not panic");
    println!("thread started by a daemon, daemon by default: {child_is_daemon}");
    assert!(child_is_daemon);

    examples::heading("A non-daemon thread is waited for, even if nobody joins it");
    let written = Arc::new(AtomicBool::new(false));
    let writer = {
        let written = written.clone();
        Builder::new()
            .name("writer")
            .spawn(move || {
                println!("{} writer: saving work (300 ms)...", examples::stamp(start));
                std::thread::sleep(Duration::from_millis(300));
                written.store(true, Ordering::SeqCst);
                println!("{} writer: saved", examples::stamp(start));
            })
            .expect("the OS should start a thread")
    };
    assert!(
        !writer.thread().is_daemon(),
        "threads of the main thread are not daemons"
    );
    drop(writer); // detached: nobody will call join on it

    println!(
        "{} main: waiting for non-daemon threads (join_non_daemon_threads)",
        examples::stamp(start)
    );
    join_non_daemon_threads(); // what `_exit` also does when `main` returns
    println!("{} main: the writer is done", examples::stamp(start));
    assert!(
        written.load(Ordering::SeqCst),
        "the non-daemon thread ran to completion"
    );

    let alive: Vec<&str> = daemons
        .iter()
        .filter(|t| t.is_alive())
        .map(|t| t.name())
        .collect();
    println!(
        "{} main: ends now; daemon threads still sleeping: {alive:?} -- they die with the \
         process without printing 3/2/1",
        examples::stamp(start)
    );
    // Dropping the daemons' handles detaches them; `_exit` then finds nothing left to
    // wait for, and the process exits, taking the daemons with it.
}
