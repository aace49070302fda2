//! The asyncio patterns of the seeds: awaiting pool work from async code
//! (`loop.run_in_executor`) and gathering several futures (`asyncio.gather`).

use crate::{Executor, Future, FutureError};

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
