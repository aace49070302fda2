//! The `Executor` trait (Python: `concurrent.futures.Executor`), the type-erased
//! [`Job`] its object-safe core moves, and `map`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::future::{Action, FusedTask, Limit};
use crate::{Future, FutureError};

/// One task and the future it completes, with its types erased: what the object-safe
/// core of [`Executor`] ([`execute`](Executor::execute)) moves, so one program can hold
/// different executors as `dyn Executor`. [`Executor::submit`] makes one from a
/// closure.
///
/// # Examples
///
/// ```
/// use conc_futures::{Future, Job};
///
/// let future = Future::new();
/// let job = Job::new(|| 6 * 7, future.clone());
/// job.run(); // an executor would do this on one of its workers
/// assert_eq!(future.result(), Ok(42));
/// ```
pub struct Job {
    /// `None` once acted on.
    kind: Option<Kind>,
}

/// What a job holds.
enum Kind {
    /// A closure, run where the executor runs it.
    Local(Box<dyn FnOnce(Action) + Send>),
    /// A closure fused into its future's cell (what `submit` makes: one allocation).
    Fused(Arc<dyn FusedTask>),
    /// A named function with serde arguments, which a process executor ships to a
    /// worker and any other executor runs in place.
    #[cfg(feature = "process")]
    Call(Box<dyn crate::call::Call>),
}

/// A job dropped without being run, cancelled or failed (an executor torn down with
/// work queued, a refused job nobody failed) fails its future, so that nobody waits
/// on it forever.
impl Drop for Job {
    fn drop(&mut self) {
        if self.kind.is_some() {
            let job = Job {
                kind: self.kind.take(),
            };
            job.refuse(FutureError::BrokenExecutor(
                "the executor dropped this task without running it".into(),
            ));
        }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl Job {
    /// A job that runs `task` and completes `future` with its value, or with
    /// [`FutureError::Panicked`] if it panics.
    pub fn new<F, T>(task: F, future: Future<T>) -> Job
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Job::from_action(move |action| crate::future::settle(&future, action, task))
    }

    /// A job of one closure that does what it is told.
    fn from_action(act: impl FnOnce(Action) + Send + 'static) -> Job {
        Job {
            kind: Some(Kind::Local(Box::new(act))),
        }
    }

    /// A job that calls the named function `func(arg)` and completes `future` with
    /// its value: what [`Executor::submit_call`] sends. A
    /// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) runs it in a worker
    /// process (the argument and result cross with serde); any other executor calls
    /// `func` in place, as it runs a closure.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Future, Job};
    ///
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let future = Future::new();
    /// Job::call(double, 21, future.clone()).run();
    /// assert_eq!(future.result(), Ok(42));
    /// ```
    #[cfg(feature = "process")]
    pub fn call<A, R>(func: fn(A) -> R, arg: A, future: Future<R>) -> Job
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        Job {
            kind: Some(Kind::Call(crate::call::one_call(func, arg, future))),
        }
    }

    /// A job that calls `func` on every item of `chunk` and completes `future` with the
    /// values in order: one message to a process worker for many items.
    #[cfg(feature = "process")]
    pub(crate) fn call_chunk<A, R>(func: fn(A) -> R, chunk: Vec<A>, future: Future<Vec<R>>) -> Job
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        Job {
            kind: Some(Kind::Call(crate::call::chunk_call(func, chunk, future))),
        }
    }

    /// The named-function call this job holds, or the job itself if it holds a
    /// closure.
    #[cfg(feature = "process")]
    pub(crate) fn into_call(mut self) -> Result<Box<dyn crate::call::Call>, Job> {
        match self.kind.take() {
            Some(Kind::Call(call)) => Ok(call),
            kind => {
                self.kind = kind;
                Err(self)
            }
        }
    }

    fn act(mut self, action: Action) {
        match self.kind.take() {
            Some(Kind::Local(act)) => act(action),
            Some(Kind::Fused(task)) => task.act(action),
            #[cfg(feature = "process")]
            Some(Kind::Call(call)) => call.in_place(action),
            None => {}
        }
    }

    /// Runs the task here and now, unless its future was cancelled first.
    pub fn run(self) {
        self.act(Action::Run);
    }

    /// Cancels the job without running it (its future becomes cancelled).
    pub fn cancel(self) {
        self.act(Action::Cancel);
    }

    /// Fails the job without running it: its future gets
    /// [`FutureError::BrokenExecutor`] with `why`.
    pub fn fail(self, why: String) {
        self.act(Action::Fail(FutureError::BrokenExecutor(why)));
    }

    /// Fails the job without running it with `error` (an executor refusing it).
    pub(crate) fn refuse(self, error: FutureError) {
        self.act(Action::Fail(error));
    }
}

/// Something that runs closures and hands back [`Future`]s (Python's
/// `concurrent.futures.Executor`).
///
/// The trait is object-safe: its core, [`execute`](Executor::execute) and
/// [`shutdown`](Executor::shutdown), moves type-erased [`Job`]s, so one program can
/// hold different executors as `Box<dyn Executor>` or `Arc<dyn Executor>` (both are
/// executors themselves); the generic [`submit`](Executor::submit) and
/// [`map`](Executor::map) are sugar over `execute`. Why this shape: a generic `submit`
/// alone cannot be called through a trait object, and a boxed-only API would make
/// every caller build futures by hand.
///
/// Dropping an executor shuts it down and waits for its queued work (Python's `with
/// ThreadPoolExecutor() as pool:` block).
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor};
///
/// let executors: Vec<Box<dyn Executor>> =
///     vec![Box::new(ThreadPoolExecutor::new()), Box::new(ThreadPoolExecutor::new())];
/// for e in &executors {
///     assert_eq!(e.submit(|| 1 + 1).unwrap().result(), Ok(2));
/// }
/// ```
///
/// # Examples
///
/// Code generic over the executor:
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor};
///
/// fn squares(pool: &impl Executor, n: u64) -> Vec<u64> {
///     pool.map(0..n, |x| x * x, None, 1).unwrap().map(Result::unwrap).collect()
/// }
/// assert_eq!(squares(&ThreadPoolExecutor::new(), 4), [0, 1, 4, 9]);
/// ```
pub trait Executor: Send + Sync {
    /// Queues `job` to run on one of the executor's workers: the object-safe core that
    /// [`submit`](Executor::submit) builds on.
    ///
    /// # Errors
    ///
    /// [`FutureError::ShutDown`] after [`shutdown`](Executor::shutdown),
    /// [`FutureError::BrokenExecutor`] if the executor is broken; the job's future
    /// fails with the same error (a [`Job`] dropped unrun always fails its future, so
    /// nobody waits on a refused job forever).
    fn execute(&self, job: Job) -> Result<(), FutureError>;

    /// Schedules `task` and returns its future (Python: `submit(fn)`). A panic in the
    /// task becomes [`FutureError::Panicked`] on the future; the worker carries on.
    ///
    /// # Errors
    ///
    /// [`FutureError::ShutDown`] after [`shutdown`](Executor::shutdown),
    /// [`FutureError::BrokenExecutor`] if the executor is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// assert_eq!(pool.submit(|| "done").unwrap().result(), Ok("done"));
    /// ```
    fn submit<F, T>(&self, task: F) -> Result<Future<T>, FutureError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        Self: Sized,
    {
        submit_through(self, task)
    }

    /// Schedules the named function `func(arg)` and returns its future: the one way
    /// to submit that every executor runs, processes included. A
    /// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) runs it in a worker process
    /// (the argument and result cross with serde, as with
    /// [`ProcessPoolExecutor::submit`](crate::ProcessPoolExecutor::submit)); a thread or
    /// greenlet executor calls `func` as it runs a closure. Code written against
    /// `dyn Executor` that must also run on processes submits this way.
    ///
    /// # Errors
    ///
    /// As [`submit`](Executor::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// let executors: Vec<Box<dyn Executor>> = vec![Box::new(ThreadPoolExecutor::new())];
    /// for e in &executors {
    ///     assert_eq!(e.submit_call(square, 7).unwrap().result(), Ok(49));
    /// }
    /// ```
    #[cfg(feature = "process")]
    fn submit_call<A, R>(&self, func: fn(A) -> R, arg: A) -> Result<Future<R>, FutureError>
    where
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        Self: Sized,
    {
        let future = Future::new();
        self.execute(Job::call(func, arg, future.clone()))?;
        Ok(future)
    }

    /// [`map`](Executor::map) of a named function, which every executor runs,
    /// processes included (see [`submit_call`](Executor::submit_call)); each chunk of
    /// `chunksize` items is one message to a worker process.
    ///
    /// # Errors
    ///
    /// As [`map`](Executor::map).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let pool: Box<dyn Executor> = Box::new(ThreadPoolExecutor::new());
    /// let doubled: Vec<u32> = pool.map_call(double, 1..=4, None, 2).unwrap().map(Result::unwrap).collect();
    /// assert_eq!(doubled, [2, 4, 6, 8]);
    /// ```
    #[cfg(feature = "process")]
    fn map_call<I, A, R>(
        &self,
        func: fn(A) -> R,
        items: I,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<MapResults<R>, FutureError>
    where
        I: IntoIterator<Item = A>,
        A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        Self: Sized,
    {
        map_with(
            items,
            timeout,
            chunksize,
            |item| self.submit_call(func, item),
            |chunk| {
                let future = Future::new();
                self.execute(Job::call_chunk(func, chunk, future.clone()))?;
                Ok(future)
            },
        )
    }

    /// Stops accepting work (Python: `shutdown(wait, cancel_futures)`). With
    /// `cancel_futures`, tasks not yet started are cancelled; with `wait`, blocks until
    /// the running and queued tasks are done and the workers have exited. Calling it
    /// again is harmless. Called from one of the executor's own workers, it does not
    /// wait (the worker would wait for itself, and two workers for each other; Python
    /// raises `RuntimeError` there).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, FutureError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.submit(|| ()).unwrap_err(), FutureError::ShutDown);
    /// ```
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// Applies `f` to every item concurrently and yields the results in input order
    /// (Python: `map(fn, iterable, timeout, chunksize)`).
    ///
    /// Every item is submitted at once, in chunks of `chunksize` items per task (a
    /// process executor ships each chunk in one message; for threads `1` is best).
    /// `timeout` is one deadline for the whole iteration, counted from this call. On the
    /// first error or timeout the iterator yields it, cancels the work not yet started
    /// and ends; dropping the iterator early cancels the rest too.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidArgument`] if `chunksize` is 0, and the errors of
    /// [`submit`](Executor::submit). Items yield [`FutureError::Timeout`] or the task's
    /// error.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let lengths: Vec<usize> = pool
    ///     .map(vec!["a", "bb", "ccc"], str::len, None, 1)
    ///     .unwrap()
    ///     .collect::<Result<_, _>>()
    ///     .unwrap();
    /// assert_eq!(lengths, [1, 2, 3]);
    /// ```
    fn map<I, F, T>(
        &self,
        items: I,
        f: F,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<MapResults<T>, FutureError>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
        Self: Sized,
    {
        map_through(self, items, f, timeout, chunksize)
    }
}

/// A boxed executor is an executor: hold different executors as `Box<dyn Executor>`
/// and call [`submit`](Executor::submit) and [`map`](Executor::map) on them.
impl<E: Executor + ?Sized> Executor for Box<E> {
    fn execute(&self, job: Job) -> Result<(), FutureError> {
        (**self).execute(job)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        (**self).shutdown(wait, cancel_futures);
    }
}

/// A shared executor is an executor (`Arc<dyn Executor>`).
impl<E: Executor + ?Sized> Executor for Arc<E> {
    fn execute(&self, job: Job) -> Result<(), FutureError> {
        (**self).execute(job)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        (**self).shutdown(wait, cancel_futures);
    }
}

/// A borrowed executor is an executor: a function taking `&dyn Executor` calls
/// `(&executor).submit(..)`, or takes `impl Executor` and is given `&*executor`.
impl<E: Executor + ?Sized> Executor for &E {
    fn execute(&self, job: Job) -> Result<(), FutureError> {
        (**self).execute(job)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        (**self).shutdown(wait, cancel_futures);
    }
}

/// `submit` on any executor: a future and its job.
fn submit_through<E, F, T>(executor: &E, task: F) -> Result<Future<T>, FutureError>
where
    E: Executor + ?Sized,
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (future, task) = Future::fused(task);
    executor.execute(Job {
        kind: Some(Kind::Fused(task)),
    })?;
    Ok(future)
}

/// `map` on any executor.
fn map_through<E, I, F, T>(
    executor: &E,
    items: I,
    f: F,
    timeout: Option<Duration>,
    chunksize: usize,
) -> Result<MapResults<T>, FutureError>
where
    E: Executor + ?Sized,
    I: IntoIterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let f = Arc::new(f);
    let each = f.clone();
    map_with(
        items,
        timeout,
        chunksize,
        move |item| {
            let f = each.clone();
            submit_through(executor, move || f(item))
        },
        move |chunk: Vec<I::Item>| {
            let f = f.clone();
            submit_through(executor, move || chunk.into_iter().map(|x| f(x)).collect())
        },
    )
}

/// The shape of every `map`: all items submitted at once, one task per item when
/// chunks are of one (no vectors to build), else one task per chunk; the results
/// in input order under one deadline counted from now.
fn map_with<I, T>(
    items: I,
    timeout: Option<Duration>,
    chunksize: usize,
    mut submit_one: impl FnMut(I::Item) -> Result<Future<T>, FutureError>,
    mut submit_chunk: impl FnMut(Vec<I::Item>) -> Result<Future<Vec<T>>, FutureError>,
) -> Result<MapResults<T>, FutureError>
where
    I: IntoIterator,
{
    if chunksize == 0 {
        return Err(FutureError::InvalidArgument("chunksize must be at least 1"));
    }
    let mut items = items.into_iter();
    let mut results = MapResults {
        pending: if chunksize == 1 {
            Pending::Items(VecDeque::new())
        } else {
            Pending::Chunks(VecDeque::new())
        },
        current: VecDeque::new(),
        limit: timeout.and_then(crate::future::limit),
        finished: false,
    };
    while let Some(first) = items.next() {
        let submitted = match &mut results.pending {
            Pending::Items(futures) => submit_one(first).map(|future| futures.push_back(future)),
            Pending::Chunks(futures) => {
                let mut chunk = Vec::with_capacity(chunksize);
                chunk.push(first);
                chunk.extend(items.by_ref().take(chunksize - 1));
                submit_chunk(chunk).map(|future| futures.push_back(future))
            }
        };
        // On failure, dropping `results` cancels what was already submitted, as
        // Python does when map fails midway.
        submitted?;
    }
    Ok(results)
}

/// The iterator of [`Executor::map`]: results in input order.
///
/// Dropping it cancels the tasks that have not started.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, MapResults, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let results: MapResults<u32> = pool.map(1..=3, |x| x * 2, None, 2).unwrap();
/// assert_eq!(results.map(Result::unwrap).collect::<Vec<_>>(), [2, 4, 6]);
/// ```
#[must_use = "iterators do nothing unless iterated"]
pub struct MapResults<T> {
    pending: Pending<T>,
    /// Values of the chunk being handed out.
    current: VecDeque<T>,
    /// One limit for the whole iteration, counted from the `map` call.
    limit: Option<Limit>,
    finished: bool,
}

/// The submitted work, in input order.
enum Pending<T> {
    /// `chunksize == 1`: one task per item.
    Items(VecDeque<Future<T>>),
    /// One task per chunk, each returning its values in order.
    Chunks(VecDeque<Future<Vec<T>>>),
}

impl<T> MapResults<T> {
    fn cancel_rest(&mut self) {
        match &mut self.pending {
            Pending::Items(futures) => futures.drain(..).for_each(|f| {
                f.cancel();
            }),
            Pending::Chunks(futures) => futures.drain(..).for_each(|f| {
                f.cancel();
            }),
        }
        self.finished = true;
    }

    /// Gives back the error after cancelling everything not started.
    fn fail(&mut self, error: FutureError) -> Option<Result<T, FutureError>> {
        self.cancel_rest();
        Some(Err(error))
    }
}

impl<T> Iterator for MapResults<T> {
    type Item = Result<T, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(value) = self.current.pop_front() {
                return Some(Ok(value));
            }
            if self.finished {
                return None;
            }
            match &mut self.pending {
                Pending::Items(futures) => {
                    let future = futures.pop_front()?;
                    return match future.take_until(self.limit) {
                        Ok(value) => Some(Ok(value)),
                        Err(error) => {
                            future.cancel();
                            self.fail(error)
                        }
                    };
                }
                Pending::Chunks(futures) => {
                    let chunk = futures.pop_front()?;
                    match chunk.take_until(self.limit) {
                        Ok(values) => self.current = values.into(),
                        Err(error) => {
                            chunk.cancel();
                            return self.fail(error);
                        }
                    }
                }
            }
        }
    }
}

impl<T> Drop for MapResults<T> {
    fn drop(&mut self) {
        self.cancel_rest();
    }
}

impl<T> std::fmt::Debug for MapResults<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let left = match &self.pending {
            Pending::Items(futures) => futures.len(),
            Pending::Chunks(futures) => futures.len(),
        };
        f.debug_struct("MapResults")
            .field("tasks_left", &left)
            .field("buffered", &self.current.len())
            .finish()
    }
}
