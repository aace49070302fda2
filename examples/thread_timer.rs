//! `Timer`: run a function after a delay, or cancel it first.
//!
//! Ports seed 001 §2.11 ("定时器"): `t = Timer(1, hello); t.start()` prints
//! `hello, world` one second later.
//!
//! What it shows: `Timer::new(delay, f)` + `start()`; `join()` telling whether the
//! function ran; `cancel()` before the delay stops it (Python's `t.cancel()`), and
//! `cancel()` after it fired does nothing.
//!
//! How Rust differs: the delay is a `Duration`, and `join()` returns `Ok(true)` if the
//! function ran, `Ok(false)` if the timer was cancelled (Python's `join()` returns
//! `None` and you cannot tell). A Timer is a thread like any other: Python would wait
//! for it at exit, Rust would kill it when `main` returns, so the example joins it.
//! The 1 s delay is 200 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conc_thread::Timer;

fn main() {
    examples::heading("Seed 001 §2.11: Timer(1, hello).start()");
    let start = Instant::now();
    let mut t = Timer::new(Duration::from_millis(200), move || {
        println!("{} hello, world", examples::stamp(start));
    });
    t.start().expect("the OS should start the timer thread");
    println!(
        "{} timer started; main thread carries on",
        examples::stamp(start)
    );
    let ran = t.join().expect("hello does not panic");
    println!("{} join() -> ran: {ran}", examples::stamp(start));
    assert!(ran, "the timer fired");
    assert!(start.elapsed() >= Duration::from_millis(200));

    examples::heading("t.cancel() before it fires: hello never runs");
    let start = Instant::now();
    let fired = Arc::new(AtomicBool::new(false));
    let mut t = {
        let fired = fired.clone();
        Timer::new(Duration::from_secs(10), move || {
            fired.store(true, Ordering::SeqCst);
            println!("hello, world (should not happen)");
        })
    };
    t.start().expect("the OS should start the timer thread");
    std::thread::sleep(Duration::from_millis(50));
    println!(
        "{} cancelling the 10 s timer; alive: {}",
        examples::stamp(start),
        t.is_alive()
    );
    t.cancel();
    let ran = t.join().expect("the timer does not panic");
    println!(
        "{} join() -> ran: {ran} (returned at once, not after 10 s)",
        examples::stamp(start)
    );
    assert!(!ran && !fired.load(Ordering::SeqCst));
    assert!(start.elapsed() < Duration::from_secs(10));

    examples::heading("cancel() after the timer fired: too late, nothing happens");
    let mut t = Timer::new(Duration::ZERO, || println!("hello, world (immediately)"));
    t.start().expect("the OS should start the timer thread");
    let ran = t.join().expect("hello does not panic");
    t.cancel();
    println!("join() -> ran: {ran}; cancel() afterwards is a no-op");
    assert!(ran);

    examples::heading("A timer starts once");
    let err = t.start().expect_err("a second start is refused");
    println!("second start(): {err}");
}
