//! The crate's error type: one variant per outcome Python's `concurrent.futures` tells
//! apart (`CancelledError`, `TimeoutError`, an exception from the task,
//! `BrokenExecutor`, `RuntimeError` after shutdown, `InvalidStateError`).

/// Why a future gave no value, or why an executor refused work.
///
/// # Examples
///
/// ```
/// use conc_futures::{Executor, FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| -> u32 { panic!("division by zero") }).unwrap();
/// match f.result() {
///     Err(FutureError::Panicked { message }) => assert_eq!(message, "division by zero"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FutureError {
    /// The future was cancelled before it ran (Python: `CancelledError`).
    #[error("the future was cancelled")]
    Cancelled,
    /// The wait for a result ran out of time (Python: `TimeoutError`). The future keeps
    /// running; ask again later. The message names what was waited for and how long.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the wait was for (`"the result of a future"`).
        waiting_for: String,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// `as_completed`, `wait` or `map` ran out of time with futures still unfinished
    /// (Python: `TimeoutError("N (of M) futures unfinished")`).
    #[error("{unfinished} (of {total}) futures unfinished")]
    Unfinished {
        /// Futures not done when time ran out.
        unfinished: usize,
        /// Futures waited for.
        total: usize,
    },
    /// The task panicked; the panic message is kept (Python: the task's exception).
    #[error("task panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The worker process running the task died (killed by a signal, `exit`, abort,
    /// out of memory); the message names the exit code or the signal. The pool
    /// replaced the worker and carries on (Python breaks the whole pool instead).
    #[error("the worker running the task died: {message}")]
    WorkerDied {
        /// What happened to the worker.
        message: String,
    },
    /// The task's argument or result could not cross to or from the worker process
    /// (serde), with why.
    #[error("the task could not cross to or from its worker: {0}")]
    Transport(String),
    /// The executor can no longer run tasks, for example because a worker's initializer
    /// panicked (Python: `BrokenThreadPool` / `BrokenProcessPool`).
    #[error("executor is broken: {0}")]
    BrokenExecutor(String),
    /// Work was submitted after `shutdown` (Python: `RuntimeError("cannot schedule new
    /// futures after shutdown")`).
    #[error("cannot schedule new futures after shutdown")]
    ShutDown,
    /// The call does not fit the future's state, such as setting a result twice or
    /// taking a value already taken (Python: `InvalidStateError`).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// An argument is out of range, such as `max_workers == 0` (Python: `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl FutureError {
    /// A wait for a future's result that gave up after `after`.
    pub(crate) fn timeout(after: std::time::Duration) -> FutureError {
        FutureError::Timeout {
            waiting_for: "the result of a future".into(),
            after,
        }
    }
}
