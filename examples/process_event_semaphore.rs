//! `Event` and `Semaphore` across processes.
//!
//! Ports seed 004 §4.4: `multiprocessing.Event()` ("sends an event signal, like
//! threading.Event") and `multiprocessing.Semaphore()` ("limits the maximum
//! concurrency, like threading.Semaphore"). Three children wait for a start signal the
//! parent sets; then six children share a `Semaphore(2)`, so at most two work at once.
//!
//! What it shows: the same primitives as `conc_thread`, shared by processes. The peak
//! concurrency is measured in a shared `Value` and checked.
//!
//! How Rust differs: `Semaphore::access()` returns a guard that releases on drop, so a
//! panicking worker cannot leak a permit.

use std::time::{Duration, Instant};

use conc_process::{Event, Process, Semaphore, Value, current_process};

fn wait_for_start(start: Event) -> Duration {
    let t = Instant::now();
    start.wait();
    println!("  {} got the signal", current_process().name());
    t.elapsed()
}

fn limited((sem, running, peak): (Semaphore, Value<u32>, Value<u32>)) {
    let _permit = sem.access();
    {
        let mut now = running.lock().expect("lock");
        *now += 1;
        let mut p = peak.lock().expect("lock");
        *p = (*p).max(*now);
        println!("  {} working ({} at once)", current_process().name(), *now);
    }
    std::thread::sleep(Duration::from_millis(100));
    *running.lock().expect("lock") -= 1;
}

fn main() {
    conc_process::init();

    examples::heading("Event: three children wait until the parent sets it");
    let start = Event::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let p = Process::new(wait_for_start, start.clone());
            p.start().expect("start");
            p
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    println!("parent: set()");
    start.set();
    for p in waiters {
        let waited = p.result().expect("result");
        assert!(
            waited >= Duration::from_millis(100),
            "a child passed before set(): {waited:?}"
        );
    }

    examples::heading("Semaphore(2): six children, two at a time");
    let sem = Semaphore::new(2);
    let (running, peak) = (Value::new(0u32), Value::new(0u32));
    let t = Instant::now();
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let p = Process::new(limited, (sem.clone(), running.clone(), peak.clone()));
            p.start().expect("start");
            p
        })
        .collect();
    for p in &workers {
        p.join().expect("join");
    }
    let peak = peak.get().expect("get");
    println!(
        "peak concurrency {peak}, total {}",
        examples::ms(t.elapsed())
    );
    assert!(peak <= 2, "the semaphore let {peak} in at once");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "six 100 ms jobs, two at a time"
    );
}
