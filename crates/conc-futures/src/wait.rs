//! `wait`: Python's `concurrent.futures.wait`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Future;
use crate::waiter::Waiter;

/// When [`wait`] returns (Python: `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
///
/// # Examples
///
/// ```
/// use conc_futures::{Future, ReturnWhen, wait};
///
/// let fs: Vec<Future<u8>> = vec![Future::new(), Future::new()];
/// fs[0].set_result(1).unwrap();
/// let r = wait(&fs, None, ReturnWhen::FirstCompleted);
/// assert_eq!(r.done.len(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// As soon as any future finishes or is cancelled.
    FirstCompleted,
    /// As soon as any future finishes with an error; otherwise when all are done.
    FirstException,
    /// When every future is done (the default, as in Python).
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: the futures done and not done, each once, in input order
/// (Python: the named tuple `DoneAndNotDoneFutures`).
///
/// # Examples
///
/// ```
/// use conc_futures::{Future, ReturnWhen, wait};
///
/// let f = Future::<u8>::new();
/// let r = wait(&[f.clone()], Some(std::time::Duration::ZERO), ReturnWhen::AllCompleted);
/// assert_eq!(r.not_done, [f]);
/// ```
#[derive(Debug)]
pub struct DoneAndNotDone<T> {
    /// Futures finished or cancelled when `wait` returned.
    pub done: Vec<Future<T>>,
    /// Futures still pending or running.
    pub not_done: Vec<Future<T>>,
}

/// Waits for the futures until `return_when` is satisfied or `timeout` passes
/// (`None`: no limit), then reports which are done (Python: `wait(fs, timeout,
/// return_when)`). A timeout is not an error: it shows as a non-empty `not_done`.
///
/// `futures` is anything that iterates over `&Future<T>`: a slice, `&Vec`, a map's
/// keys. Futures may come from different executors; duplicates count once. Unlike CPython
/// (issues #92001, #87893), cancelling a future wakes the wait at once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use conc_futures::{Executor, ReturnWhen, ThreadPoolExecutor, wait};
/// use conc_thread::Event;
///
/// let pool = ThreadPoolExecutor::new();
/// let gate = Arc::new(Event::new());
/// let quick = pool.submit(|| 1).unwrap();
/// let slow = { let gate = gate.clone(); pool.submit(move || { gate.wait(); 2 }).unwrap() };
/// let r = wait(&[quick.clone(), slow.clone()], Some(Duration::from_secs(30)), ReturnWhen::FirstCompleted);
/// assert_eq!(r.done.len(), 1);
/// assert!(r.done.contains(&quick));
/// assert!(r.not_done.contains(&slow)); // held until the gate opens
/// gate.set();
/// ```
pub fn wait<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let unique = dedupe(futures);
    // One look decides what is done; every other future gets the waiter, which is
    // notified at once if it finished since that look (so none can slip between).
    let (done_now, pending): (Vec<&Future<T>>, Vec<&Future<T>>) =
        unique.iter().partition(|f| f.done());
    let already_failed = done_now.iter().any(|f| f.failed());
    // Everything done (an empty list included) satisfies every condition, as in Python.
    let satisfied = pending.is_empty()
        || match return_when {
            ReturnWhen::FirstCompleted => !done_now.is_empty(),
            ReturnWhen::FirstException => already_failed,
            ReturnWhen::AllCompleted => false,
        };
    if !satisfied && deadline.is_none_or(|d| d > Instant::now()) {
        let waiter = Arc::new(Waiter::default());
        for future in &pending {
            future.add_waiter(&waiter);
        }
        let n = pending.len();
        drop(waiter.wait_until(deadline, |state| match return_when {
            ReturnWhen::FirstCompleted => !state.completed.is_empty(),
            ReturnWhen::FirstException => state.any_failed || state.completed.len() >= n,
            ReturnWhen::AllCompleted => state.completed.len() >= n,
        }));
        for future in &pending {
            future.remove_waiter(&waiter);
        }
    }
    let (done, not_done) = unique.into_iter().partition(Future::done);
    DoneAndNotDone { done, not_done }
}

/// The futures without duplicates, in first-seen order.
pub(crate) fn dedupe<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
) -> Vec<Future<T>> {
    let mut seen = HashSet::new();
    futures
        .into_iter()
        .filter(|f| seen.insert(f.key()))
        .cloned()
        .collect()
}
