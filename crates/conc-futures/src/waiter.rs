//! The waiter `wait` and `as_completed` register on many futures at once (CPython's
//! `_Waiter`): each completion appends the future's key and wakes the waiting thread.

use conc_thread::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct Waiter {
    state: Mutex<WaiterState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
pub(crate) struct WaiterState {
    /// Keys of futures that completed since the last `drain`, in completion order.
    pub(crate) completed: Vec<usize>,
    /// Whether any of them finished with an error.
    pub(crate) any_failed: bool,
}

impl Waiter {
    pub(crate) fn notify(&self, key: usize, failed: bool) {
        let mut state = self.state.lock();
        state.completed.push(key);
        state.any_failed |= failed;
        self.changed.notify_all();
    }

    /// Waits until `ready` holds for the state or the deadline passes; returns the
    /// state either way for the caller to inspect and drain.
    pub(crate) fn wait_until<R>(
        &self,
        deadline: Option<Instant>,
        mut ready: R,
    ) -> MutexGuard<'_, WaiterState>
    where
        R: FnMut(&WaiterState) -> bool,
    {
        let mut state = self.state.lock();
        while !ready(&state) {
            match deadline {
                None => self.changed.wait(&mut state),
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out() {
                        break;
                    }
                }
            }
        }
        state
    }
}
