//! `ThreadPoolExecutor`: Python's thread pool, on `conc-thread` threads and a
//! `crossbeam-channel` work queue.
//!
//! Work items travel on one channel shared by all workers. The sender sits behind a
//! read-write lock: `submit` takes the read side (so submitters do not serialise), and
//! `shutdown` / breaking the pool take the write side to drop the sender. Dropping it
//! disconnects the channel, which is how idle workers learn to exit once the queue is
//! drained, and it guarantees no item can be queued after the pool stopped accepting.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use conc_thread::sync::Mutex;
use conc_thread::{JoinHandle, Semaphore};
use crossbeam_channel::{Receiver, Sender};

use crate::{Executor, FutureError, Job};

type WorkItem = Job;

type Initializer = Arc<dyn Fn() + Send + Sync>;

/// Why the pool stopped accepting work.
#[derive(Debug, Clone)]
enum Closed {
    ShutDown,
    Broken(String),
}

struct PoolShared {
    /// `Ok(sender)` while open; why it closed otherwise.
    gate: RwLock<Result<Sender<WorkItem>, Closed>>,
    receiver: Receiver<WorkItem>,
    /// Released by a worker each time it becomes idle (CPython's `_idle_semaphore`).
    idle: Semaphore,
    max_workers: usize,
    started: AtomicUsize,
    workers: Mutex<Vec<JoinHandle<()>>>,
    name_prefix: String,
    initializer: Option<Initializer>,
    /// The process the workers run in: in a fork child the pool has none (they stayed
    /// in the parent), so it refuses work there instead of queueing it forever.
    owner: u32,
}

/// A pool of threads running submitted closures, like Python's
/// `concurrent.futures.ThreadPoolExecutor`.
///
/// Workers start lazily, one per submission until `max_workers`, and an idle worker is
/// reused before a new one starts. Threads are named `{prefix}_{n}`. A panicking task
/// fails only its own future. Dropping the pool shuts it down and waits.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(2).thread_name_prefix("fetch").build().unwrap();
/// let names: Vec<String> = pool
///     .map(0..4, |_| conc_thread::current_thread().name().to_owned(), None, 1)
///     .unwrap()
///     .map(Result::unwrap)
///     .collect();
/// assert!(names.iter().all(|n| n == "fetch_0" || n == "fetch_1"));
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<PoolShared>,
}

/// Configures a [`ThreadPoolExecutor`] (Python's constructor arguments).
///
/// # Examples
///
/// ```
/// let pool = conc_futures::ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("io")
///     .initializer(|| println!("worker ready"))
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 4);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    name_prefix: Option<String>,
    initializer: Option<Initializer>,
}

impl ThreadPoolBuilder {
    /// The most threads the pool will run (Python: `max_workers`). Defaults to
    /// `min(32, available_parallelism + 4)`, as Python's does.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = conc_futures::ThreadPoolExecutor::builder().max_workers(1).build().unwrap();
    /// assert_eq!(pool.max_workers(), 1);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names worker threads `{prefix}_{n}` (Python: `thread_name_prefix`). Defaults to
    /// `ThreadPoolExecutor-{pool number}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder().thread_name_prefix("db").build().unwrap();
    /// let name = pool.submit(|| conc_thread::current_thread().name().to_owned()).unwrap();
    /// assert_eq!(name.result().unwrap(), "db_0");
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }

    /// Runs `init` at the start of every worker thread (Python: `initializer`). If it
    /// panics, the pool is broken: queued and later submissions fail with
    /// [`FutureError::BrokenExecutor`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, FutureError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder().initializer(|| panic!("no database")).build().unwrap();
    /// let f = pool.submit(|| 1).unwrap();
    /// assert!(matches!(f.result(), Err(FutureError::BrokenExecutor(_))));
    /// ```
    pub fn initializer<F>(mut self, init: F) -> Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.initializer = Some(Arc::new(init));
        self
    }

    /// Creates the pool; no thread starts until the first submission.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidArgument`] if `max_workers` is 0 (Python raises
    /// `ValueError("max_workers must be greater than 0")`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{FutureError, ThreadPoolExecutor};
    ///
    /// assert!(matches!(
    ///     ThreadPoolExecutor::builder().max_workers(0).build(),
    ///     Err(FutureError::InvalidArgument(_))
    /// ));
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, FutureError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(FutureError::InvalidArgument(
                "max_workers must be greater than 0",
            ));
        }
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let name_prefix = self.name_prefix.unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                POOLS.fetch_add(1, Ordering::Relaxed)
            )
        });
        let (sender, receiver) = crossbeam_channel::unbounded();
        Ok(ThreadPoolExecutor {
            shared: Arc::new(PoolShared {
                gate: RwLock::new(Ok(sender)),
                receiver,
                idle: Semaphore::new(0),
                max_workers,
                started: AtomicUsize::new(0),
                workers: Mutex::new(Vec::new()),
                name_prefix,
                initializer: self.initializer,
                owner: conc_thread::sync::process_id(),
            }),
        })
    }
}

impl std::fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("name_prefix", &self.name_prefix)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (cpus + 4).min(32)
}

impl ThreadPoolExecutor {
    /// A pool with Python's defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = conc_futures::ThreadPoolExecutor::new();
    /// assert!(pool.max_workers() >= 5);
    /// ```
    pub fn new() -> Self {
        match ThreadPoolExecutor::builder().build() {
            Ok(pool) => pool,
            Err(_) => unreachable!("the default worker count is at least 5"),
        }
    }

    /// A builder for a configured pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = conc_futures::ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: None,
            name_prefix: None,
            initializer: None,
        }
    }

    /// The most threads the pool runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = conc_futures::ThreadPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// How many worker threads have been started so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// assert_eq!(pool.threads_started(), 0); // lazy
    /// pool.submit(|| ()).unwrap().result().unwrap();
    /// assert_eq!(pool.threads_started(), 1);
    /// ```
    pub fn threads_started(&self) -> usize {
        self.shared.started.load(Ordering::Acquire)
    }

    /// How many idle workers the next submissions will reuse before the pool starts
    /// another thread (CPython's `_idle_semaphore`). A worker counts as idle once its
    /// task *and* the task's done-callbacks have finished, a moment after the result is
    /// visible; this lets a program (or a test) wait for that instead of sleeping. Once
    /// all `max_workers` threads exist the pool stops counting, and this stays 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(4).build().unwrap();
    /// pool.submit(|| ()).unwrap().result().unwrap();
    /// while pool.idle_workers() == 0 {
    ///     std::thread::yield_now();
    /// }
    /// pool.submit(|| ()).unwrap().result().unwrap();
    /// assert_eq!(pool.threads_started(), 1, "the idle worker took the second task");
    /// ```
    pub fn idle_workers(&self) -> usize {
        self.shared.idle.value()
    }

    /// Whether an initializer failure broke the pool (Python: `_broken`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_futures::ThreadPoolExecutor::new().is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(
            *self
                .shared
                .gate
                .read()
                .unwrap_or_else(PoisonError::into_inner),
            Err(Closed::Broken(_))
        )
    }
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        ThreadPoolExecutor::new()
    }
}

impl Executor for ThreadPoolExecutor {
    fn execute(&self, item: Job) -> Result<(), FutureError> {
        if conc_thread::sync::process_id() != self.shared.owner {
            let refused = FutureError::BrokenExecutor(
                "this pool was created by the process this one was forked from; its workers \
                 do not exist here: create a new pool in the child"
                    .into(),
            );
            item.refuse(refused.clone());
            return Err(refused);
        }
        let failed_start = {
            // The read side is held until the worker count is adjusted, so a
            // `shutdown(wait)` (write side) cannot return while this submission is
            // about to start a worker it would not join.
            let gate = self
                .shared
                .gate
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            match &*gate {
                Ok(sender) => {
                    if sender.send(item).is_err() {
                        unreachable!("the pool holds a receiver while open");
                    }
                }
                Err(closed) => {
                    let refused = match closed {
                        Closed::ShutDown => FutureError::ShutDown,
                        Closed::Broken(why) => FutureError::BrokenExecutor(why.clone()),
                    };
                    item.refuse(refused.clone());
                    return Err(refused);
                }
            }
            self.shared.adjust_thread_count()
        };
        if let Some(why) = failed_start {
            // Breaking takes the write side: only after the read side is released.
            self.shared.break_pool(why);
        }
        Ok(())
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        {
            let mut gate = self
                .shared
                .gate
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if gate.is_ok() {
                *gate = Err(Closed::ShutDown);
            }
        }
        if cancel_futures {
            while let Ok(item) = self.shared.receiver.try_recv() {
                item.cancel();
            }
        }
        if wait {
            // Wait on the workers' identities, not their handles, so every caller of
            // shutdown(wait) waits, however many there are.
            let me = conc_thread::get_ident();
            let workers: Vec<conc_thread::Thread> = self
                .shared
                .workers
                .lock()
                .iter()
                .map(|h| h.thread().clone())
                .collect();
            // A worker of this very pool does not wait at all: it would wait for
            // itself, and two workers doing it at once would wait for each other
            // forever (Python raises "cannot join current thread" there).
            if workers.iter().any(|t| t.ident() == me) {
                return;
            }
            for worker in &workers {
                worker.wait_finished(None);
            }
        }
    }
}

impl PoolShared {
    /// Starts a worker unless one is idle or the pool is at its size (CPython's
    /// `_adjust_thread_count`). Once every worker exists this is one atomic load.
    /// Returns why the pool must break if not even the first worker could start.
    fn adjust_thread_count(self: &Arc<Self>) -> Option<String> {
        if self.started.load(Ordering::Acquire) >= self.max_workers || self.idle.try_acquire() {
            return None;
        }
        let mut workers = self.workers.lock();
        let n = self.started.load(Ordering::Acquire);
        if n >= self.max_workers {
            return None;
        }
        let shared = self.clone();
        let spawned = conc_thread::Builder::new()
            .name(format!("{}_{n}", self.name_prefix))
            .daemon(true)
            .spawn(move || shared.worker());
        match spawned {
            Ok(handle) => {
                workers.push(handle);
                self.started.store(n + 1, Ordering::Release);
                None
            }
            Err(error) if n == 0 => Some(format!("could not start a worker thread: {error}")),
            // Some workers exist: they will get to the item.
            Err(_) => None,
        }
    }

    fn worker(&self) {
        if let Some(init) = &self.initializer
            && let Err(payload) = catch_unwind(AssertUnwindSafe(|| init()))
        {
            self.break_pool(format!(
                "a thread initializer failed: {}",
                conc_thread::panic_message(&*payload)
            ));
            return;
        }
        while let Ok(item) = self.receiver.recv() {
            // The task's own panic is caught around the task; this catches what runs
            // around it (a panicking `Drop` of its captures or of a replaced value), so
            // nothing can take a worker away from the pool.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| item.run())) {
                log::error!(
                    "a pool worker caught a panic outside its task (a destructor?): {}",
                    conc_thread::panic_message(&*payload)
                );
            }
            // Idle only once the item is fully done, done-callbacks included (as
            // CPython): a callback that submits and waits must get a new worker.
            if self.started.load(Ordering::Acquire) < self.max_workers {
                self.idle.release(1);
            }
        }
    }

    /// Marks the pool broken and fails everything queued (CPython's
    /// `_initializer_failed`). Holding the gate's write side while draining means no
    /// submission can slip in behind the drain.
    fn break_pool(&self, why: String) {
        let mut gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        if matches!(*gate, Err(Closed::Broken(_))) {
            return;
        }
        *gate = Err(Closed::Broken(why.clone()));
        let queued: Vec<WorkItem> = self.receiver.try_iter().collect();
        // Fail the items after releasing the gate: their callbacks may call `submit`.
        drop(gate);
        for item in queued {
            item.fail(why.clone());
        }
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
        // Reclaim the OS threads; a worker dropping its own pool leaves itself detached.
        for worker in std::mem::take(&mut *self.shared.workers.lock()) {
            let _ = worker.join();
        }
    }
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("threads_started", &self.threads_started())
            .field("queued", &self.shared.receiver.len())
            .finish()
    }
}
