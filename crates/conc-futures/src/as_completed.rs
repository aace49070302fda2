//! `as_completed`: Python's `concurrent.futures.as_completed`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::wait::dedupe;
use crate::waiter::Waiter;
use crate::{Future, FutureError};

/// Yields the futures as they complete: those already done first, then each as it
/// finishes or is cancelled; duplicates once (Python: `as_completed(fs, timeout)`).
///
/// With a `timeout`, the iterator yields `Err(FutureError::Unfinished { .. })` ("N (of
/// M) futures unfinished") once the time is up, then ends. Futures may come from
/// different executors. Cancelling a future wakes the iterator at once (CPython's
/// `as_completed` can miss it: issue #109934).
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (1..=3).map(|n| pool.submit(move || n * 10).unwrap()).collect();
/// let mut total = 0;
/// for f in as_completed(&futures, None) {
///     total += f.unwrap().result().unwrap();
/// }
/// assert_eq!(total, 60);
/// ```
pub fn as_completed<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let unique = dedupe(futures);
    let total = unique.len();
    let (done, pending): (Vec<_>, Vec<_>) = unique.into_iter().partition(Future::done);
    let waiter = Arc::new(Waiter::default());
    let pending: HashMap<usize, Future<T>> = pending.into_iter().map(|f| (f.key(), f)).collect();
    for future in pending.values() {
        future.add_waiter(&waiter);
    }
    AsCompleted {
        ready: done.into(),
        pending,
        waiter,
        deadline,
        total,
        timed_out: false,
    }
}

/// The iterator returned by [`as_completed`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_futures::{Future, FutureError, as_completed};
///
/// let never = Future::<u8>::new();
/// let mut it = as_completed(&[never], Some(Duration::from_millis(5)));
/// assert_eq!(it.next().unwrap().unwrap_err(), FutureError::Unfinished { unfinished: 1, total: 1 });
/// assert!(it.next().is_none());
/// ```
#[must_use = "iterators do nothing unless iterated"]
pub struct AsCompleted<T> {
    ready: VecDeque<Future<T>>,
    pending: HashMap<usize, Future<T>>,
    waiter: Arc<Waiter>,
    deadline: Option<Instant>,
    total: usize,
    timed_out: bool,
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<Future<T>, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(future) = self.ready.pop_front() {
            return Some(Ok(future));
        }
        if self.pending.is_empty() || self.timed_out {
            return None;
        }
        let mut state = self
            .waiter
            .wait_until(self.deadline, |state| !state.completed.is_empty());
        for key in state.completed.drain(..) {
            if let Some(future) = self.pending.remove(&key) {
                self.ready.push_back(future);
            }
        }
        drop(state);
        match self.ready.pop_front() {
            Some(future) => Some(Ok(future)),
            None => {
                self.timed_out = true;
                Some(Err(FutureError::Unfinished {
                    unfinished: self.pending.len(),
                    total: self.total,
                }))
            }
        }
    }
}

impl<T> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        for future in self.pending.values() {
            future.remove_waiter(&self.waiter);
        }
    }
}

impl<T> std::fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("ready", &self.ready.len())
            .field("pending", &self.pending.len())
            .field("total", &self.total)
            .finish()
    }
}
