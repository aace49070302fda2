//! The unfinished-task count behind `task_done` and `join`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::TaskDoneError;
use crate::deadline::deadline_after;

/// Counts items put but not yet marked done. The count itself is atomic so `put` stays
/// lock-free; the mutex only orders a `join` that is about to sleep against the
/// `task_done` that reaches zero, so the wake-up cannot be lost.
#[derive(Debug, Default)]
pub(crate) struct TaskTracker {
    unfinished: AtomicUsize,
    lock: Mutex<()>,
    all_done: Condvar,
}

impl TaskTracker {
    pub(crate) fn add(&self) {
        self.unfinished.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::SeqCst)
    }

    /// Marks one task done.
    pub(crate) fn done(&self) -> Result<(), TaskDoneError> {
        let mut current = self.unfinished.load(Ordering::SeqCst);
        loop {
            if current == 0 {
                return Err(TaskDoneError);
            }
            match self.unfinished.compare_exchange_weak(
                current,
                current - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if current == 1 {
            self.wake_joiners();
        }
        Ok(())
    }

    /// Marks up to `n` tasks done at once (items discarded by an immediate shutdown,
    /// or a put that failed after counting its item).
    pub(crate) fn discard(&self, n: usize) {
        if n == 0 {
            return;
        }
        let previous = self
            .unfinished
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                Some(c.saturating_sub(n))
            })
            .unwrap_or_else(|c| c);
        if previous <= n {
            self.wake_joiners();
        }
    }

    fn wake_joiners(&self) {
        let _guard = self.lock.lock();
        self.all_done.notify_all();
    }

    pub(crate) fn join(&self) {
        if self.unfinished() == 0 {
            return;
        }
        let mut guard = self.lock.lock();
        while self.unfinished() > 0 {
            self.all_done.wait(&mut guard);
        }
    }

    pub(crate) fn join_timeout(&self, timeout: Duration) -> bool {
        let Some(deadline) = deadline_after(timeout) else {
            self.join();
            return true;
        };
        let mut guard = self.lock.lock();
        while self.unfinished() > 0 {
            if self.all_done.wait_until(&mut guard, deadline).timed_out() {
                return self.unfinished() == 0;
            }
        }
        true
    }
}
