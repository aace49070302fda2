//! The asyncio patterns of the seeds: awaiting pool work from async code
//! (`loop.run_in_executor`) and gathering several futures (`asyncio.gather`).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::wait::dedupe;
use crate::{DoneAndNotDone, Executor, Future, FutureError, ReturnWhen};

/// Runs blocking `task` on `executor` and awaits its result from async code, without
/// blocking the async runtime's thread (Python: `await loop.run_in_executor(pool, fn)`).
///
/// Works in any runtime: the executor's worker wakes the awaiting task directly.
///
/// # Errors
///
/// The errors of [`Executor::submit`], and the task's own error (for example
/// [`FutureError::Panicked`]).
///
/// # Examples
///
/// ```
/// use conc_futures::{ThreadPoolExecutor, run_in_executor};
///
/// let pool = ThreadPoolExecutor::new();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let n = rt.block_on(async {
///     run_in_executor(&pool, || std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await
/// });
/// assert!(n.is_ok());
/// ```
pub async fn run_in_executor<E, F, T>(executor: &E, task: F) -> Result<T, FutureError>
where
    E: Executor,
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    executor.submit(task)?.await
}

/// Awaits every future and returns their outcomes in input order (Python:
/// `await asyncio.gather(*fs, return_exceptions=True)`).
///
/// The futures run concurrently on their executors whatever order they are awaited in;
/// one failing does not stop the others from being collected.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor, gather};
///
/// let pool = ThreadPoolExecutor::new();
/// let fs: Vec<_> = (1..=3).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let results = rt.block_on(gather(fs));
/// assert_eq!(results, [Ok(1), Ok(4), Ok(9)]);
/// ```
pub async fn gather<T, I>(futures: I) -> Vec<Result<T, FutureError>>
where
    I: IntoIterator<Item = Future<T>>,
{
    let mut results = Vec::new();
    for future in futures {
        results.push(future.await);
    }
    results
}

/// Waits from async code until `return_when` is satisfied, without taking any value
/// (Python: `await asyncio.wait(fs, return_when=...)`), and reports which futures are
/// done. Duplicates count once.
///
/// There is no timeout parameter, since timers belong to the async runtime: wrap the
/// call in your runtime's timeout (`tokio::time::timeout`), and look at the futures
/// themselves if it fires.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ReturnWhen, ThreadPoolExecutor, wait_async};
///
/// let pool = ThreadPoolExecutor::new();
/// let fs: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let r = rt.block_on(wait_async(&fs, ReturnWhen::AllCompleted));
/// assert_eq!(r.done.len(), 3);
/// assert_eq!(fs[2].result(), Ok(2)); // values stay in the futures
/// ```
pub fn wait_async<'a, T: 'a>(
    futures: impl IntoIterator<Item = &'a Future<T>>,
    return_when: ReturnWhen,
) -> WaitAsync<T> {
    WaitAsync {
        futures: dedupe(futures),
        return_when,
        next: 0,
        waker: None,
    }
}

/// The `std::future::Future` returned by [`wait_async`].
///
/// # Examples
///
/// ```
/// use conc_futures::{Future, ReturnWhen, WaitAsync, wait_async};
///
/// let f = Future::new();
/// f.set_result(1).unwrap();
/// let waiting: WaitAsync<i32> = wait_async([&f], ReturnWhen::FirstCompleted);
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// assert_eq!(rt.block_on(waiting).done, [f]);
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitAsync<T> {
    futures: Vec<Future<T>>,
    return_when: ReturnWhen,
    /// `AllCompleted`: every future before this index is done; only the one at it
    /// holds this task's waker.
    next: usize,
    /// The waker registered (on every unfinished future for the other conditions, on
    /// `futures[next]` for `AllCompleted`), taken back if this is dropped early.
    waker: Option<Waker>,
}

impl<T> std::future::Future for WaitAsync<T> {
    type Output = DoneAndNotDone<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // A waker for a different task (the future moved): take the old one back.
        let same_task = this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if !same_task && let Some(old) = this.waker.take() {
            this.forget(&old);
        }
        let satisfied = if this.return_when == ReturnWhen::AllCompleted {
            // In order: only the first unfinished future needs the waker, so a wait on
            // n futures costs O(n) in all, not O(n) at each of n wake-ups.
            while this.next < this.futures.len() && this.futures[this.next].poll_done(cx.waker()) {
                this.next += 1;
            }
            this.next == this.futures.len()
        } else {
            let mut done = 0;
            let mut failed = false;
            for future in &this.futures {
                // Registered once per task: a wake-up means one of them completed.
                let finished = if same_task {
                    future.done()
                } else {
                    future.poll_done(cx.waker())
                };
                if finished {
                    done += 1;
                    failed |= future.failed();
                }
            }
            done == this.futures.len()
                || match this.return_when {
                    ReturnWhen::FirstCompleted => done > 0,
                    _ => failed,
                }
        };
        if !satisfied {
            this.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if let Some(old) = this.waker.take() {
            this.forget(&old);
        }
        let (done, not_done) = this.futures.iter().cloned().partition(Future::done);
        Poll::Ready(DoneAndNotDone { done, not_done })
    }
}

impl<T> WaitAsync<T> {
    /// Takes `waker` back from the futures not done.
    fn forget(&self, waker: &Waker) {
        for future in self.futures.iter().filter(|f| !f.done()) {
            future.forget_waker(waker);
        }
    }
}

impl<T> Drop for WaitAsync<T> {
    /// A wait abandoned early (a timeout around it) takes its waker back.
    fn drop(&mut self) {
        if let Some(waker) = self.waker.take() {
            self.forget(&waker);
        }
    }
}

impl<T> Unpin for WaitAsync<T> {}
