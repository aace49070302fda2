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
//! briefly in both, never in neither): the count can be momentarily high, never low,
//! and `join` cannot return early. Whoever brings the count to zero (`task_done`, a
//! failed `get` attempt, an immediate shutdown's discard) wakes the joiners.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::TaskDoneError;
use crate::deadline::deadline_after;

#[derive(Debug, Default)]
pub(crate) struct TaskTracker {
    counter: AtomicIsize,
    lock: Mutex<()>,
    all_done: Condvar,
}

impl TaskTracker {
    /// Raises the counter by one.
    #[inline]
    pub(crate) fn add(&self) {
        self.counter.fetch_add(1, Ordering::SeqCst);
    }

    /// Lowers the counter by `n` and wakes joiners if that finished every task.
    pub(crate) fn remove(&self, n: usize, base: usize) {
        self.counter.fetch_sub(n as isize, Ordering::SeqCst);
        self.wake_if_done(base);
    }

    pub(crate) fn unfinished(&self, base: usize) -> usize {
        let total = base as isize + self.counter.load(Ordering::SeqCst);
        total.max(0) as usize
    }

    /// Marks one task done.
    pub(crate) fn done(&self, base: impl Fn() -> usize) -> Result<(), TaskDoneError> {
        let mut current = self.counter.load(Ordering::SeqCst);
        loop {
            if base() as isize + current <= 0 {
                return Err(TaskDoneError);
            }
            match self.counter.compare_exchange_weak(
                current,
                current - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.wake_if_done(base());
        Ok(())
    }

    pub(crate) fn wake_if_done(&self, base: usize) {
        if self.unfinished(base) == 0 {
            let _guard = self.lock.lock();
            self.all_done.notify_all();
        }
    }

    pub(crate) fn join(&self, base: impl Fn() -> usize) {
        if self.unfinished(base()) == 0 {
            return;
        }
        let mut guard = self.lock.lock();
        while self.unfinished(base()) > 0 {
            self.all_done.wait(&mut guard);
        }
    }

    pub(crate) fn join_timeout(&self, timeout: Duration, base: impl Fn() -> usize) -> bool {
        let Some(deadline) = deadline_after(timeout) else {
            self.join(base);
            return true;
        };
        let mut guard = self.lock.lock();
        while self.unfinished(base()) > 0 {
            if self.all_done.wait_until(&mut guard, deadline).timed_out() {
                return self.unfinished(base()) == 0;
            }
        }
        true
    }
}
