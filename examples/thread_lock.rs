//! `Lock`: 100 threads decrementing a shared number, and the two ways to hold a lock.
//!
//! Ports seed 004 ("线程锁Lock"): `num = 100`; 100 threads each sleep 3 s *without* the
//! lock (they run concurrently), then under `lock.acquire()` do
//! `num2 = num; time.sleep(0.001); num = num2 - 1` (serialized), and the result is
//! `num is 0`: "未加锁部分并发执行,加锁部分串行执行" — the unlocked part runs
//! concurrently, the locked part one thread at a time.
//! Ports seed 003 ("Lock的使用方式"): `lock.acquire()` + `try: ... finally:
//! lock.release()`, versus `with lock:`; and its `MyThread(thread_id, name, counter)`
//! example where two threads hold one lock while printing the time three times each, so
//! their lines never interleave.
//!
//! What it shows: `Lock::acquire`/`release` and `Lock::lock()` (a guard: `with lock:`);
//! the timing of concurrent vs serialized sections; what is lost without the lock; and
//! why the guard is the safe spelling.
//!
//! How Rust differs: `with lock:` is `let _guard = lock.lock();` — the lock is released
//! when the guard goes out of scope, *including when the code panics*, which is what
//! Python's `try`/`finally` buys. Rust has no `finally`: a bare `acquire()` ...
//! `release()` pair skips the release if the code in between panics, leaving the lock
//! locked (shown below). A `conc_thread::Lock` has no owner, like Python's, so another
//! thread may release it. Sleeps are scaled: 3 s → 100 ms; 1 ms stays 1 ms.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_thread::{Builder, Lock, current_thread};

/// The seed's unlocked `time.sleep(3)`, scaled.
const UNLOCKED_WORK: Duration = Duration::from_millis(100);
/// The seed's `time.sleep(0.001)` between reading and writing `num`.
const CRITICAL_WORK: Duration = Duration::from_millis(1);

/// Runs seed 004's `fun_sub` in 100 threads; `lock` is `None` for the broken version.
/// Returns the final `num` and the elapsed time.
fn hundred_threads(lock: Option<Arc<Lock>>) -> (i64, Duration) {
    let num = Arc::new(AtomicI64::new(100)); // num = 100
    let start = Instant::now();
    let thread_list: Vec<_> = (0..100)
        .map(|i| {
            let (num, lock) = (num.clone(), lock.clone());
            Builder::new()
                .name(format!("Thread-{}", i + 1))
                .spawn(move || {
                    std::thread::sleep(UNLOCKED_WORK); // unlocked: runs concurrently
                    if i < 3 {
                        println!(
                            "thread operating on the shared resource: {}",
                            current_thread().name()
                        );
                    }
                    let _guard = lock.as_ref().map(|lock| lock.lock()); // locked: serial
                    let num2 = num.load(Ordering::Relaxed);
                    std::thread::sleep(CRITICAL_WORK);
                    num.store(num2 - 1, Ordering::Relaxed);
                })
                .expect("the OS should start a thread")
        })
        .collect();
    for t in thread_list {
        t.join().expect("the thread does not panic");
    }
    (num.load(Ordering::SeqCst), start.elapsed())
}

/// Seed 003's `print_time(thread_name, delay, counter)`.
fn print_time(log: &Mutex<Vec<String>>, start: Instant, name: &str, delay: Duration) {
    for _ in 0..3 {
        std::thread::sleep(delay);
        let line = format!("#{name}: {}", examples::stamp(start));
        println!("{line}");
        log.lock()
            .expect("no panic while logging")
            .push(name.to_owned());
    }
}

fn main() {
    examples::heading("Seed 004: 100 threads, num = num - 1 under a Lock");
    println!("(printing the first 3 of the 100 'operating' lines)");
    let (num, took) = hundred_threads(Some(Arc::new(Lock::new())));
    println!("num is {num}, in {}", examples::ms(took));
    println!(
        "-> the 100 unlocked sleeps of {} overlapped; the 100 locked sections of {} ran one by one",
        examples::ms(UNLOCKED_WORK),
        examples::ms(CRITICAL_WORK)
    );
    assert_eq!(num, 0, "every decrement counts under the lock");
    // 100 serialized critical sections take at least 100 ms on top of the shared sleep.
    assert!(took >= UNLOCKED_WORK + 100 * CRITICAL_WORK);

    examples::heading("The same without the lock: read, sleep 1 ms, write back");
    let (num, took) = hundred_threads(None);
    println!(
        "num is {num}, in {}: {} of the 100 decrements were overwritten by other threads",
        examples::ms(took),
        num
    );
    assert!((0..=100).contains(&num));

    examples::heading("Seed 003: acquire() ... release() (Python: try/finally)");
    let lock = Arc::new(Lock::new());
    lock.acquire();
    // try: do something
    println!("holding the lock: locked() = {}", lock.locked());
    // finally:
    lock.release().expect("we acquired it just above");
    println!("released:         locked() = {}", lock.locked());
    assert!(!lock.locked());

    examples::heading("Seed 003: with lock: -> let _guard = lock.lock()");
    {
        let _guard = lock.lock();
        println!("inside the block:  locked() = {}", lock.locked());
        assert!(lock.locked());
    } // `_guard` dropped here: released
    println!("after the block:   locked() = {}", lock.locked());
    assert!(!lock.locked());

    examples::heading("Why the guard is the safe spelling: a panic while holding the lock");
    // Silence the default "thread panicked at" report for these two intended panics.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        println!(
            "  (a thread panicked, as planned: {})",
            examples_panic_message(info)
        );
    }));
    let bare = {
        let lock = lock.clone();
        conc_thread::spawn(move || {
            lock.acquire();
            panic!("error between acquire() and release()"); // release() never runs
        })
    };
    assert!(bare.join().is_err());
    println!(
        "bare acquire/release: locked() = {} (left locked!)",
        lock.locked()
    );
    assert!(lock.locked());
    lock.release().expect("any thread may release a Lock"); // cleaning up from main
    let guarded = {
        let lock = lock.clone();
        conc_thread::spawn(move || {
            let _guard = lock.lock();
            panic!("error inside `with lock:`"); // the guard still releases on unwind
        })
    };
    assert!(guarded.join().is_err());
    println!(
        "guard:                locked() = {} (released on unwind)",
        lock.locked()
    );
    assert!(!lock.locked());
    std::panic::set_hook(default_hook);

    examples::heading("Seed 003: MyThread(1, \"Thread-1\", 1) and MyThread(2, \"Thread-2\", 2)");
    let my_lock = Arc::new(Lock::new());
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    // (thread_id, name, delay): the seed's counter 1 and 2 seconds, scaled to 30 and 60 ms.
    let threads: Vec<_> = [(1, "Thread-1", 30), (2, "Thread-2", 60)]
        .into_iter()
        .map(|(thread_id, name, delay_ms)| {
            let (my_lock, log) = (my_lock.clone(), log.clone());
            Builder::new()
                .name(name)
                .spawn(move || {
                    println!("starting thread: {name} (id {thread_id})");
                    my_lock.acquire(); // acquire the lock to synchronize the threads
                    print_time(&log, start, name, Duration::from_millis(delay_ms));
                    my_lock.release().expect("this thread holds the lock");
                })
                .expect("the OS should start a thread")
        })
        .collect();
    for t in threads {
        t.join().expect("the thread does not panic");
    }
    println!("exiting the main thread");
    let log = log.lock().expect("no panic while logging").clone();
    // Whichever thread got the lock first printed its three lines before the other began.
    assert_eq!(log.len(), 6);
    assert!(log[..3].iter().all(|n| *n == log[0]) && log[3..].iter().all(|n| *n == log[3]));
    assert_ne!(log[0], log[3]);
    println!("-> each thread's three lines came out together: the lock serialized them");
}

/// The message of a panic, for the quiet panic hook above.
fn examples_panic_message(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".to_owned())
}
