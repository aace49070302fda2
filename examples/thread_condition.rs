//! `Condition`: producers and consumers over a small bounded buffer.
//!
//! Ports seed 004 ("线程间通信"), which names `threading.Condition()` — "a condition
//! variable lets one or more threads wait until notified by another thread" — and
//! leaves the code out ("代码示例-略"). This is the textbook Python program it implies:
//!
//! ```text
//! with not_full:                      with not_empty:
//!     not_full.wait_for(lambda: len(items) < 3)      not_empty.wait_for(lambda: items)
//!     items.append(x)                     x = items.popleft()
//!     not_empty.notify()                  not_full.notify()
//! ```
//!
//! with two conditions sharing one lock, the way CPython's own `queue.Queue` is built.
//!
//! What it shows: `Condition::with_lock` (two conditions on one `Lock`), `lock()` as
//! `with cond:`, `wait_for(predicate, timeout)` and `notify(1)`; 2 producers and 2
//! consumers passing 20 items through a buffer of 3, and checks that nothing was lost or
//! duplicated and the buffer never overflowed. Then `wait_for` with a timeout.
//!
//! How Rust differs: a `Condition`'s lock orders code but does not own the buffer, so
//! the buffer itself sits in a `std::sync::Mutex`, locked briefly while the condition's
//! lock is held (the compiler will not let threads share a bare `VecDeque`). In
//! idiomatic Rust one would use `std::sync::Condvar`, which is tied to the `Mutex` that
//! owns the data, or simply a `conc_thread::Queue`, which is this very structure.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use conc_thread::{Builder, Condition, Lock};

const CAPACITY: usize = 3;
const PRODUCERS: u32 = 2;
const CONSUMERS: u32 = 2;
const ITEMS_EACH: u32 = 10;

/// A bounded buffer: one lock, two conditions, as in CPython's `queue.Queue`.
struct Buffer {
    not_empty: Condition<Lock>,
    not_full: Condition<Lock>,
    items: Mutex<VecDeque<Option<u32>>>,
    max_len: AtomicUsize,
}

impl Buffer {
    fn new() -> Self {
        let lock = Arc::new(Lock::new());
        Buffer {
            not_empty: Condition::with_lock(lock.clone()),
            not_full: Condition::with_lock(lock),
            items: Mutex::new(VecDeque::new()),
            max_len: AtomicUsize::new(0),
        }
    }

    fn items(&self) -> MutexGuard<'_, VecDeque<Option<u32>>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `item`, waiting while the buffer is full; `None` is the "no more items"
    /// sentinel for one consumer. `log` runs under the lock, so the log is in the real
    /// order of events.
    fn put(&self, item: Option<u32>, log: impl FnOnce(usize)) {
        let _with = self.not_full.lock(); // with not_full:
        self.not_full
            .wait_for(|| self.items().len() < CAPACITY, None)
            .expect("we hold the lock");
        let mut items = self.items();
        items.push_back(item);
        let len = items.len();
        drop(items);
        self.max_len.fetch_max(len, Ordering::SeqCst);
        log(len);
        self.not_empty.notify(1).expect("we hold the lock"); // wake one consumer
    }

    /// Takes the oldest item, waiting while the buffer is empty.
    fn get(&self, log: impl FnOnce(Option<u32>, usize)) -> Option<u32> {
        let _with = self.not_empty.lock(); // with not_empty:
        self.not_empty
            .wait_for(|| !self.items().is_empty(), None)
            .expect("we hold the lock");
        let mut items = self.items();
        let item = items.pop_front().expect("the predicate saw an item");
        let len = items.len();
        drop(items);
        log(item, len);
        self.not_full.notify(1).expect("we hold the lock"); // wake one producer
        item
    }
}

fn main() {
    examples::heading("2 producers, 2 consumers, a buffer of 3 guarded by two Conditions");
    let buffer = Arc::new(Buffer::new());
    let start = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let buffer = buffer.clone();
            Builder::new()
                .name(format!("producer-{p}"))
                .spawn(move || {
                    for k in 0..ITEMS_EACH {
                        let item = p * 100 + k;
                        buffer.put(Some(item), |len| {
                            println!(
                                "{} producer-{p} put {item:>3}   (buffer {len}/{CAPACITY})",
                                examples::stamp(start)
                            );
                        });
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
                .expect("the OS should start a thread")
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let buffer = buffer.clone();
            Builder::new()
                .name(format!("consumer-{c}"))
                .spawn(move || {
                    let mut got = Vec::new();
                    let log = |item: Option<u32>, len| {
                        if let Some(item) = item {
                            println!(
                                "{}     consumer-{c} got {item:>3} (buffer {len}/{CAPACITY})",
                                examples::stamp(start)
                            );
                        }
                    };
                    while let Some(item) = buffer.get(log) {
                        got.push(item);
                        std::thread::sleep(Duration::from_millis(8)); // slower than producers
                    }
                    got
                })
                .expect("the OS should start a thread")
        })
        .collect();

    for p in producers {
        p.join().expect("the producer does not panic");
    }
    for _ in 0..CONSUMERS {
        buffer.put(None, |_| {}); // one sentinel per consumer: "no more items"
    }
    let mut all = Vec::new();
    for (c, consumer) in consumers.into_iter().enumerate() {
        let got = consumer.join().expect("the consumer does not panic");
        println!("consumer-{c} consumed {} items", got.len());
        all.extend(got);
    }
    all.sort_unstable();
    let expected: Vec<u32> = (0..PRODUCERS)
        .flat_map(|p| (0..ITEMS_EACH).map(move |k| p * 100 + k))
        .collect();
    let max_len = buffer.max_len.load(Ordering::SeqCst);
    println!(
        "{} items produced, {} consumed, none lost or duplicated; the buffer never held more than {max_len}",
        expected.len(),
        all.len()
    );
    assert_eq!(all, expected);
    assert!(max_len <= CAPACITY);

    examples::heading("wait_for with a timeout: give up if the condition never comes true");
    let cond = Condition::new();
    let _with = cond.lock();
    let waited = Instant::now();
    let ok = cond
        .wait_for(|| false, Some(Duration::from_millis(100)))
        .expect("we hold the lock");
    println!(
        "wait_for(never true, timeout=0.1) -> {ok} after {}",
        examples::ms(waited.elapsed())
    );
    assert!(!ok);
}
