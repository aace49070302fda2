//! `Future<T>`: the one completion cell every executor of this crate hands out.
//!
//! A shared cell with Python's states (pending → running → finished, or pending →
//! cancelled), a condition variable for blocking waiters, done-callbacks, the waiters
//! registered by [`wait`](crate::wait) and [`as_completed`](crate::as_completed), and
//! the `Waker`s of async tasks awaiting it. Every transition to a final state goes
//! through `Future::complete`, which wakes all four kinds of waiter, so none can be
//! forgotten (CPython's `cancel()` forgets `wait`/`as_completed`; this one does not).
//! A task submitted to an executor lives in the same cell until it runs (`fused`), and
//! [`settle`] is how every executor runs, cancels or fails a job's future.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::FutureError;
use crate::waiter::Waiter;

/// The state of a [`Future`], as in Python's `concurrent.futures`.
///
/// # Examples
///
/// ```
/// use conc_futures::{Future, State};
///
/// let f: Future<u8> = Future::new();
/// assert_eq!(f.state(), State::Pending);
/// f.set_running_or_notify_cancel().unwrap();
/// assert_eq!(f.state(), State::Running);
/// f.set_result(1).unwrap();
/// assert_eq!(f.state(), State::Finished);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Submitted, not started; the only state [`Future::cancel`] can leave.
    Pending,
    /// A worker is running the task.
    Running,
    /// Cancelled before it ran.
    Cancelled,
    /// Done: a value or an error is (or was) available.
    Finished,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Pending,
            1 => State::Running,
            2 => State::Cancelled,
            _ => State::Finished,
        }
    }

    fn is_final(self) -> bool {
        matches!(self, State::Cancelled | State::Finished)
    }
}

enum Outcome<T> {
    None,
    Value(T),
    /// Boxed so the cell stays small: errors are the rare case.
    Error(Box<FutureError>),
    /// The value was moved out by [`Future::take`] or `.await`.
    Taken,
}

type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send>;

/// Everything that wants to hear about completion, in one list to keep the cell small.
enum Listener<T> {
    Callback(Callback<T>),
    Waiter(Arc<Waiter>),
    Waker(Waker),
}

struct Inner<T> {
    outcome: Outcome<T>,
    listeners: Vec<Listener<T>>,
    /// Threads blocked on `done`: completion notifies only when there are some
    /// (a `std` condvar makes a system call on every notify).
    sleepers: u32,
}

impl<T> Inner<T> {
    /// Adds `waker` unless it would wake the same task as one already registered.
    fn register_waker(&mut self, waker: &Waker) {
        let known = self
            .listeners
            .iter()
            .any(|l| matches!(l, Listener::Waker(w) if w.will_wake(waker)));
        if !known {
            self.listeners.push(Listener::Waker(waker.clone()));
        }
    }

    /// Removes the wakers that would wake the same task as `waker`.
    fn remove_waker(&mut self, waker: &Waker) {
        self.listeners
            .retain(|l| !matches!(l, Listener::Waker(w) if w.will_wake(waker)));
    }
}

/// The cell. `state` is atomic so the running transition and state queries need no
/// lock; every move to a final state still happens under `inner`'s lock, which is what
/// blocked waiters re-check it under.
///
/// `slot` is what the cell carries beside its outcome: nothing (`()`) for a future
/// made by [`Future::new`], the task itself for a job fused into its future
/// ([`Future::fused`]), so that submitting a task costs one allocation, and the cell
/// is freed by whoever drops the last handle, usually the thread that submitted it,
/// instead of a box allocated by one thread and freed by another. A [`Future`] sees
/// the slot only as `dyn Slot`.
pub(crate) struct Shared<T, S: ?Sized = dyn Slot> {
    state: AtomicU8,
    inner: Mutex<Inner<T>>,
    done: Condvar,
    slot: S,
}

impl<T, S: ?Sized> Shared<T, S> {
    /// Locks the cell. Nothing panics while holding the lock in a way that leaves it
    /// inconsistent (callbacks and wakers run outside it), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What an executor does with a job's future (see [`settle`]).
pub(crate) enum Action {
    Run,
    Cancel,
    Fail(FutureError),
}

/// Does `action` to `future`: cancels it, fails it, or runs `task` and completes it
/// with the value, or with [`FutureError::Panicked`] if the task panics.
pub(crate) fn settle<T>(future: &Future<T>, action: Action, task: impl FnOnce() -> T) {
    match action {
        Action::Cancel => {
            future.cancel();
        }
        Action::Fail(error) => {
            let _ = future.set_error(error);
        }
        Action::Run => {
            if future.set_running_or_notify_cancel() != Ok(true) {
                return;
            }
            let _ = match catch_unwind(AssertUnwindSafe(task)) {
                Ok(value) => future.set_result(value),
                Err(payload) => future.set_error(FutureError::Panicked {
                    message: conc_thread::panic_message(&*payload),
                }),
            };
        }
    }
}

/// A wait's end: the deadline and the timeout it was counted from (for the error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    deadline: Instant,
    after: Duration,
}

impl Limit {
    /// The timeout error of a wait that reached this limit.
    fn expired(self) -> FutureError {
        FutureError::timeout(self.after)
    }
}

/// A limit `timeout` from now; `None` for a timeout too long to represent (no limit).
pub(crate) fn limit(timeout: Duration) -> Option<Limit> {
    Instant::now().checked_add(timeout).map(|deadline| Limit {
        deadline,
        after: timeout,
    })
}

/// Anything a cell may carry in its slot.
pub(crate) trait Slot: Send + Sync {}

impl<S: Send + Sync> Slot for S {}

/// The slot of a fused job: its task until a worker takes it (or it is cancelled).
struct TaskSlot<F>(Mutex<Option<F>>);

/// A task fused into its future's cell, as a job holds it.
pub(crate) trait FusedTask: Send + Sync {
    /// Takes the task out of the cell and does `action` with it.
    fn act(self: Arc<Self>, action: Action);
}

impl<T, F> FusedTask for Shared<T, TaskSlot<F>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    fn act(self: Arc<Self>, action: Action) {
        let task = self
            .slot
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let future = Future { shared: self };
        if let Some(task) = task {
            settle(&future, action, task);
        }
    }
}

/// A pending cell carrying `slot`.
fn cell<T, S>(slot: S) -> Shared<T, S> {
    Shared {
        state: AtomicU8::new(State::Pending as u8),
        inner: Mutex::new(Inner {
            outcome: Outcome::None,
            listeners: Vec::new(),
            sleepers: 0,
        }),
        done: Condvar::new(),
        slot,
    }
}

/// The eventual result of a task, like Python's `concurrent.futures.Future`.
///
/// A `Future` is a cheap handle: clones refer to the same task. Block for the value
/// with [`result`](Future::result) (needs `T: Clone`, and can be asked again) or
/// [`take`](Future::take) (moves the value out, once); register callbacks; cancel it
/// while pending; pass it to [`wait`](crate::wait) or [`as_completed`](crate::as_completed);
/// or `.await` it from any async runtime.
///
/// Executors create futures and complete them with the producer-side methods
/// ([`set_running_or_notify_cancel`](Future::set_running_or_notify_cancel),
/// [`set_result`](Future::set_result), [`set_error`](Future::set_error)), which are
/// public, as in Python, for custom executors and tests.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| 6 * 7).unwrap();
/// f.add_done_callback(|f| println!("done: {:?}", f.result()));
/// assert_eq!(f.result(), Ok(42));
/// assert!(f.done());
/// ```
pub struct Future<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

/// Futures compare and hash by identity (the task), so they can key a map like
/// Python's `{executor.submit(fn, url): url}`. Clippy's `mutable_key_type` lint flags
/// such maps because a `Future` holds a mutex; the identity never changes, so allow
/// the lint there or list `conc_futures::Future` under `ignore-interior-mutability` in
/// `clippy.toml`.
impl<T> PartialEq for Future<T> {
    /// Two handles are equal when they refer to the same task.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Eq for Future<T> {}

impl<T> std::hash::Hash for Future<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl<T> Future<T> {
    /// A pending future with no task behind it yet: for executor implementations and
    /// tests (Python: `Future()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::<u8>::new();
    /// assert!(!f.done());
    /// ```
    pub fn new() -> Self {
        Future {
            shared: Arc::new(cell::<T, ()>(())),
        }
    }

    /// A pending future with `task` fused into its cell, and the handle a job runs it
    /// through: one allocation for both.
    pub(crate) fn fused<F>(task: F) -> (Future<T>, Arc<dyn FusedTask>)
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let shared = Arc::new(cell::<T, _>(TaskSlot(Mutex::new(Some(task)))));
        (
            Future {
                shared: shared.clone(),
            },
            shared,
        )
    }

    /// Identity of the task, for deduplication in `wait` and `as_completed`.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.shared).cast::<()>() as usize
    }

    /// The current state.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Future, State};
    ///
    /// let f = Future::<u8>::new();
    /// f.cancel();
    /// assert_eq!(f.state(), State::Cancelled);
    /// ```
    pub fn state(&self) -> State {
        State::from_u8(self.shared.state.load(Ordering::Acquire))
    }

    /// Whether the task is running now (Python: `running()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::<u8>::new();
    /// f.set_running_or_notify_cancel().unwrap();
    /// assert!(f.running());
    /// ```
    pub fn running(&self) -> bool {
        self.state() == State::Running
    }

    /// Whether the future was cancelled (Python: `cancelled()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::<u8>::new();
    /// assert!(f.cancel());
    /// assert!(f.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.state() == State::Cancelled
    }

    /// Whether the future is finished or cancelled (Python: `done()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::new();
    /// f.set_result("x").unwrap();
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        matches!(self.state(), State::Finished | State::Cancelled)
    }

    /// Cancels the task if it has not started; returns whether the future is now
    /// cancelled (Python: `cancel()`). A running or finished task cannot be cancelled.
    ///
    /// Cancelling wakes every blocked `result`, `wait`, `as_completed` and `.await` at
    /// once, and runs the done-callbacks.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Future, FutureError};
    ///
    /// let f = Future::<u8>::new();
    /// assert!(f.cancel());
    /// assert_eq!(f.take(), Err(FutureError::Cancelled));
    ///
    /// let running = Future::<u8>::new();
    /// running.set_running_or_notify_cancel().unwrap();
    /// assert!(!running.cancel());
    /// ```
    pub fn cancel(&self) -> bool {
        let inner = self.shared.lock();
        // Races only with the lock-free pending → running move; the exchange decides.
        match self.shared.state.compare_exchange(
            State::Pending as u8,
            State::Cancelled as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.complete(inner, Outcome::None);
                true
            }
            Err(now) => State::from_u8(now) == State::Cancelled,
        }
    }

    /// Marks the future as running, or reports that it was cancelled (Python:
    /// `set_running_or_notify_cancel()`). Executors call this just before running the
    /// task: `Ok(false)` means "cancelled, do not run it".
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidState`] if the future is already running or finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::<u8>::new();
    /// assert_eq!(f.set_running_or_notify_cancel(), Ok(true));
    /// assert!(f.set_running_or_notify_cancel().is_err());
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> Result<bool, FutureError> {
        match self.shared.state.compare_exchange(
            State::Pending as u8,
            State::Running as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(true),
            Err(now) => match State::from_u8(now) {
                State::Cancelled => Ok(false),
                _ => Err(FutureError::InvalidState(
                    "set_running_or_notify_cancel on a running or finished future",
                )),
            },
        }
    }

    /// Completes the future with a value (Python: `set_result`).
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidState`] if the future is already finished or cancelled
    /// (the value is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::new();
    /// f.set_result(1).unwrap();
    /// assert!(f.set_result(2).is_err());
    /// assert_eq!(f.result(), Ok(1));
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), FutureError> {
        self.finish(Outcome::Value(value))
    }

    /// Completes the future with an error (Python: `set_exception`); executors use
    /// [`FutureError::Panicked`] for a task that panicked.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidState`] if the future is already finished or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::{Future, FutureError};
    ///
    /// let f = Future::<u8>::new();
    /// f.set_error(FutureError::Panicked { message: "bad".into() }).unwrap();
    /// assert_eq!(f.exception(), Ok(Some(FutureError::Panicked { message: "bad".into() })));
    /// ```
    pub fn set_error(&self, error: FutureError) -> Result<(), FutureError> {
        self.finish(Outcome::Error(Box::new(error)))
    }

    fn finish(&self, outcome: Outcome<T>) -> Result<(), FutureError> {
        let inner = self.shared.lock();
        // Under the lock no other thread can reach a final state; only pending →
        // running may happen concurrently, which the exchange loop absorbs.
        let mut current = self.shared.state.load(Ordering::Acquire);
        loop {
            if State::from_u8(current).is_final() {
                return Err(FutureError::InvalidState(
                    "the future is already finished or cancelled",
                ));
            }
            match self.shared.state.compare_exchange(
                current,
                State::Finished as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.complete(inner, outcome);
        Ok(())
    }

    /// The one path to a final state, entered with the lock held and the final state
    /// already stored: records the outcome, then wakes blocked threads, registered
    /// waiters, async tasks and callbacks (in the order added), the last three outside
    /// the lock.
    fn complete(&self, mut inner: MutexGuard<'_, Inner<T>>, outcome: Outcome<T>) {
        let failed = matches!(outcome, Outcome::Error(_));
        inner.outcome = outcome;
        let listeners = std::mem::take(&mut inner.listeners);
        if inner.sleepers > 0 {
            self.shared.done.notify_all();
        }
        drop(inner);
        if listeners.is_empty() {
            return;
        }
        let mut callbacks = Vec::new();
        for listener in listeners {
            match listener {
                Listener::Waiter(waiter) => waiter.notify(self.key(), failed),
                // A waker is foreign code: one that panics must neither stop the
                // other listeners from being told nor take the completing thread (a
                // pool worker) down.
                Listener::Waker(waker) => {
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                        log::error!(
                            "a waker panicked when its future completed: {}",
                            conc_thread::panic_message(&*payload)
                        );
                    }
                }
                Listener::Callback(callback) => callbacks.push(callback),
            }
        }
        for callback in callbacks {
            self.run_callback(callback);
        }
    }

    fn run_callback(&self, callback: Callback<T>) {
        // Python logs and swallows a callback's exception; so do we, so the remaining
        // callbacks and the worker thread carry on.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(self))) {
            log::error!(
                "exception calling callback for future: {}",
                conc_thread::panic_message(&*payload)
            );
        }
    }

    /// Registers `callback` to run when the future finishes or is cancelled (Python:
    /// `add_done_callback`). Callbacks run in the order added, on the thread that
    /// completes the future; if it is already done, at once on the calling thread. A
    /// panicking callback is reported through the `log` facade (as Python logs it) and
    /// does not stop the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let f = conc_futures::Future::new();
    /// for i in 0..3 {
    ///     let log = log.clone();
    ///     f.add_done_callback(move |_| log.lock().unwrap().push(i));
    /// }
    /// f.set_result(()).unwrap();
    /// assert_eq!(*log.lock().unwrap(), [0, 1, 2]);
    /// ```
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(&Future<T>) + Send + 'static,
    {
        let mut inner = self.shared.lock();
        if self.state().is_final() {
            drop(inner);
            self.run_callback(Box::new(callback));
        } else {
            inner.listeners.push(Listener::Callback(Box::new(callback)));
        }
    }

    /// Blocks until the future is done; `timeout` `None` waits without limit. Returns
    /// whether it is done. Does not take the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let f = conc_futures::Future::<u8>::new();
    /// assert!(!f.wait(Some(Duration::from_millis(5))));
    /// f.cancel();
    /// assert!(f.wait(None));
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.wait_done(deadline).is_some()
    }

    /// Waits for a final state within `limit` and returns the locked inner state.
    ///
    /// # Errors
    ///
    /// [`FutureError::Timeout`] naming the wait and its length.
    fn wait_limited(&self, limit: Option<Limit>) -> Result<MutexGuard<'_, Inner<T>>, FutureError> {
        self.wait_done(limit.map(|l| l.deadline)).ok_or_else(|| {
            limit.map_or_else(|| FutureError::timeout(Duration::ZERO), Limit::expired)
        })
    }

    /// Waits for a final state until `deadline` and returns the locked inner state, or
    /// `None` on timeout.
    fn wait_done(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, Inner<T>>> {
        #[cfg(feature = "coro")]
        if !self.state().is_final() && conc_coro::hub_running() && !self.wait_green(deadline) {
            return None;
        }
        let mut inner = self.shared.lock();
        while !self.state().is_final() {
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return None,
                },
            };
            inner.sleepers += 1;
            inner = match left {
                None => self
                    .shared
                    .done
                    .wait(inner)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.shared
                        .done
                        .wait_timeout(inner, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            inner.sleepers -= 1;
        }
        Some(inner)
    }

    /// Waits for a final state until `deadline` by parking the calling greenlet on its
    /// hub (the thread keeps running the other greenlets); `false` on timeout. Any
    /// other hub error falls back to blocking the thread.
    #[cfg(feature = "coro")]
    fn wait_green(&self, deadline: Option<Instant>) -> bool {
        let registered: std::cell::RefCell<Option<Waker>> = std::cell::RefCell::new(None);
        let done = std::future::poll_fn(|cx| {
            if self.poll_done(cx.waker()) {
                return Poll::Ready(());
            }
            *registered.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        let waited = match deadline {
            None => conc_coro::wait_future(done),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                conc_coro::with_timeout(left, || conc_coro::wait_future(done))
            }
        };
        if let Some(waker) = registered.take()
            && !self.state().is_final()
        {
            self.forget_waker(&waker);
        }
        match waited {
            Ok(()) => true,
            Err(conc_coro::HubError::Timeout { .. }) => self.state().is_final(),
            // Not parkable after all (a greenlet being killed, ...): block instead.
            Err(_) => true,
        }
    }

    /// Blocks until the future is done and returns a copy of its value (Python:
    /// `result()`); ask as often as you like.
    ///
    /// # Errors
    ///
    /// [`FutureError::Cancelled`], the task's error (such as
    /// [`FutureError::Panicked`]), or [`FutureError::InvalidState`] if the value was
    /// moved out by [`take`](Future::take) or `.await`.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::new();
    /// f.set_result(String::from("hi")).unwrap();
    /// assert_eq!(f.result().unwrap(), "hi");
    /// assert_eq!(f.result().unwrap(), "hi");
    /// ```
    pub fn result(&self) -> Result<T, FutureError>
    where
        T: Clone,
    {
        self.result_until(None)
    }

    /// Like [`result`](Future::result), waiting at most `timeout` (Python:
    /// `result(timeout)`).
    ///
    /// # Errors
    ///
    /// [`FutureError::Timeout`] if the future is not done in time (it keeps going), and
    /// the errors of `result`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_futures::{Future, FutureError};
    ///
    /// let f = Future::<u8>::new();
    /// let late = f.result_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(late, FutureError::Timeout { .. }));
    /// assert_eq!(late.to_string(), "timed out after 5ms waiting for the result of a future");
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, FutureError>
    where
        T: Clone,
    {
        self.result_until(limit(timeout))
    }

    fn result_until(&self, limit: Option<Limit>) -> Result<T, FutureError>
    where
        T: Clone,
    {
        let inner = self.wait_limited(limit)?;
        match &inner.outcome {
            Outcome::Value(value) => Ok(value.clone()),
            other => Err(Self::no_value(self.state(), other)),
        }
    }

    /// Blocks until the future is done and moves its value out, for values that are not
    /// `Clone` or too big to copy. Later calls (and `result`) report
    /// [`FutureError::InvalidState`].
    ///
    /// # Errors
    ///
    /// As for [`result`](Future::result).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_futures::FutureError;
    ///
    /// let f = conc_futures::Future::new();
    /// f.set_result(vec![1, 2, 3]).unwrap();
    /// assert_eq!(f.take(), Ok(vec![1, 2, 3]));
    /// assert!(matches!(f.take(), Err(FutureError::InvalidState(_))));
    /// ```
    pub fn take(&self) -> Result<T, FutureError> {
        self.take_until(None)
    }

    /// Like [`take`](Future::take), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`FutureError::Timeout`], and the errors of `take`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let f = conc_futures::Future::new();
    /// f.set_result(5).unwrap();
    /// assert_eq!(f.take_timeout(Duration::from_secs(1)), Ok(5));
    /// ```
    pub fn take_timeout(&self, timeout: Duration) -> Result<T, FutureError> {
        self.take_until(limit(timeout))
    }

    pub(crate) fn take_until(&self, limit: Option<Limit>) -> Result<T, FutureError> {
        let mut inner = self.wait_limited(limit)?;
        Self::take_outcome(&mut inner, self.state())
    }

    fn take_outcome(inner: &mut Inner<T>, state: State) -> Result<T, FutureError> {
        match std::mem::replace(&mut inner.outcome, Outcome::Taken) {
            Outcome::Value(value) => Ok(value),
            other => {
                let error = Self::no_value(state, &other);
                inner.outcome = other;
                Err(error)
            }
        }
    }

    fn no_value(state: State, outcome: &Outcome<T>) -> FutureError {
        match (state, outcome) {
            (State::Cancelled, _) => FutureError::Cancelled,
            (_, Outcome::Error(error)) => (**error).clone(),
            (_, Outcome::Taken) => FutureError::InvalidState("the result was already taken"),
            _ => FutureError::InvalidState("the future has no outcome"),
        }
    }

    /// Blocks until the future is done and returns its error, or `None` if it
    /// succeeded (Python: `exception()`).
    ///
    /// # Errors
    ///
    /// [`FutureError::Cancelled`] if the future was cancelled, as Python raises
    /// `CancelledError`.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = conc_futures::Future::new();
    /// f.set_result(1).unwrap();
    /// assert_eq!(f.exception(), Ok(None));
    /// ```
    pub fn exception(&self) -> Result<Option<FutureError>, FutureError> {
        self.exception_until(None)
    }

    /// Like [`exception`](Future::exception), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`FutureError::Timeout`], and the errors of `exception`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_futures::FutureError;
    ///
    /// let f = conc_futures::Future::<u8>::new();
    /// assert!(matches!(f.exception_timeout(Duration::from_millis(1)), Err(FutureError::Timeout { .. })));
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<FutureError>, FutureError> {
        self.exception_until(limit(timeout))
    }

    fn exception_until(&self, limit: Option<Limit>) -> Result<Option<FutureError>, FutureError> {
        let inner = self.wait_limited(limit)?;
        match (self.state(), &inner.outcome) {
            (State::Cancelled, _) => Err(FutureError::Cancelled),
            (_, Outcome::Error(error)) => Ok(Some((**error).clone())),
            _ => Ok(None),
        }
    }

    /// Registers a waiter of `wait`/`as_completed`; if the future is already done the
    /// waiter is notified at once. Returns nothing: the waiter learns either way.
    pub(crate) fn add_waiter(&self, waiter: &Arc<Waiter>) {
        let mut inner = self.shared.lock();
        if self.state().is_final() {
            let failed = matches!(inner.outcome, Outcome::Error(_));
            drop(inner);
            waiter.notify(self.key(), failed);
        } else {
            inner.listeners.push(Listener::Waiter(waiter.clone()));
        }
    }

    pub(crate) fn remove_waiter(&self, waiter: &Arc<Waiter>) {
        self.shared
            .lock()
            .listeners
            .retain(|l| !matches!(l, Listener::Waiter(w) if Arc::ptr_eq(w, waiter)));
    }

    /// Whether the future is done; if not, `waker` is woken when it is. Used by async
    /// waits that must not take the value.
    pub(crate) fn poll_done(&self, waker: &Waker) -> bool {
        let mut inner = self.shared.lock();
        if self.state().is_final() {
            return true;
        }
        inner.register_waker(waker);
        false
    }

    /// Takes back a waker registered by [`poll_done`](Self::poll_done) or an
    /// [`Awaiting`], when whoever polled stops waiting (a dropped `.await`).
    pub(crate) fn forget_waker(&self, waker: &Waker) {
        self.shared.lock().remove_waker(waker);
    }

    /// Whether the future finished with an error (not a cancellation).
    pub(crate) fn failed(&self) -> bool {
        matches!(self.shared.lock().outcome, Outcome::Error(_))
    }
}

/// Python's `repr(future)`: `<Future at 0x7f.. state=running>`.
///
/// ```
/// let f = conc_futures::Future::<u8>::new();
/// assert!(f.to_string().ends_with("state=pending>"));
/// ```
impl<T> std::fmt::Display for Future<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state() {
            State::Pending => "pending",
            State::Running => "running",
            State::Cancelled => "cancelled",
            State::Finished => "finished",
        };
        write!(f, "<Future at {:#x} state={state}>", self.key())
    }
}

impl<T> std::fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Future")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// `.await` a conc future from any async runtime: the output is the value (moved out,
/// as with [`Future::take`]) or the error.
///
/// Dropping the `.await` (for example on a `select!` timeout) does not cancel the task;
/// call [`Future::cancel`] for that.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| 2 + 2).unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// assert_eq!(rt.block_on(async { f.await }), Ok(4));
/// ```
impl<T> std::future::IntoFuture for Future<T> {
    type Output = Result<T, FutureError>;
    type IntoFuture = Awaiting<T>;

    fn into_future(self) -> Awaiting<T> {
        Awaiting {
            future: self,
            registered: None,
        }
    }
}

/// The `std::future::Future` that awaits a conc [`Future`]; made by `.await` or
/// [`IntoFuture::into_future`].
///
/// # Examples
///
/// ```
/// use std::future::IntoFuture;
///
/// let f = conc_futures::Future::new();
/// f.set_result('x').unwrap();
/// let awaiting: conc_futures::Awaiting<char> = f.into_future();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// assert_eq!(rt.block_on(awaiting), Ok('x'));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Awaiting<T> {
    future: Future<T>,
    /// The waker last registered, taken back if this is dropped before the end.
    registered: Option<Waker>,
}

impl<T> std::future::Future for Awaiting<T> {
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut inner = this.future.shared.lock();
        let state = this.future.state();
        if state.is_final() {
            this.registered = None;
            return Poll::Ready(Future::take_outcome(&mut inner, state));
        }
        // Registered under the same lock `complete` takes the listeners under: a
        // completion either happened before (seen above) or will wake this waker.
        if let Some(old) = &this.registered
            && !old.will_wake(cx.waker())
        {
            inner.remove_waker(old);
        }
        inner.register_waker(cx.waker());
        drop(inner);
        this.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Awaiting<T> {
    /// An `.await` abandoned before the end (a timeout, a `select!`) takes its waker
    /// back, so a long-lived future does not collect wakers of tasks long gone.
    fn drop(&mut self) {
        if let Some(waker) = self.registered.take() {
            self.future.forget_waker(&waker);
        }
    }
}

impl<T> Unpin for Awaiting<T> {}

impl<T> std::fmt::Debug for Awaiting<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Awaiting")
            .field("future", &self.future)
            .finish()
    }
}
