//! Stress tests under contention: many threads hammering each primitive, checking the
//! invariant the primitive exists for. Counts are sized to finish in seconds on a loaded
//! 2-core machine in debug builds.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use common::PATIENCE;
use conc_thread::{Barrier, BoundedSemaphore, Condition, Event, Lock, Queue, RLock, Semaphore};

const THREADS: usize = 8;

/// A read-modify-write that loses updates unless callers exclude each other.
fn racy_increment(counter: &AtomicU64) {
    let v = counter.load(Ordering::Relaxed);
    std::hint::spin_loop();
    counter.store(v + 1, Ordering::Relaxed);
}

fn run_threads(n: usize, f: impl Fn(usize) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            conc_thread::spawn(move || f(i))
        })
        .collect();
    for h in handles {
        let mut h = h;
        h.join_timeout(PATIENCE)
            .expect("stress thread failed or hung");
    }
}

#[test]
fn lock_mutual_exclusion() {
    let lock = Arc::new(Lock::new());
    let counter = Arc::new(AtomicU64::new(0));
    let (l, c) = (lock.clone(), counter.clone());
    run_threads(THREADS, move |_| {
        for _ in 0..20_000 {
            let _g = l.lock();
            racy_increment(&c);
        }
    });
    assert_eq!(counter.load(Ordering::SeqCst), (THREADS * 20_000) as u64);
    assert!(!lock.locked());
}

#[test]
fn lock_mixed_timeouts_and_try() {
    let lock = Arc::new(Lock::new());
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let (l, c, d) = (lock.clone(), counter.clone(), done.clone());
    run_threads(THREADS, move |i| {
        for k in 0..5_000 {
            let got = match (i + k) % 3 {
                0 => {
                    l.acquire();
                    true
                }
                1 => l.acquire_timeout(Duration::from_micros(50)),
                _ => l.try_acquire(),
            };
            if got {
                racy_increment(&c);
                d.fetch_add(1, Ordering::Relaxed);
                l.release().unwrap();
            }
        }
    });
    assert_eq!(
        counter.load(Ordering::SeqCst),
        done.load(Ordering::SeqCst),
        "an acquire let two threads in"
    );
    assert!(!lock.locked());
}

#[test]
fn lock_released_by_other_threads_as_binary_semaphore() {
    // Ping-pong: thread A acquires `ping`, thread B releases it, and vice versa.
    let ping = Arc::new(Lock::new());
    let pong = Arc::new(Lock::new());
    ping.acquire();
    pong.acquire();
    let rounds = 10_000;
    let (pi, po) = (ping.clone(), pong.clone());
    let other = conc_thread::spawn(move || {
        for _ in 0..rounds {
            pi.acquire(); // wait for the main thread's signal
            po.release().unwrap(); // answer
        }
    });
    for _ in 0..rounds {
        ping.release().unwrap();
        pong.acquire();
    }
    other.join().unwrap();
    assert!(
        ping.locked() && pong.locked(),
        "each side ends holding the other's signal"
    );
}

#[test]
fn rlock_nested_mutual_exclusion() {
    let lock = Arc::new(RLock::new());
    let counter = Arc::new(AtomicU64::new(0));
    let (l, c) = (lock.clone(), counter.clone());
    run_threads(THREADS, move |_| {
        for _ in 0..5_000 {
            let _outer = l.lock();
            let _inner = l.lock();
            racy_increment(&c);
        }
    });
    assert_eq!(counter.load(Ordering::SeqCst), (THREADS * 5_000) as u64);
    assert!(!lock.locked());
}

#[test]
fn condition_producer_consumer() {
    let cond = Arc::new(Condition::with_lock(Arc::new(Lock::new())));
    let items = Arc::new(AtomicUsize::new(0));
    let consumed = Arc::new(AtomicUsize::new(0));
    let per_producer = 2_000;
    let producers = 4;
    let (c, it) = (cond.clone(), items.clone());
    let producer_handles: Vec<_> = (0..producers)
        .map(|_| {
            let (c, it) = (c.clone(), it.clone());
            conc_thread::spawn(move || {
                for _ in 0..per_producer {
                    let _g = c.lock();
                    it.fetch_add(1, Ordering::SeqCst);
                    c.notify(1).unwrap();
                }
            })
        })
        .collect();
    let consumer_handles: Vec<_> = (0..producers)
        .map(|_| {
            let (c, it, done) = (cond.clone(), items.clone(), consumed.clone());
            conc_thread::spawn(move || {
                for _ in 0..per_producer {
                    let _g = c.lock();
                    assert!(
                        c.wait_for(|| it.load(Ordering::SeqCst) > 0, Some(PATIENCE))
                            .unwrap(),
                        "a notification was lost"
                    );
                    it.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in producer_handles.into_iter().chain(consumer_handles) {
        h.join().unwrap();
    }
    assert_eq!(consumed.load(Ordering::SeqCst), producers * per_producer);
    assert_eq!(items.load(Ordering::SeqCst), 0);
}

#[test]
fn semaphore_bounds_concurrency() {
    for bounded in [false, true] {
        let limit = 3;
        let sem = Arc::new(Semaphore::new(limit));
        let bsem = Arc::new(BoundedSemaphore::new(limit));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (s, b, i, p) = (sem.clone(), bsem.clone(), inside.clone(), peak.clone());
        run_threads(THREADS, move |_| {
            for _ in 0..2_000 {
                let _permit = if bounded { b.access() } else { s.access() };
                let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                i.fetch_sub(1, Ordering::SeqCst);
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= limit);
        assert_eq!(sem.value(), limit);
        assert_eq!(bsem.value(), limit);
    }
}

#[test]
fn barrier_many_cycles() {
    let parties = 4;
    let barrier = Arc::new(Barrier::new(parties).unwrap());
    let arrivals = Arc::new(AtomicUsize::new(0));
    let (b, a) = (barrier.clone(), arrivals.clone());
    run_threads(parties, move |_| {
        for cycle in 0..500 {
            a.fetch_add(1, Ordering::SeqCst);
            b.wait().unwrap();
            // Nobody can be a whole cycle ahead.
            assert!(a.load(Ordering::SeqCst) >= (cycle + 1) * parties);
            b.wait().unwrap();
        }
    });
    assert!(!barrier.broken());
}

#[test]
fn event_set_clear_flapping_never_loses_a_final_set() {
    let event = Arc::new(Event::new());
    let e = event.clone();
    let flapper = conc_thread::spawn(move || {
        for _ in 0..10_000 {
            e.set();
            e.clear();
        }
        e.set();
    });
    let e = event.clone();
    run_threads(
        4,
        move |_| {
            while !e.wait_timeout(Duration::from_millis(1)) {}
        },
    );
    flapper.join().unwrap();
    assert!(event.is_set());
}

#[test]
fn bounded_queue_many_producers_consumers_with_timeouts() {
    let q = Arc::new(Queue::new(2));
    let received = Arc::new(AtomicU64::new(0));
    let n = 3_000_u64;
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let q = q.clone();
            conc_thread::spawn(move || {
                for i in 0..n {
                    let mut item = p * n + i;
                    loop {
                        match q.put_timeout(item, Duration::from_micros(100)) {
                            Ok(()) => break,
                            Err(e) => item = e.into_inner(),
                        }
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let (q, r) = (q.clone(), received.clone());
            conc_thread::spawn(move || {
                let mut count = 0_u64;
                loop {
                    match q.get_timeout(Duration::from_micros(100)) {
                        Ok(v) => {
                            r.fetch_add(v, Ordering::SeqCst);
                            q.task_done().unwrap();
                            count += 1;
                        }
                        Err(conc_thread::GetError::Empty) => continue,
                        Err(conc_thread::GetError::ShutDown) => return count,
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    assert!(q.join_timeout(PATIENCE));
    q.shutdown(false);
    let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 4 * n);
    assert_eq!(received.load(Ordering::SeqCst), (0..4 * n).sum::<u64>());
}
