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
    /// The waker of a greenlet parked on this waiter (feature `coro`).
    #[cfg(feature = "coro")]
    waker: Option<std::task::Waker>,
}

impl Waiter {
    pub(crate) fn notify(&self, key: usize, failed: bool) {
        let mut state = self.state.lock();
        state.completed.push(key);
        state.any_failed |= failed;
        self.changed.notify_all();
        #[cfg(feature = "coro")]
        if let Some(waker) = state.waker.take() {
            drop(state);
            waker.wake();
        }
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
        // A greenlet parks on its hub instead (the other greenlets run meanwhile).
        #[cfg(feature = "coro")]
        if conc_coro::hub_running() {
            let parked = std::future::poll_fn(|cx| {
                let mut state = self.state.lock();
                if ready(&state) {
                    return std::task::Poll::Ready(());
                }
                state.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            });
            let waited = match deadline {
                None => conc_coro::wait_future(parked),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    conc_coro::with_timeout(left, || conc_coro::wait_future(parked))
                }
            };
            let mut state = self.state.lock();
            state.waker = None;
            // Parked to the end or timed out: the caller looks at the state; any other
            // hub error (not parkable here) falls back to blocking below.
            if !matches!(waited, Err(ref e) if !matches!(e, conc_coro::HubError::Timeout { .. })) {
                return state;
            }
            drop(state);
        }
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
