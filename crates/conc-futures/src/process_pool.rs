//! `ProcessPoolExecutor` (feature `process`): Python's
//! `concurrent.futures.ProcessPoolExecutor` on conc-process's `Pool` (one engine for
//! both). Tasks are named functions with serde arguments, as conc-process runs them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use conc_process::{Pool, PoolBuilder, ProcessError, StartMethod};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::call::{CallPool, Finish};
use crate::{Executor, Future, FutureError, Job, MapResults};

/// Cancels one submitted future, if it is still pending.
type Canceller = Box<dyn Fn() + Send>;

/// What `shutdown` needs: whether work is still taken, and the futures not yet done.
struct State {
    open: bool,
    outstanding: HashMap<u64, Canceller>,
}

/// A pool of worker processes behind futures (Python's
/// `concurrent.futures.ProcessPoolExecutor`), running named functions `fn(A) -> R`
/// whose argument and result cross with serde.
///
/// Its futures are the crate's [`Future`]s: wait on them with [`crate::wait()`],
/// [`crate::as_completed()`], `.await`, beside thread-pool futures.
///
/// What differs from Python, for the better: a worker that dies (killed, `exit`,
/// abort) fails only its own future with [`FutureError::WorkerDied`], naming the
/// signal or exit code, and is replaced; the pool becomes broken
/// ([`FutureError::BrokenExecutor`], Python's `BrokenProcessPool`) only when workers
/// cannot start at all (the initializer panics), and then every pending future fails
/// at once. A panic in a task is [`FutureError::Panicked`] with its message.
///
/// A future is running from its submission on (conc-process hands tasks to workers
/// as they free up): [`Future::cancel`] cannot stop it, and
/// [`shutdown`](Self::shutdown) with `cancel_futures` cancels the futures that are not
/// done, whose tasks' results are then dropped.
///
/// Dropping the executor shuts it down and waits for its work (Python's `with`).
///
/// # Examples
///
/// ```
/// use conc_futures::ProcessPoolExecutor;
/// use conc_process::StartMethod;
///
/// fn is_prime(n: u64) -> bool {
///     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
/// }
///
/// let pool = ProcessPoolExecutor::builder()
///     .max_workers(2)
///     .start_method(StartMethod::Fork)
///     .build()
///     .unwrap();
/// let f = pool.submit(is_prime, 1_000_003).unwrap();
/// assert_eq!(f.result(), Ok(true));
/// let primes: Vec<bool> = pool
///     .map(is_prime, [2, 4, 7, 9], None, 2)
///     .unwrap()
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(primes, [true, false, true, false]);
/// ```
pub struct ProcessPoolExecutor {
    pool: Pool,
    state: Arc<Mutex<State>>,
    next: AtomicU64,
    max_workers: usize,
}

impl std::fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.max_workers)
            .field("open", &self.lock().open)
            .finish()
    }
}

/// Configures a [`ProcessPoolExecutor`] (Python's `ProcessPoolExecutor(max_workers,
/// mp_context, initializer, initargs, max_tasks_per_child)`).
///
/// # Examples
///
/// ```
/// use conc_futures::ProcessPoolExecutor;
/// use conc_process::StartMethod;
///
/// fn setup(_: ()) {}
///
/// let pool = ProcessPoolExecutor::builder()
///     .max_workers(1)
///     .initializer(setup, ())
///     .max_tasks_per_child(10)
///     .start_method(StartMethod::Fork)
///     .build()
///     .unwrap();
/// assert_eq!(pool.submit(|x: u8| x + 1, 1).unwrap().result(), Ok(2));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct ProcessPoolBuilder<I = ()> {
    inner: PoolBuilder<I>,
    max_workers: Option<usize>,
}

impl ProcessPoolBuilder<()> {
    /// A builder with Python's defaults: a worker per CPU, the program's start method.
    pub fn new() -> Self {
        ProcessPoolBuilder {
            inner: Pool::builder(),
            max_workers: None,
        }
    }

    /// Runs `init(arg)` in each worker before its first task (Python's `initializer`
    /// and `initargs`); `init` must be a named function, as tasks are.
    pub fn initializer<J>(self, init: fn(J), arg: J) -> ProcessPoolBuilder<J> {
        ProcessPoolBuilder {
            inner: self.inner.initializer(init, arg),
            max_workers: self.max_workers,
        }
    }
}

impl Default for ProcessPoolBuilder<()> {
    fn default() -> Self {
        ProcessPoolBuilder::new()
    }
}

impl<I> ProcessPoolBuilder<I>
where
    I: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// The number of worker processes (Python's `max_workers`).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self.inner = self.inner.processes(n);
        self
    }

    /// How workers start (Python's `mp_context`).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.inner = self.inner.start_method(method);
        self
    }

    /// Replaces each worker after this many tasks (Python's `max_tasks_per_child`).
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.inner = self.inner.max_tasks_per_child(n);
        self
    }

    /// Starts the pool.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidArgument`] for zero workers or zero tasks per child;
    /// [`FutureError::BrokenExecutor`] if the pool cannot be set up.
    pub fn build(self) -> Result<ProcessPoolExecutor, FutureError> {
        if self.max_workers == Some(0) {
            return Err(FutureError::InvalidArgument(
                "max_workers must be greater than 0",
            ));
        }
        let pool = self.inner.build().map_err(|e| match e {
            ProcessError::InvalidArgument(_) => {
                FutureError::InvalidArgument("max_tasks_per_child must be greater than 0")
            }
            other => FutureError::BrokenExecutor(other.to_string()),
        })?;
        Ok(ProcessPoolExecutor {
            max_workers: pool.processes(),
            pool,
            state: Arc::new(Mutex::new(State {
                open: true,
                outstanding: HashMap::new(),
            })),
            next: AtomicU64::new(0),
        })
    }
}

impl ProcessPoolExecutor {
    /// A pool of `max_workers` processes with the program's start method.
    ///
    /// # Errors
    ///
    /// As [`ProcessPoolBuilder::build`].
    pub fn new(max_workers: usize) -> Result<Self, FutureError> {
        ProcessPoolBuilder::new().max_workers(max_workers).build()
    }

    /// A builder with Python's defaults.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    /// The number of worker processes.
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Schedules `func(arg)` in a worker and returns its future (Python's `submit`).
    ///
    /// # Errors
    ///
    /// [`FutureError::ShutDown`] after [`shutdown`](Self::shutdown). The future gives
    /// [`FutureError::Panicked`], [`FutureError::WorkerDied`],
    /// [`FutureError::Transport`] or [`FutureError::BrokenExecutor`].
    pub fn submit<A, R>(&self, func: fn(A) -> R, arg: A) -> Result<Future<R>, FutureError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit_call(func, arg)
    }

    /// Runs `func` on every item in the workers, `chunksize` items per message, and
    /// yields the results in input order (Python's `map(fn, *iterables, timeout,
    /// chunksize)`): as [`Executor::map`](crate::Executor::map).
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidArgument`] for a `chunksize` of 0;
    /// [`FutureError::ShutDown`] after shutdown. Items yield a task's error or
    /// [`FutureError::Timeout`], which ends the iteration.
    pub fn map<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<MapResults<R>, FutureError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_call(func, items, timeout, chunksize)
    }

    /// Stops taking work (Python's `shutdown(wait, cancel_futures)`). With
    /// `cancel_futures`, every future not yet done is cancelled (its task's result is
    /// dropped). With `wait`, blocks until the queued tasks are done and the workers
    /// have exited. Calling it again is harmless.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancellers: Vec<Canceller> = {
            let mut state = self.lock();
            state.open = false;
            if cancel_futures {
                state.outstanding.drain().map(|(_, c)| c).collect()
            } else {
                Vec::new()
            }
        };
        for cancel in cancellers {
            cancel();
        }
        self.pool.close();
        if wait {
            let _ = self.pool.join();
        }
    }
}

impl CallPool for ProcessPoolExecutor {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn track(&self, cancel: Box<dyn Fn() + Send>) -> Result<Finish, FutureError> {
        let mut state = self.lock();
        if !state.open {
            return Err(FutureError::ShutDown);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        state.outstanding.insert(id, cancel);
        let state = self.state.clone();
        Ok(Box::new(move || {
            let removed = state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .outstanding
                .remove(&id);
            drop(removed);
        }))
    }
}

/// A process pool behind the one interface: it runs the named-function jobs of
/// [`Executor::submit_call`] and [`Executor::map_call`] in its workers. A closure
/// cannot cross to another process, so a closure job ([`Executor::submit`],
/// [`Executor::map`]) is refused with [`FutureError::InvalidArgument`], and its future
/// fails with the same error.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ProcessPoolExecutor, ThreadPoolExecutor};
/// use conc_process::StartMethod;
///
/// fn cube(x: i64) -> i64 {
///     x * x * x
/// }
///
/// let processes = ProcessPoolExecutor::builder()
///     .max_workers(1)
///     .start_method(StartMethod::Fork)
///     .build()
///     .unwrap();
/// let executors: Vec<Box<dyn Executor>> =
///     vec![Box::new(ThreadPoolExecutor::new()), Box::new(processes)];
/// for e in &executors {
///     assert_eq!(e.submit_call(cube, 3).unwrap().result(), Ok(27));
///     assert!(e.map_call(cube, [1, 2], None, 1).unwrap().eq([Ok(1), Ok(8)]));
/// }
/// ```
impl Executor for ProcessPoolExecutor {
    fn execute(&self, job: Job) -> Result<(), FutureError> {
        match job.into_call() {
            Ok(call) => call.send(self),
            Err(job) => {
                let refused = FutureError::InvalidArgument(
                    "a process pool runs named functions with serde arguments, not closures: \
                     submit them with submit_call or map_call",
                );
                job.refuse(refused.clone());
                Err(refused)
            }
        }
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ProcessPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
