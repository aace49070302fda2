//! The three ways to start a child, and the process-wide default.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ProcessError;

/// How a child process is created (Python's start methods).
///
/// | method | how | closures | needs [`init`](crate::init) | cost |
/// | --- | --- | --- | --- | --- |
/// | [`Fork`](Self::Fork) | `fork()` of this process | may capture anything `Send` | no | fastest |
/// | [`Spawn`](Self::Spawn) | re-executes this program, which runs the function from `init()` | named functions only | yes | an `exec` and program start-up |
/// | [`Forkserver`](Self::Forkserver) | a single-threaded server, forked by `init()` before any thread exists, forks the child | named functions only | yes | one fork, by the server |
///
/// **The default is `Forkserver`**, as in Python 3.14 on Linux. `Fork` copies a process
/// whose other threads may hold locks (the allocator's, stdout's, any `Mutex`) at the
/// instant of the fork; in the child those threads are gone and their locks stay locked
/// forever, so the child can deadlock. The server is forked while the program is still
/// single-threaded, so its children start clean, and it costs only a fork. `Spawn` is
/// equally safe but pays for a whole program start. Choose `Fork` when the parent is
/// single-threaded or the child needs a capturing closure; conc-process then prints a
/// one-time warning if other threads were running (Python 3.12 warns the same way).
///
/// # Examples
///
/// ```
/// use conc_process::StartMethod;
///
/// let m: StartMethod = "spawn".parse().unwrap();
/// assert_eq!(m, StartMethod::Spawn);
/// assert_eq!(m.to_string(), "spawn");
/// assert_eq!(StartMethod::all(), [StartMethod::Fork, StartMethod::Spawn, StartMethod::Forkserver]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// `fork()` this process; the child starts with a copy of its memory.
    Fork,
    /// Start this program afresh; [`init`](crate::init) runs the function.
    Spawn,
    /// Ask the fork server started by [`init`](crate::init) to fork the child.
    Forkserver,
}

impl StartMethod {
    /// Every start method, in Python's order of `get_all_start_methods()` on Linux.
    pub fn all() -> [StartMethod; 3] {
        [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ]
    }

    /// The method's Python name: `"fork"`, `"spawn"` or `"forkserver"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            StartMethod::Fork => 1,
            StartMethod::Spawn => 2,
            StartMethod::Forkserver => 3,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(StartMethod::Fork),
            2 => Some(StartMethod::Spawn),
            3 => Some(StartMethod::Forkserver),
            _ => None,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartMethod {
    type Err = ProcessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StartMethod::all()
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| ProcessError::InvalidArgument(format!("cannot find context for {s:?}")))
    }
}

/// 0 = not chosen yet (the default applies).
static DEFAULT: AtomicU8 = AtomicU8::new(0);

/// Sets the start method used by [`Process`](crate::Process)es that do not choose one
/// (Python's `multiprocessing.set_start_method`).
///
/// Like Python, it may be set once; `force = true` replaces an earlier choice.
///
/// # Errors
///
/// [`ProcessError::InvalidState`] when a method was already set and `force` is false
/// (Python: `RuntimeError('context has already been set')`).
///
/// # Examples
///
/// ```
/// use conc_process::{get_start_method, set_start_method, StartMethod};
///
/// set_start_method(StartMethod::Fork, false).unwrap();
/// assert_eq!(get_start_method(), StartMethod::Fork);
/// assert!(set_start_method(StartMethod::Spawn, false).is_err());
/// set_start_method(StartMethod::Spawn, true).unwrap();
/// assert_eq!(get_start_method(), StartMethod::Spawn);
/// ```
pub fn set_start_method(method: StartMethod, force: bool) -> Result<(), ProcessError> {
    if force {
        DEFAULT.store(method.to_u8(), Ordering::SeqCst);
        return Ok(());
    }
    DEFAULT
        .compare_exchange(0, method.to_u8(), Ordering::SeqCst, Ordering::SeqCst)
        .map(drop)
        .map_err(|_| ProcessError::InvalidState("context has already been set"))
}

/// The start method used when a [`Process`](crate::Process) does not choose one:
/// the one given to [`set_start_method`], else [`StartMethod::Forkserver`].
///
/// # Examples
///
/// ```
/// assert_eq!(conc_process::get_start_method(), conc_process::StartMethod::Forkserver);
/// ```
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(DEFAULT.load(Ordering::SeqCst)).unwrap_or(StartMethod::Forkserver)
}

/// Python's `multiprocessing.get_context(method)`: a handle that starts processes with
/// one start method, whatever the process-wide default.
///
/// # Examples
///
/// ```standalone_crate
/// use conc_process::{get_context, StartMethod};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     conc_process::init();
///     let ctx = get_context(StartMethod::Spawn);
///     let p = ctx.process(square, 7);
///     p.start().unwrap();
///     assert_eq!(p.result().unwrap(), 49);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

/// A [`Context`] for `method` (Python's `multiprocessing.get_context`).
///
/// # Examples
///
/// ```
/// use conc_process::{get_context, StartMethod};
///
/// assert_eq!(get_context(StartMethod::Fork).start_method(), StartMethod::Fork);
/// ```
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

impl Context {
    /// The start method of this context.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A [`Process`](crate::Process) that will run `func(args)` with this context's
    /// start method.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{get_context, StartMethod};
    ///
    /// fn double(x: i32) -> i32 {
    ///     x * 2
    /// }
    ///
    /// let p = get_context(StartMethod::Fork).process(double, 21);
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 42);
    /// ```
    pub fn process<A, R>(&self, func: fn(A) -> R, args: A) -> crate::Process<R>
    where
        A: Serialize + for<'de> Deserialize<'de> + Send + 'static,
        R: Serialize + for<'de> Deserialize<'de> + Send + 'static,
    {
        crate::Process::new(func, args).start_method(self.method)
    }

    /// A [`Process`](crate::Process) running a closure; only the `fork` method can run
    /// one (see [`Process::from_closure`](crate::Process::from_closure)).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{get_context, StartMethod};
    ///
    /// let greeting = String::from("hello");
    /// let p = get_context(StartMethod::Fork).closure(move || greeting.len());
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 5);
    /// ```
    pub fn closure<F, R>(&self, f: F) -> crate::Process<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Serialize + for<'de> Deserialize<'de> + Send + 'static,
    {
        crate::Process::from_closure(f).start_method(self.method)
    }

    /// A pair of connected [`Connection`](crate::Connection)s (Python's `ctx.Pipe()`):
    /// as [`pipe`](crate::pipe). Every object a context makes works with children of
    /// every start method; a context only decides how its processes start.
    ///
    /// # Errors
    ///
    /// As for [`pipe`](crate::pipe).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{get_context, StartMethod};
    ///
    /// let ctx = get_context(StartMethod::Fork);
    /// let (a, b) = ctx.pipe::<u8>(true).unwrap();
    /// a.send(1).unwrap();
    /// assert_eq!(b.recv(), Ok(1));
    /// ```
    pub fn pipe<T>(
        &self,
        duplex: bool,
    ) -> Result<(crate::Connection<T>, crate::Connection<T>), ProcessError>
    where
        T: Serialize + DeserializeOwned,
    {
        crate::pipe(duplex)
    }

    /// A [`Queue`](crate::Queue) of at most `maxsize` items, 0 for unbounded (Python's
    /// `ctx.Queue(maxsize)`).
    ///
    /// # Errors
    ///
    /// As for [`Queue::new`](crate::Queue::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{get_context, StartMethod};
    ///
    /// let q = get_context(StartMethod::Spawn).queue::<String>(0).unwrap();
    /// q.put("item".to_owned()).unwrap();
    /// assert_eq!(q.get().unwrap(), "item");
    /// ```
    pub fn queue<T>(&self, maxsize: usize) -> Result<crate::Queue<T>, ProcessError>
    where
        T: Serialize + DeserializeOwned,
    {
        crate::Queue::new(maxsize)
    }

    /// A [`JoinableQueue`](crate::JoinableQueue) (Python's `ctx.JoinableQueue(maxsize)`).
    ///
    /// # Errors
    ///
    /// As for [`JoinableQueue::new`](crate::JoinableQueue::new).
    pub fn joinable_queue<T>(&self, maxsize: usize) -> Result<crate::JoinableQueue<T>, ProcessError>
    where
        T: Serialize + DeserializeOwned,
    {
        crate::JoinableQueue::new(maxsize)
    }

    /// A [`SimpleQueue`](crate::SimpleQueue) (Python's `ctx.SimpleQueue()`).
    ///
    /// # Errors
    ///
    /// As for [`SimpleQueue::new`](crate::SimpleQueue::new).
    pub fn simple_queue<T>(&self) -> Result<crate::SimpleQueue<T>, ProcessError>
    where
        T: Serialize + DeserializeOwned,
    {
        crate::SimpleQueue::new()
    }

    /// A [`Lock`](crate::Lock) (Python's `ctx.Lock()`).
    ///
    /// # Errors
    ///
    /// As for [`Lock::try_new`](crate::Lock::try_new).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = conc_process::get_context(conc_process::StartMethod::Fork).lock().unwrap();
    /// assert!(!lock.locked());
    /// ```
    pub fn lock(&self) -> Result<crate::Lock, ProcessError> {
        crate::Lock::try_new()
    }

    /// An [`RLock`](crate::RLock) (Python's `ctx.RLock()`).
    ///
    /// # Errors
    ///
    /// As for [`RLock::try_new`](crate::RLock::try_new).
    pub fn rlock(&self) -> Result<crate::RLock, ProcessError> {
        crate::RLock::try_new()
    }

    /// A [`Semaphore`](crate::Semaphore) starting at `value` (Python's
    /// `ctx.Semaphore(value)`).
    ///
    /// # Errors
    ///
    /// As for [`Semaphore::try_new`](crate::Semaphore::try_new).
    pub fn semaphore(&self, value: usize) -> Result<crate::Semaphore, ProcessError> {
        crate::Semaphore::try_new(value)
    }

    /// A [`BoundedSemaphore`](crate::BoundedSemaphore) (Python's
    /// `ctx.BoundedSemaphore(value)`).
    ///
    /// # Errors
    ///
    /// As for [`BoundedSemaphore::try_new`](crate::BoundedSemaphore::try_new).
    pub fn bounded_semaphore(&self, value: usize) -> Result<crate::BoundedSemaphore, ProcessError> {
        crate::BoundedSemaphore::try_new(value)
    }

    /// An [`Event`](crate::Event) (Python's `ctx.Event()`).
    ///
    /// # Errors
    ///
    /// As for [`Event::try_new`](crate::Event::try_new).
    pub fn event(&self) -> Result<crate::Event, ProcessError> {
        crate::Event::try_new()
    }

    /// A [`Condition`](crate::Condition) over a new `RLock` (Python's `ctx.Condition()`).
    ///
    /// # Errors
    ///
    /// As for [`Condition::try_new`](crate::Condition::try_new).
    pub fn condition(&self) -> Result<crate::Condition, ProcessError> {
        crate::Condition::try_new()
    }

    /// A [`Barrier`](crate::Barrier) for `parties` processes (Python's
    /// `ctx.Barrier(parties)`).
    ///
    /// # Errors
    ///
    /// As for [`Barrier::new`](crate::Barrier::new).
    pub fn barrier(&self, parties: usize) -> Result<crate::Barrier, ProcessError> {
        crate::Barrier::new(parties)
    }

    /// A shared [`Value`](crate::Value) with its lock (Python's `ctx.Value(type, v)`).
    ///
    /// # Errors
    ///
    /// As for [`Value::try_new`](crate::Value::try_new).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_process::get_context(conc_process::StartMethod::Fork).value(1.5f64).unwrap();
    /// assert_eq!(v.get(), Ok(1.5));
    /// ```
    pub fn value<T: crate::Pod>(&self, value: T) -> Result<crate::Value<T>, ProcessError> {
        crate::Value::try_new(value)
    }

    /// A shared [`Array`](crate::Array) holding a copy of `values` (Python's
    /// `ctx.Array(type, values)`).
    ///
    /// # Errors
    ///
    /// As for [`Array::try_new`](crate::Array::try_new).
    pub fn array<T: crate::Pod>(&self, values: &[T]) -> Result<crate::Array<T>, ProcessError> {
        crate::Array::try_new(values)
    }
}
