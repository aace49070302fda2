//! The unfinished-task count behind `task_done`, `join` and `unfinished_tasks`.
//!
//! Python counts +1 per `put` and -1 per `task_done`. A locked-up `put` on the FIFO
//! queue's hot path would cost a fenced read-modify-write per item (on x86 a `lock`
//! instruction, which drains the store buffer): measured at 40% of its throughput. So
//! the count is split into a *base* the queue knows for free and an atomic *counter*:
//!
//! ```text
//!   unfinished = base + counter
//!   LIFO / priority queue:  base = 0            counter = puts - task_dones
//!   FIFO queue:             base = items queued counter = items taken by `get`
//!                                                         (incl. attempts in flight)
//!                                                         - task_dones
//! ```
//!
//! The FIFO `get` raises the counter *before* it tries to take an item and lowers it
//! again if it found none, so an item is always counted in `base` or `counter` (maybe
//! briefly in both, never in neither). Readers take `base` and `counter` as one
//! consistent snapshot (the counter carries a generation, see `INCREMENT`), so the
//! count can be momentarily high, never low, and `join` cannot return early. Whoever
//! brings the count to zero (`task_done`, a failed `get` attempt, an immediate
//! shutdown's discard) wakes the joiners. One misuse goes undetected: a surplus
//! `task_done` racing a `get` attempt in flight is accepted (the attempt is counted),
//! which Python would reject.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

use crate::TaskDoneError;
use crate::deadline::deadline_after;

/// The counter word: a generation in the high 32 bits, bumped by every change, and the
/// count, biased by 2^31 so it never borrows, in the low 32 bits. Readers load the word
/// before and after reading `base`; equal words mean the counter did not change in
/// between, so `base + count` is a consistent snapshot (a put and a `task_done` landing
/// between two separate reads could otherwise make the sum look like zero).
const BIAS: u64 = 1 << 31;
const LOW: u64 = (1 << 32) - 1;
/// Adding this raises the count by one and bumps the generation.
const INCREMENT: u64 = (1 << 32) + 1;
/// Adding this lowers the count by one and, through the carry out of the low half,
/// bumps the generation.
const DECREMENT: u64 = LOW;

fn count(word: u64) -> i64 {
    (word & LOW) as i64 - BIAS as i64
}

/// Keeps what it holds on cache lines of its own (128 bytes: adjacent-line prefetch
/// pairs lines on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
struct OwnLine<T>(T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Debug)]
pub(crate) struct TaskTracker {
    /// Written by every FIFO `get`: on a line of its own, so a producer reading the
    /// queue's other fields (the shutdown flag on every `put`) does not miss its cache
    /// each time the consumer takes an item. Whether the two shared a line depended on
    /// where the queue happened to sit (W9 moved between 0.6x and 1.0x crossbeam with
    /// the binary's layout).
    counter: OwnLine<AtomicU64>,
    lock: Mutex<()>,
    all_done: Condvar,
}

impl Default for TaskTracker {
    fn default() -> Self {
        TaskTracker {
            counter: OwnLine(AtomicU64::new(BIAS)),
            lock: Mutex::new(()),
            all_done: Condvar::new(),
        }
    }
}

impl TaskTracker {
    /// Raises the counter by one.
    #[inline]
    pub(crate) fn add(&self) {
        self.counter.fetch_add(INCREMENT, Ordering::SeqCst);
    }

    /// Lowers the counter by `n` and wakes joiners if that finished every task.
    pub(crate) fn remove(&self, n: usize, base: impl Fn() -> usize) {
        // n decrements at once: the low half drops by n (the bias keeps it from
        // borrowing) and the carries bump the generation by n.
        self.counter
            .fetch_add((n as u64).wrapping_mul(DECREMENT), Ordering::SeqCst);
        self.wake_if_done(base);
    }

    /// `base + count`, read consistently (see `INCREMENT`).
    pub(crate) fn unfinished(&self, base: impl Fn() -> usize) -> usize {
        loop {
            let before = self.counter.load(Ordering::SeqCst);
            let queued = base() as i64;
            if self.counter.load(Ordering::SeqCst) == before {
                return (queued + count(before)).max(0) as usize;
            }
        }
    }

    /// Marks one task done.
    pub(crate) fn done(&self, base: impl Fn() -> usize) -> Result<(), TaskDoneError> {
        let mut current = self.counter.load(Ordering::SeqCst);
        loop {
            // The exchange below fails if the counter moved while `base` was read.
            if base() as i64 + count(current) <= 0 {
                return Err(TaskDoneError);
            }
            match self.counter.compare_exchange_weak(
                current,
                current.wrapping_add(DECREMENT),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.wake_if_done(base);
        Ok(())
    }

    pub(crate) fn wake_if_done(&self, base: impl Fn() -> usize) {
        if self.unfinished(base) == 0 {
            let _guard = self.lock.lock();
            self.all_done.notify_all();
        }
    }

    pub(crate) fn join(&self, base: impl Fn() -> usize) {
        if self.unfinished(&base) == 0 {
            return;
        }
        let mut guard = self.lock.lock();
        while self.unfinished(&base) > 0 {
            self.all_done.wait(&mut guard);
        }
    }

    pub(crate) fn join_timeout(&self, timeout: Duration, base: impl Fn() -> usize) -> bool {
        let Some(deadline) = deadline_after(timeout) else {
            self.join(base);
            return true;
        };
        let mut guard = self.lock.lock();
        while self.unfinished(&base) > 0 {
            if self.all_done.wait_until(&mut guard, deadline).timed_out() {
                return self.unfinished(&base) == 0;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_word_counts_and_bumps_generation() {
        let t = TaskTracker::default();
        let w0 = t.counter.load(Ordering::SeqCst);
        t.add();
        t.add();
        assert_eq!(t.unfinished(|| 0), 2);
        t.add();
        t.remove(2, || 0);
        let w1 = t.counter.load(Ordering::SeqCst);
        assert_eq!(count(w1), 1);
        assert_eq!(
            w1 >> 32,
            (w0 >> 32) + 5,
            "every change bumps the generation"
        );
        assert_eq!(t.done(|| 0), Ok(()));
        assert_eq!(t.done(|| 0), Err(TaskDoneError));
        // Below zero is allowed while the base covers it (task_done before get).
        assert_eq!(t.done(|| 1), Ok(()));
        assert_eq!(count(t.counter.load(Ordering::SeqCst)), -1);
        assert_eq!(t.unfinished(|| 1), 0);
    }
}
