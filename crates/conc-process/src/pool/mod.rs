//! `Pool`: Python's `multiprocessing.Pool`, with workers that may die without taking
//! the pool down.
//!
//! The parent keeps one keeper thread per worker (`keeper`); each worker process runs
//! one task at a time (`worker`); results land in [`AsyncResult`] or
//! [`IMapIterator`] (`results`). Because a worker only ever holds the one task its
//! keeper gave it, a worker's death fails exactly that task, at once (the keeper
//! watches the worker's sentinel), and the keeper starts a replacement. CPython's pool
//! hangs forever in the same situation.

mod keeper;
mod results;
mod worker;

pub use results::{AsyncResult, Callbacks, IMapIterator};

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::Descriptor;
use crate::{Process, ProcessError, StartMethod, cpu_count};

use keeper::{Deliver, Job, Phase, Shared, StartOnce, StartWorker, Work};
use results::{MapSink, Sink};
use worker::WorkerArgs;

thread_local! {
    /// Set on keeper threads, where callbacks run: a callback that joins or drops its
    /// own pool must not wait for itself.
    static ON_KEEPER: Cell<bool> = const { Cell::new(false) };
}

/// Numbers pool workers across the program, as Python's `ForkPoolWorker-N`.
static WORKERS: AtomicUsize = AtomicUsize::new(1);

/// A pool of worker processes running Rust functions (Python's
/// `multiprocessing.Pool`).
///
/// Tasks are named functions `fn(A) -> R` (or closures that capture nothing) whose
/// argument and result cross with serde, as with [`Process::new`]; several arguments
/// travel as a tuple, which is also Python's `starmap`. Every start method works; the
/// default is the program's ([`set_start_method`](crate::set_start_method)). Under
/// `fork`, closures that capture state run too ([`apply_closure`](Self::apply_closure),
/// [`map_closure`](Self::map_closure)), each task in a child forked for it.
///
/// What differs from Python, for the better:
/// - A worker that dies in the middle of a task (killed, `exit`, abort, out of memory)
///   fails exactly that task with [`ProcessError::Died`], naming the exit code or the
///   signal; a new worker takes its place and every other task completes.
/// - A panic in a task comes back as [`ProcessError::Panicked`] with its message; the
///   worker carries on.
/// - An initializer that panics makes the pool [broken](ProcessError::PoolBroken):
///   every task fails with the initializer's message, instead of workers being
///   re-spawned forever.
/// - [`terminate`](Self::terminate) fails the tasks it cancels with
///   [`ProcessError::Cancelled`] instead of leaving their results waiting forever.
///
/// Dropping the pool terminates it, as leaving Python's `with Pool() as p:` does: call
/// [`close`](Self::close) and [`join`](Self::join) first to let queued tasks finish.
/// Workers are daemons: they never outlive the program, even when it is killed.
///
/// # Examples
///
/// ```
/// use conc_process::{Pool, StartMethod};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
/// assert_eq!(pool.apply(square, 7), Ok(49));
/// assert_eq!(pool.map(square, 1..=4), Ok(vec![1, 4, 9, 16]));
/// pool.close();
/// pool.join().unwrap();
/// ```
///
/// With [`init`](crate::init) first in `main`, the default start method works too:
///
/// ```standalone_crate
/// fn work(n: u32) -> u32 {
///     n + 1
/// }
///
/// fn main() {
///     conc_process::init();
///     let pool = conc_process::Pool::new(2).unwrap();
///     assert_eq!(pool.map(work, [1, 2, 3]), Ok(vec![2, 3, 4]));
/// }
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    keepers: Mutex<Vec<conc_thread::JoinHandle<()>>>,
    processes: usize,
    /// The builder's start method; `None` follows the program's.
    method: Option<StartMethod>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("state", &self.shared.phase())
            .finish()
    }
}

/// Configures a [`Pool`] (Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`).
///
/// # Examples
///
/// ```
/// use conc_process::{Pool, StartMethod};
///
/// fn setup(greeting: String) {
///     assert_eq!(greeting, "hello");
/// }
///
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(setup, "hello".to_string())
///     .max_tasks_per_child(100)
///     .start_method(StartMethod::Fork)
///     .build()
///     .unwrap();
/// assert_eq!(pool.apply(|x: i32| -x, 5), Ok(-5));
/// ```
#[must_use = "a PoolBuilder does nothing until `build` is called"]
pub struct PoolBuilder<I = ()> {
    processes: Option<usize>,
    start_method: Option<StartMethod>,
    max_tasks: Option<usize>,
    init: Option<(fn(I), I)>,
}

impl<I> fmt::Debug for PoolBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("start_method", &self.start_method)
            .field("max_tasks_per_child", &self.max_tasks)
            .field("initializer", &self.init.is_some())
            .finish()
    }
}

impl Default for PoolBuilder<()> {
    fn default() -> Self {
        PoolBuilder {
            processes: None,
            start_method: None,
            max_tasks: None,
            init: None,
        }
    }
}

impl<I> PoolBuilder<I> {
    /// The number of worker processes (default: [`cpu_count`]).
    pub fn processes(mut self, processes: usize) -> Self {
        self.processes = Some(processes);
        self
    }

    /// The start method of the workers (default: the program's).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// Python's `maxtasksperchild`: a worker exits after this many tasks (a chunk of
    /// `map` counts as one) and a fresh one replaces it, to free what the tasks leaked.
    /// No task is lost on the way.
    pub fn max_tasks_per_child(mut self, tasks: usize) -> Self {
        self.max_tasks = Some(tasks);
        self
    }

    /// Python's `initializer` and `initargs`: each worker runs `init(arg)` when it
    /// starts, before any task. `arg` crosses with serde (a [`Queue`](crate::Queue) or
    /// a lock may be in it) and is cloned for each worker.
    pub fn initializer<J>(self, init: fn(J), arg: J) -> PoolBuilder<J> {
        PoolBuilder {
            processes: self.processes,
            start_method: self.start_method,
            max_tasks: self.max_tasks,
            init: Some((init, arg)),
        }
    }
}

impl<I> PoolBuilder<I>
where
    I: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Starts the pool's keeper threads, which start the workers.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] for zero processes or zero
    /// `max_tasks_per_child` (Python raises `ValueError`), or an initializer that lives
    /// in a dynamic library; [`ProcessError::Os`] if a thread cannot be started.
    /// Workers that cannot start make the pool [broken](ProcessError::PoolBroken),
    /// which its tasks report.
    pub fn build(self) -> Result<Pool, ProcessError> {
        let processes = self.processes.unwrap_or_else(cpu_count);
        if processes == 0 {
            return Err(ProcessError::InvalidArgument(
                "Number of processes must be at least 1".into(),
            ));
        }
        if self.max_tasks == Some(0) {
            return Err(ProcessError::InvalidArgument(
                "max_tasks_per_child must be at least 1".into(),
            ));
        }
        let init = match self.init {
            Some((f, arg)) => Some((worker::initializer_offset(f)?, arg)),
            None => None,
        };
        let (method, max_tasks) = (self.start_method, self.max_tasks);
        let start_worker: StartWorker = Box::new(move |socket| {
            let args = WorkerArgs {
                socket: Descriptor(socket),
                init: init.clone(),
                max_tasks,
            };
            let n = WORKERS.fetch_add(1, Ordering::Relaxed);
            let process = Process::new(worker::worker_main::<I>, args)
                .name(format!("PoolWorker-{n}"))
                .daemon(true);
            match method {
                Some(method) => process.start_method(method),
                None => process,
            }
        });
        let pool = Pool {
            shared: Arc::new(Shared::new(processes, max_tasks, start_worker)),
            keepers: Mutex::new(Vec::with_capacity(processes)),
            processes,
            method,
        };
        for slot in 0..processes {
            let shared = pool.shared.clone();
            let keeper = conc_thread::Builder::new()
                .name(format!("conc-process-pool-keeper-{slot}"))
                .daemon(true)
                .spawn(move || {
                    ON_KEEPER.with(|on| on.set(true));
                    keeper::keep(&shared, slot);
                })
                .map_err(|e| ProcessError::Os {
                    context: "cannot start a pool thread",
                    message: e.to_string(),
                })?;
            pool.keepers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(keeper);
        }
        Ok(pool)
    }
}

/// A sink that hands a task's results to a closure, once.
struct Then<F>(Mutex<Option<F>>);

impl<F> Then<F> {
    fn new(done: F) -> Self {
        Then(Mutex::new(Some(done)))
    }
}

impl<R, F> Sink<R> for Then<F>
where
    F: FnOnce(Vec<Result<R, ProcessError>>) + Send,
{
    fn put(&self, _first: usize, results: Vec<Result<R, ProcessError>>) {
        let done = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            done(results);
        }
    }
}

/// `count` copies of an error, one per argument of a task that failed as a whole.
fn failed<R>(e: &ProcessError, count: usize) -> Vec<Result<R, ProcessError>> {
    (0..count).map(|_| Err(e.clone())).collect()
}

/// Python's default `chunksize` for `map`: about four chunks per worker.
fn default_chunksize(len: usize, processes: usize) -> usize {
    let per = processes * 4;
    len.div_ceil(per).max(1)
}

impl Pool {
    /// A pool of `processes` workers with the program's start method (Python's
    /// `Pool(processes)`); [`Pool::builder`] sets the rest.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// conc_process::set_start_method(conc_process::StartMethod::Fork, true).unwrap();
    /// let pool = conc_process::Pool::new(2).unwrap();
    /// assert_eq!(pool.processes(), 2);
    /// ```
    pub fn new(processes: usize) -> Result<Pool, ProcessError> {
        Self::builder().processes(processes).build()
    }

    /// A builder with Python's defaults: [`cpu_count`] workers, no initializer, workers
    /// that live as long as the pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Queues `func` on the arguments `args` (their indices in the call start at
    /// `first`): every argument's result reaches `sink`, a value or an error.
    fn submit<A, R>(&self, func: fn(A) -> R, args: &[A], first: usize, sink: Arc<dyn Sink<R>>)
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let work = worker::encode_task(func, args).map(Work::Task);
        self.submit_work(work, args.len(), first, sink);
    }

    /// Queues a task of `count` arguments (or fails them all with why it could not be
    /// made).
    fn submit_work<R>(
        &self,
        work: Result<Work, ProcessError>,
        count: usize,
        first: usize,
        sink: Arc<dyn Sink<R>>,
    ) where
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let work = match work {
            Ok(work) => work,
            Err(e) => return sink.put(first, failed(&e, count)),
        };
        let deliver: Deliver = Box::new(move |reply, worker| {
            let results = match reply.and_then(|frame| worker::decode_reply::<R>(frame, count)) {
                Ok(results) => results
                    .into_iter()
                    .map(|result| {
                        result.map_err(|message| ProcessError::Panicked {
                            name: worker.to_string(),
                            message,
                        })
                    })
                    .collect(),
                Err(e) => failed(&e, count),
            };
            sink.put(first, results);
        });
        self.shared.submit(Job { work, deliver });
    }

    /// A closure task: `run` runs in a child forked for it alone, whose results come
    /// back as a worker's would. Only a `fork` pool takes one.
    fn forked(
        &self,
        run: impl FnOnce(&std::os::fd::OwnedFd) + Send + 'static,
    ) -> Result<Work, ProcessError> {
        let method = self.method.unwrap_or_else(crate::get_start_method);
        if method != StartMethod::Fork {
            return Err(ProcessError::InvalidArgument(format!(
                "a closure task needs a pool of the 'fork' start method, not '{method}': \
                 pass a named fn, or build the pool with StartMethod::Fork"
            )));
        }
        let start_once: StartOnce = Box::new(move |socket| {
            let n = WORKERS.fetch_add(1, Ordering::Relaxed);
            Process::from_closure(move || run(&socket))
                .name(format!("PoolWorker-{n}"))
                .daemon(true)
                .start_method(StartMethod::Fork)
        });
        Ok(Work::Forked(start_once))
    }

    /// Runs `func(args)` in a worker and waits for its result (Python's `apply`).
    ///
    /// # Errors
    ///
    /// As [`AsyncResult::get`]: [`ProcessError::Panicked`] for a panic in the task,
    /// [`ProcessError::Died`] if its worker died running it,
    /// [`ProcessError::Serialization`] if the argument or result cannot cross,
    /// [`ProcessError::Closed`] on a closed pool, [`ProcessError::PoolBroken`],
    /// [`ProcessError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, ProcessError, StartMethod};
    ///
    /// let pool = Pool::builder().processes(1).start_method(StartMethod::Fork).build().unwrap();
    /// let err = pool.apply(|_: ()| -> u8 { panic!("boom") }, ()).unwrap_err();
    /// assert!(matches!(err, ProcessError::Panicked { ref message, .. } if message == "boom"));
    /// assert_eq!(pool.apply(|x: u8| x + 1, 1), Ok(2)); // the worker carries on
    /// ```
    pub fn apply<A, R>(&self, func: fn(A) -> R, args: A) -> Result<R, ProcessError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(func, args).get(None)
    }

    /// Queues `func(args)` and returns at once (Python's `apply_async`). A pool that
    /// is closed, terminated or broken, or an argument that cannot be encoded, gives a
    /// result that holds the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    /// let results: Vec<_> = (0..4).map(|i| pool.apply_async(|x: u32| x * 10, i)).collect();
    /// let values: Vec<u32> = results.iter().map(|r| r.get(None).unwrap()).collect();
    /// assert_eq!(values, [0, 10, 20, 30]);
    /// ```
    pub fn apply_async<A, R>(&self, func: fn(A) -> R, args: A) -> AsyncResult<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(func, args, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with Python's `callback` and
    /// `error_callback` (see [`Callbacks`]).
    pub fn apply_async_with<A, R>(
        &self,
        func: fn(A) -> R,
        args: A,
        callbacks: Callbacks<R>,
    ) -> AsyncResult<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let result = AsyncResult::pending(callbacks);
        self.submit(
            func,
            std::slice::from_ref(&args),
            0,
            Arc::new(result.clone()),
        );
        result
    }

    /// Runs `func` on every item in the workers and returns the results in order
    /// (Python's `map`), with Python's default chunk size: the items are sent in about
    /// four chunks per worker.
    ///
    /// # Errors
    ///
    /// The first error of any item (as [`apply`](Self::apply)); Python's `map` raises
    /// the first exception the same way.
    pub fn map<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, ProcessError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(func, items, None).get(None)
    }

    /// [`map`](Self::map) with an explicit chunk size: `chunksize` items travel to a
    /// worker as one task.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Panics
    ///
    /// If `chunksize` is 0 (Python raises `ValueError`).
    pub fn map_chunked<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<Vec<R>, ProcessError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(func, items, Some(chunksize)).get(None)
    }

    /// Queues a [`map`](Self::map) and returns at once (Python's `map_async`);
    /// `chunksize` `None` is Python's default rule.
    ///
    /// # Panics
    ///
    /// If `chunksize` is `Some(0)` (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    /// let result = pool.map_async(|x: i64| x - 1, vec![1, 2, 3], Some(2));
    /// assert_eq!(result.get(None), Ok(vec![0, 1, 2]));
    /// ```
    pub fn map_async<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> AsyncResult<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async_with(func, items, chunksize, Callbacks::new())
    }

    /// [`map_async`](Self::map_async) with Python's `callback` (given the whole list)
    /// and `error_callback` (given the first error).
    ///
    /// # Panics
    ///
    /// If `chunksize` is `Some(0)` (Python raises `ValueError`).
    pub fn map_async_with<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> AsyncResult<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_chunks(items, chunksize, callbacks, |chunk| {
            worker::encode_task(func, &chunk).map(Work::Task)
        })
    }

    /// A `map` of any shape: `items` in chunks, each made a task by `encode`, the
    /// results gathered in order.
    fn map_chunks<T, R>(
        &self,
        items: impl IntoIterator<Item = T>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
        mut encode: impl FnMut(Vec<T>) -> Result<Work, ProcessError>,
    ) -> AsyncResult<Vec<R>>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        assert_ne!(chunksize, Some(0), "chunksize must be at least 1");
        let items: Vec<T> = items.into_iter().collect();
        if items.is_empty() {
            return AsyncResult::completed(Ok(Vec::new()), callbacks);
        }
        let chunksize = chunksize.unwrap_or_else(|| default_chunksize(items.len(), self.processes));
        let result = AsyncResult::pending(callbacks);
        let sink: Arc<dyn Sink<R>> = Arc::new(MapSink::new(items.len(), result.clone()));
        let mut items = items.into_iter();
        let mut first = 0;
        loop {
            let chunk: Vec<T> = items.by_ref().take(chunksize).collect();
            if chunk.is_empty() {
                break;
            }
            let count = chunk.len();
            self.submit_work(encode(chunk), count, first, sink.clone());
            first += count;
        }
        result
    }

    /// Runs `func(a, b)` on every pair and returns the results in order (Python's
    /// `starmap`), with Python's default chunk size. Functions of three or more
    /// arguments take one tuple with [`map`](Self::map).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// fn power(base: u64, exp: u32) -> u64 {
    ///     base.pow(exp)
    /// }
    ///
    /// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    /// assert_eq!(pool.starmap(power, [(2, 3), (3, 2), (10, 0)]), Ok(vec![8, 9, 1]));
    /// ```
    pub fn starmap<A, B, R>(
        &self,
        func: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>, ProcessError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.starmap_async(func, items, None).get(None)
    }

    /// Queues a [`starmap`](Self::starmap) and returns at once (Python's
    /// `starmap_async`); `chunksize` `None` is Python's default rule.
    ///
    /// # Panics
    ///
    /// If `chunksize` is `Some(0)` (Python raises `ValueError`).
    pub fn starmap_async<A, B, R>(
        &self,
        func: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
        chunksize: Option<usize>,
    ) -> AsyncResult<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_chunks(items, chunksize, Callbacks::new(), |chunk| {
            worker::encode_star_task(func, &chunk).map(Work::Task)
        })
    }

    /// Runs `func` on every item and yields the results in the items' order as they
    /// become available (Python's `imap`); `chunksize` items travel as one task (Python
    /// uses 1 by default). The items are taken from `items` at once; the results
    /// arrive lazily.
    ///
    /// # Panics
    ///
    /// If `chunksize` is 0 (Python raises `ValueError`).
    pub fn imap<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> IMapIterator<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.imap_inner(func, items, chunksize, true)
    }

    /// Like [`imap`](Self::imap), yielding each result as soon as it is ready, in the
    /// order the tasks finish (Python's `imap_unordered`).
    ///
    /// # Panics
    ///
    /// If `chunksize` is 0 (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    /// let mut squares: Vec<u32> = pool
    ///     .imap_unordered(|x: u32| x * x, [3, 1, 2], 1)
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// squares.sort();
    /// assert_eq!(squares, [1, 4, 9]);
    /// ```
    pub fn imap_unordered<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> IMapIterator<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.imap_inner(func, items, chunksize, false)
    }

    fn imap_inner<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
        ordered: bool,
    ) -> IMapIterator<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        assert_ne!(chunksize, 0, "chunksize must be at least 1");
        let items: Vec<A> = items.into_iter().collect();
        let results = IMapIterator::new(items.len(), ordered);
        let sink = results.sink();
        for (i, chunk) in items.chunks(chunksize).enumerate() {
            self.submit(func, chunk, i * chunksize, sink.clone());
        }
        results
    }

    /// Runs a closure in the pool and waits for its result: with `fork`, a closure that
    /// captures state (Python cannot send a `lambda` to a pool at all).
    ///
    /// A closure cannot travel to a worker that is already running, so each closure
    /// task runs in a child forked for it alone, in one of the pool's slots (the
    /// number of tasks at a time stays [`processes`](Self::processes)); it costs a fork
    /// per task, and the [initializer](PoolBuilder::initializer) does not run there.
    /// Its captures are copied by the fork, so they need no serde; the result crosses
    /// with serde. Panics, deaths, `terminate` are reported as for [`apply`](Self::apply).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); [`ProcessError::InvalidArgument`] when the pool's
    /// start method is not `fork`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    /// let words = vec!["process", "pool"];
    /// assert_eq!(pool.apply_closure(move || words.concat().len()), Ok(11));
    /// ```
    pub fn apply_closure<F, R>(&self, f: F) -> Result<R, ProcessError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_closure(f, Callbacks::new()).get(None)
    }

    /// Queues [`apply_closure`](Self::apply_closure) and returns at once, with Python's
    /// `callback` and `error_callback` ([`Callbacks::new`] for none).
    pub fn apply_async_closure<F, R>(&self, f: F, callbacks: Callbacks<R>) -> AsyncResult<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let result = AsyncResult::pending(callbacks);
        let work = self.forked(move |socket| {
            worker::reply_from_fork(socket, vec![worker::catch(f)]);
        });
        self.submit_work(work, 1, 0, Arc::new(result.clone()));
        result
    }

    /// [`map`](Self::map) of a closure, under `fork`: each chunk of `chunksize` items
    /// (`None`: Python's default rule) runs in a child forked for it, as
    /// [`apply_closure`](Self::apply_closure) runs one closure. The items reach the
    /// child by the fork, so they need no serde either.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map); [`ProcessError::InvalidArgument`] when the pool's start
    /// method is not `fork`.
    ///
    /// # Panics
    ///
    /// If `chunksize` is `Some(0)` (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
    /// let factor = 3;
    /// assert_eq!(pool.map_closure(move |x: u32| x * factor, 1..=4, None), Ok(vec![3, 6, 9, 12]));
    /// ```
    pub fn map_closure<F, A, R>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, ProcessError>
    where
        F: Fn(A) -> R + Clone + Send + 'static,
        A: Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async_closure(f, items, chunksize, Callbacks::new())
            .get(None)
    }

    /// Queues [`map_closure`](Self::map_closure) and returns at once, with Python's
    /// `callback` (given the whole list) and `error_callback` (given the first error).
    ///
    /// # Panics
    ///
    /// If `chunksize` is `Some(0)` (Python raises `ValueError`).
    pub fn map_async_closure<F, A, R>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<R>>,
    ) -> AsyncResult<Vec<R>>
    where
        F: Fn(A) -> R + Clone + Send + 'static,
        A: Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_chunks(items, chunksize, callbacks, |chunk| {
            let f = f.clone();
            self.forked(move |socket| {
                let results = chunk.into_iter().map(|a| worker::catch(|| f(a))).collect();
                worker::reply_from_fork(socket, results);
            })
        })
    }

    /// Runs `func(arg)` in a worker and hands its outcome to `done`, called once on one
    /// of the pool's threads: the building block for executors layered on this pool
    /// (conc-futures' `ProcessPoolExecutor` completes its futures with it). Errors are
    /// those of [`apply`](Self::apply), a closed or terminated pool's included; `done`
    /// must not block for long (it holds a worker's slot meanwhile).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Pool, StartMethod};
    ///
    /// let pool = Pool::builder().processes(1).start_method(StartMethod::Fork).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.apply_then(|x: u32| x * 3, 14, move |r| tx.send(r).unwrap());
    /// assert_eq!(rx.recv().unwrap(), Ok(42));
    /// ```
    pub fn apply_then<A, R>(
        &self,
        func: fn(A) -> R,
        arg: A,
        done: impl FnOnce(Result<R, ProcessError>) + Send + 'static,
    ) where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let sink = Then::new(move |results: Vec<Result<R, ProcessError>>| {
            if let Some(result) = results.into_iter().next() {
                done(result);
            }
        });
        self.submit(func, std::slice::from_ref(&arg), 0, Arc::new(sink));
    }

    /// Runs `func` on each of `args` in one worker (one message each way) and hands the
    /// results, in order, to `done`, as [`apply_then`](Self::apply_then) does: a chunk of
    /// a `map`. A worker's death fails every item of its chunk.
    pub fn map_chunk_then<A, R>(
        &self,
        func: fn(A) -> R,
        args: Vec<A>,
        done: impl FnOnce(Vec<Result<R, ProcessError>>) + Send + 'static,
    ) where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit(func, &args, 0, Arc::new(Then::new(done)));
    }

    /// Takes no more tasks; the queued ones still run, then the workers exit (Python's
    /// `close`). Later submissions fail with [`ProcessError::Closed`].
    pub fn close(&self) {
        self.shared.close();
    }

    /// Stops at once (Python's `terminate`): the workers are killed, and every task
    /// not yet finished fails with [`ProcessError::Cancelled`].
    pub fn terminate(&self) {
        self.shared.terminate();
    }

    /// Waits for the workers to exit after [`close`](Self::close) or
    /// [`terminate`](Self::terminate) (Python's `join`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] while the pool still runs (Python raises
    /// `ValueError`), or when called from one of the pool's own callbacks (it would
    /// wait for itself).
    pub fn join(&self) -> Result<(), ProcessError> {
        if self.shared.phase() == Phase::Running {
            return Err(ProcessError::InvalidState(
                "join needs close or terminate first",
            ));
        }
        if ON_KEEPER.with(Cell::get) {
            return Err(ProcessError::InvalidState(
                "a pool cannot be joined from one of its callbacks",
            ));
        }
        let keepers = std::mem::take(&mut *self.keepers.lock().unwrap_or_else(|e| e.into_inner()));
        for keeper in keepers {
            let _ = keeper.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// Terminates the pool and waits for its workers to be gone, as leaving Python's
    /// `with Pool()` block does.
    fn drop(&mut self) {
        self.terminate();
        let _ = self.join();
    }
}
