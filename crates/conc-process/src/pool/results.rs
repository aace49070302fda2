//! Where a pool's task results land: [`AsyncResult`] (one value, or a whole `map`),
//! [`IMapIterator`] (items as they come), and the callbacks run on arrival.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{ProcessError, sync};

type OnSuccess<T> = Box<dyn FnOnce(&T) + Send>;
type OnError = Box<dyn FnOnce(&ProcessError) + Send>;

/// Python's `callback` and `error_callback` of `apply_async` and `map_async`: run in
/// the parent when the result arrives, before [`AsyncResult::get`] returns it.
///
/// They run on the pool's keeper thread of the worker that ran the task (Python runs
/// them on its one result-handler thread): keep them short, as that worker gets its
/// next task only afterwards. A panic in a callback is logged and does not harm the
/// pool.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use conc_process::{Callbacks, Pool, StartMethod};
///
/// let pool = Pool::builder().processes(1).start_method(StartMethod::Fork).build().unwrap();
/// let (tx, rx) = mpsc::channel();
/// let result = pool.apply_async_with(
///     |x: u32| x * 2,
///     21,
///     Callbacks::new().callback(move |v: &u32| tx.send(*v).unwrap()),
/// );
/// assert_eq!(result.get(None), Ok(42));
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
#[must_use = "Callbacks do nothing until given to apply_async_with or map_async_with"]
pub struct Callbacks<T> {
    success: Option<OnSuccess<T>>,
    error: Option<OnError>,
}

impl<T> Callbacks<T> {
    /// No callbacks.
    pub fn new() -> Self {
        Callbacks {
            success: None,
            error: None,
        }
    }

    /// Runs `f` with the value when the task succeeds (Python's `callback`).
    pub fn callback(mut self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.success = Some(Box::new(f));
        self
    }

    /// Runs `f` with the error when the task fails (Python's `error_callback`).
    pub fn error_callback(mut self, f: impl FnOnce(&ProcessError) + Send + 'static) -> Self {
        self.error = Some(Box::new(f));
        self
    }

    /// Runs the callback that fits `result`, containing a panic.
    fn run(self, result: &Result<T, ProcessError>) {
        let ran = match result {
            Ok(value) => self
                .success
                .map(|f| catch_unwind(AssertUnwindSafe(|| f(value)))),
            Err(e) => self.error.map(|f| catch_unwind(AssertUnwindSafe(|| f(e)))),
        };
        if let Some(Err(payload)) = ran {
            log::error!(
                "a pool result callback panicked: {}",
                conc_thread::panic_message(&*payload)
            );
        }
    }
}

impl<T> Default for Callbacks<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("callback", &self.success.is_some())
            .field("error_callback", &self.error.is_some())
            .finish()
    }
}

enum Slot<T> {
    Pending(Option<Callbacks<T>>),
    Ready(Result<T, ProcessError>),
    Taken { successful: bool },
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

/// The result of [`Pool::apply_async`](crate::Pool::apply_async) or
/// [`Pool::map_async`](crate::Pool::map_async) (Python's `AsyncResult`).
///
/// [`get`](Self::get) hands the value over once (it is moved out, not copied); after
/// that `ready` and `successful` still answer and `get` says the value was taken.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_process::{Pool, StartMethod};
///
/// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
/// let result = pool.apply_async(|s: String| s.len(), "four".to_string());
/// assert!(result.wait(Some(Duration::from_secs(30))));
/// assert!(result.ready());
/// assert_eq!(result.successful(), Ok(true));
/// assert_eq!(result.get(None), Ok(4));
/// ```
pub struct AsyncResult<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.lock() {
            Slot::Pending(_) => "pending",
            Slot::Ready(Ok(_)) | Slot::Taken { successful: true } => "succeeded",
            Slot::Ready(Err(_)) | Slot::Taken { successful: false } => "failed",
        };
        f.debug_struct("AsyncResult")
            .field("state", &state)
            .finish()
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn pending(callbacks: Callbacks<T>) -> Self {
        AsyncResult {
            shared: Arc::new(Shared {
                slot: Mutex::new(Slot::Pending(Some(callbacks))),
                ready: Condvar::new(),
            }),
        }
    }

    /// A result that is already there (a task refused before it was queued).
    pub(crate) fn completed(result: Result<T, ProcessError>, callbacks: Callbacks<T>) -> Self {
        let me = Self::pending(callbacks);
        me.complete(result);
        me
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.shared.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the result, after running its callback (as Python does: `get` returns
    /// only once the callback has run). The first completion wins.
    pub(crate) fn complete(&self, result: Result<T, ProcessError>) {
        // Taking the callbacks claims the completion: a second one (another chunk of a
        // `map` failing too) finds them gone and leaves.
        let callbacks = match &mut *self.lock() {
            Slot::Pending(callbacks) => match callbacks.take() {
                Some(callbacks) => callbacks,
                None => return,
            },
            _ => return,
        };
        callbacks.run(&result);
        let mut slot = self.lock();
        if matches!(*slot, Slot::Pending(_)) {
            *slot = Slot::Ready(result);
            self.shared.ready.notify_all();
        }
    }

    /// Whether the result has arrived (Python's `ready()`).
    pub fn ready(&self) -> bool {
        !matches!(*self.lock(), Slot::Pending(_))
    }

    /// Whether the task succeeded (Python's `successful()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] while the result has not arrived (Python raises
    /// `ValueError`).
    pub fn successful(&self) -> Result<bool, ProcessError> {
        match &*self.lock() {
            Slot::Pending(_) => Err(ProcessError::InvalidState("the result is not ready")),
            Slot::Ready(result) => Ok(result.is_ok()),
            Slot::Taken { successful } => Ok(*successful),
        }
    }

    /// Waits until the result arrives or `timeout` passes (`None`: as long as it
    /// takes); returns whether it arrived (Python's `wait(timeout)`).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(sync::deadline_after);
        let slot = self.lock();
        sync::wait_while_not(&self.shared.ready, slot, deadline, |s| {
            !matches!(s, Slot::Pending(_))
        })
        .1
    }

    /// Waits for the result (at most `timeout`; `None`: as long as it takes) and takes
    /// it (Python's `get(timeout)`).
    ///
    /// # Errors
    ///
    /// The task's error ([`ProcessError::Panicked`] with the message of a panic in the
    /// worker, [`ProcessError::Died`] naming the exit code or signal of a worker that
    /// died running it, ...); [`ProcessError::Timeout`] if it has not arrived within
    /// `timeout` (it can still be waited for); [`ProcessError::InvalidState`] if it was
    /// already taken.
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, ProcessError> {
        if !self.wait(timeout) {
            return Err(ProcessError::timeout(
                "the result of a pool task",
                timeout.unwrap_or_default(),
            ));
        }
        let mut slot = self.lock();
        match &*slot {
            Slot::Ready(result) => {
                let successful = result.is_ok();
                match std::mem::replace(&mut *slot, Slot::Taken { successful }) {
                    Slot::Ready(result) => result,
                    _ => unreachable!("the slot was just seen ready"),
                }
            }
            Slot::Taken { .. } => Err(ProcessError::InvalidState("the result was already taken")),
            Slot::Pending(_) => unreachable!("wait returned true"),
        }
    }
}

/// Where the results of a task's arguments go, by their index in the call.
pub(crate) trait Sink<R>: Send + Sync {
    /// The results of the arguments `first..first + results.len()`.
    fn put(&self, first: usize, results: Vec<Result<R, ProcessError>>);
}

/// One `apply`: the one result goes to its `AsyncResult`.
impl<R: Send> Sink<R> for AsyncResult<R> {
    fn put(&self, _first: usize, results: Vec<Result<R, ProcessError>>) {
        if let Some(result) = results.into_iter().next() {
            self.complete(result);
        }
    }
}

/// A `map`: the values in order, complete when all are in or at the first error (as in
/// Python, whose `map` raises as soon as one chunk failed).
pub(crate) struct MapSink<R> {
    values: Mutex<(Vec<Option<R>>, usize)>,
    result: AsyncResult<Vec<R>>,
}

impl<R> MapSink<R> {
    pub(crate) fn new(len: usize, result: AsyncResult<Vec<R>>) -> Self {
        let mut values = Vec::new();
        values.resize_with(len, || None);
        MapSink {
            values: Mutex::new((values, len)),
            result,
        }
    }
}

impl<R: Send> Sink<R> for MapSink<R> {
    fn put(&self, first: usize, results: Vec<Result<R, ProcessError>>) {
        let mut guard = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let (values, missing) = &mut *guard;
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(value) => {
                    if let Some(slot) = values.get_mut(first + i)
                        && slot.replace(value).is_none()
                    {
                        *missing -= 1;
                    }
                }
                Err(e) => {
                    drop(guard);
                    self.result.complete(Err(e));
                    return;
                }
            }
        }
        if *missing == 0 && !values.is_empty() {
            let values: Vec<R> = std::mem::take(values).into_iter().flatten().collect();
            drop(guard);
            self.result.complete(Ok(values));
        }
    }
}

struct Stream<R> {
    /// Arrived and not yet handed out: by index (ordered) or in arrival order.
    by_index: BTreeMap<usize, Result<R, ProcessError>>,
    arrived: VecDeque<Result<R, ProcessError>>,
    /// Handed out so far.
    taken: usize,
}

/// The items of [`Pool::imap`](crate::Pool::imap) (in the order of the arguments) or
/// [`Pool::imap_unordered`](crate::Pool::imap_unordered) (as they finish), each as it
/// arrives (Python's `IMapIterator`).
///
/// Each item is a `Result`: a task that panicked or whose worker died is an `Err` in its
/// place, and the iteration goes on. [`next_timeout`](Self::next_timeout) bounds the
/// wait for one item.
///
/// # Examples
///
/// ```
/// use conc_process::{Pool, StartMethod};
///
/// let pool = Pool::builder().processes(2).start_method(StartMethod::Fork).build().unwrap();
/// let squares: Vec<u64> = pool
///     .imap(|x: u64| x * x, 1..=5, 1)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(squares, [1, 4, 9, 16, 25]);
/// ```
pub struct IMapIterator<R> {
    shared: Arc<StreamShared<R>>,
}

struct StreamShared<R> {
    ordered: bool,
    len: usize,
    stream: Mutex<Stream<R>>,
    arrived: Condvar,
}

impl<R> fmt::Debug for IMapIterator<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stream = self.lock();
        f.debug_struct("IMapIterator")
            .field("ordered", &self.shared.ordered)
            .field("len", &self.shared.len)
            .field("taken", &stream.taken)
            .finish()
    }
}

impl<R> IMapIterator<R> {
    pub(crate) fn new(len: usize, ordered: bool) -> Self {
        IMapIterator {
            shared: Arc::new(StreamShared {
                ordered,
                len,
                stream: Mutex::new(Stream {
                    by_index: BTreeMap::new(),
                    arrived: VecDeque::new(),
                    taken: 0,
                }),
                arrived: Condvar::new(),
            }),
        }
    }

    /// The sink that feeds this iterator.
    pub(crate) fn sink(&self) -> Arc<dyn Sink<R>>
    where
        R: Send + 'static,
    {
        Arc::new(StreamSink(self.shared.clone()))
    }

    fn lock(&self) -> MutexGuard<'_, Stream<R>> {
        self.shared.stream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next item, waiting at most `timeout` for it (Python's `next(timeout)`);
    /// `None` once every item was handed out.
    ///
    /// # Errors
    ///
    /// `Some(Err(ProcessError::Timeout { .. }))` when no item arrived within `timeout`: the
    /// item is still to come, and a later call returns it. Otherwise an `Err` is that
    /// item's error.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, ProcessError>> {
        self.next_until(sync::deadline_after(timeout))
            .map(|r| r.map_err(|e| e.waited_for("the next result of imap", timeout)))
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<R, ProcessError>> {
        let shared = &self.shared;
        let stream = shared.stream.lock().unwrap_or_else(|e| e.into_inner());
        let ready = |s: &Stream<R>| {
            s.taken >= shared.len
                || if shared.ordered {
                    s.by_index.contains_key(&s.taken)
                } else {
                    !s.arrived.is_empty()
                }
        };
        let (mut stream, arrived) = sync::wait_while_not(&shared.arrived, stream, deadline, ready);
        if !arrived {
            return Some(Err(ProcessError::timed_out()));
        }
        if stream.taken >= shared.len {
            return None;
        }
        let next = if shared.ordered {
            let index = stream.taken;
            stream.by_index.remove(&index)
        } else {
            stream.arrived.pop_front()
        };
        stream.taken += 1;
        next
    }
}

impl<R> Iterator for IMapIterator<R> {
    type Item = Result<R, ProcessError>;

    /// The next item, waiting as long as it takes.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.shared.len - self.lock().taken;
        (left, Some(left))
    }
}

struct StreamSink<R>(Arc<StreamShared<R>>);

impl<R: Send> Sink<R> for StreamSink<R> {
    fn put(&self, first: usize, results: Vec<Result<R, ProcessError>>) {
        let mut stream = self.0.stream.lock().unwrap_or_else(|e| e.into_inner());
        for (i, result) in results.into_iter().enumerate() {
            if self.0.ordered {
                stream.by_index.insert(first + i, result);
            } else {
                stream.arrived.push_back(result);
            }
        }
        self.0.arrived.notify_all();
    }
}
