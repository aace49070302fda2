//! The "unsafe counter" lesson: 20,000 threads add 1 to a shared number, under a `Lock`.
//!
//! Ports seed 001 §2.6 ("多线程不安全") and §2.7 ("互斥锁"): 20,000 threads each run
//! `global num; num += 1`; without a lock the total may come out below 20,000 (dirty
//! data), so §2.7 wraps the increment in `lock.acquire()` / `lock.release()` and the
//! result is always `num: 20000`.
//!
//! What it shows: the locked version with `conc_thread::Lock`, 20,000 real OS threads,
//! and the answer 20,000 every time. Then the lost update itself, made visible, and the
//! two idiomatic Rust fixes (`fetch_add`, `Mutex<u64>`).
//!
//! How Rust differs: the seed's unlocked version **cannot be written** in safe Rust:
//!
//! ```text
//! let mut num = 0;
//! for _ in 0..20_000 {
//!     conc_thread::spawn(|| num += 1);
//! }
//! // error[E0373]: closure may outlive the current function, but it borrows `num`
//! // error[E0499]: cannot borrow `num` as mutable more than once at a time
//! ```
//!
//! With `move` every thread gets its own copy; with `Arc<u64>` the compiler says
//! "cannot assign to data in an `Arc`"; with `static mut NUM` it demands `unsafe`, and
//! the data race is then undefined behaviour, not merely a wrong total. A value shared
//! between threads must be a type that is safe to share (`Sync`): an atomic, or data
//! inside a `Mutex`. That is why the counter below is an `AtomicU64`, and why the
//! unsafe version is shown with two *atomic* operations (a relaxed `load` then a
//! relaxed `store`): each is safe on its own, but together they are the same
//! read-modify-write race as Python's `num += 1`, and they lose updates the same way.
//!
//! 20,000 threads: they are started in waves of 1,000 with a 64 KiB stack each and
//! joined wave by wave, so the example stays far below the OS limits (threads, memory
//! maps) on any machine; Python starts them all at once, but each finishes almost
//! immediately, so few are alive at any moment there either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use conc_thread::{Builder, Lock};

const THREADS: u64 = 20_000;
const WAVE: u64 = 1_000;
const STACK: usize = 64 * 1024;

fn main() {
    examples::heading("Seed 001 §2.7: 20,000 threads, num += 1 under lock.acquire()/release()");
    let lock = Arc::new(Lock::new()); // lock = threading.Lock()
    let num = Arc::new(AtomicU64::new(0)); // num = 0
    let start = Instant::now();
    let mut max_alive = 0;
    for wave in 0..THREADS / WAVE {
        let mut t_obj = Vec::with_capacity(WAVE as usize);
        for i in 0..WAVE {
            let (lock, num) = (lock.clone(), num.clone());
            let t = Builder::new()
                .name(format!("t-{}", wave * WAVE + i))
                .stack_size(STACK)
                .spawn(move || {
                    lock.acquire(); // lock.acquire()
                    // num += 1, spelled as the read and the write it really is; the lock
                    // makes the pair indivisible.
                    let value = num.load(Ordering::Relaxed);
                    num.store(value + 1, Ordering::Relaxed);
                    lock.release().expect("this thread holds the lock"); // lock.release()
                })
                .expect("the OS should start a thread");
            t_obj.push(t);
        }
        max_alive = max_alive.max(conc_thread::active_count());
        for t in t_obj {
            t.join().expect("the thread does not panic");
        }
    }
    let total = num.load(Ordering::SeqCst);
    println!("num: {total}");
    println!(
        "{THREADS} threads started and joined in {} (at most {max_alive} alive at once)",
        examples::ms(start.elapsed())
    );
    assert_eq!(total, THREADS, "the lock makes every increment count");
    assert!(!lock.locked());

    examples::heading("Seed 001 §2.6, made visible: the same read-then-write without the lock");
    // Two threads, a million increments each: far more chances to collide than 20,000
    // one-shot threads. Both operations are atomic, so this is safe Rust; the pair is
    // not, so an increment made between another thread's load and store is overwritten.
    const PER_THREAD: u64 = 1_000_000;
    let racy = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let racy = racy.clone();
            conc_thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let value = racy.load(Ordering::Relaxed);
                    racy.store(value + 1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("the thread does not panic");
    }
    let got = racy.load(Ordering::SeqCst);
    println!(
        "expected {}, got {got}: {} updates lost",
        2 * PER_THREAD,
        2 * PER_THREAD - got
    );
    println!("(on one core, or if the threads happen not to overlap, nothing is lost)");
    assert!(got <= 2 * PER_THREAD);

    examples::heading("The Rust fixes: one atomic read-modify-write, or the data inside a Mutex");
    let atomic = Arc::new(AtomicU64::new(0));
    let mutex = Arc::new(Mutex::new(0_u64));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (atomic, mutex) = (atomic.clone(), mutex.clone());
            conc_thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    atomic.fetch_add(1, Ordering::Relaxed); // no lock needed at all
                }
                for _ in 0..PER_THREAD / 10 {
                    // The Mutex owns the number: it cannot be touched without the lock.
                    *mutex.lock().expect("no thread panicked holding it") += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("the thread does not panic");
    }
    let by_atomic = atomic.load(Ordering::SeqCst);
    let by_mutex = *mutex.lock().expect("no thread panicked holding it");
    println!("fetch_add: {by_atomic} (expected {})", 2 * PER_THREAD);
    println!("Mutex<u64>: {by_mutex} (expected {})", 2 * PER_THREAD / 10);
    assert_eq!(by_atomic, 2 * PER_THREAD);
    assert_eq!(by_mutex, 2 * PER_THREAD / 10);
}
