//! The asyncio patterns of the seeds: awaiting pool work from async code
//! (`loop.run_in_executor`) and gathering several futures (`asyncio.gather`).

use std::pin::Pin;
use std::task::{Context, Poll};

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
}

impl<T> std::future::Future for WaitAsync<T> {
    type Output = DoneAndNotDone<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Each poll registers the waker on every unfinished future, so whichever
        // completes next wakes this task to look again.
        let mut done = 0;
        let mut failed = false;
        for future in &self.futures {
            if future.poll_done(cx.waker()) {
                done += 1;
                failed |= future.failed();
            }
        }
        let satisfied = done == self.futures.len()
            || match self.return_when {
                ReturnWhen::FirstCompleted => done > 0,
                ReturnWhen::FirstException => failed,
                ReturnWhen::AllCompleted => false,
            };
        if !satisfied {
            return Poll::Pending;
        }
        let (done, not_done) = self.futures.iter().cloned().partition(Future::done);
        Poll::Ready(DoneAndNotDone { done, not_done })
    }
}

impl<T> Unpin for WaitAsync<T> {}
