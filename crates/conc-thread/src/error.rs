//! The crate's error types, one variant per distinction Python's `threading` and `queue`
//! make (`RuntimeError`, `ValueError`, `BrokenBarrierError`, `queue.Full`, `queue.Empty`,
//! `queue.ShutDown`).

use std::fmt;

/// Errors from threads and synchronization primitives.
///
/// Each variant corresponds to an exception Python raises in the same situation; the
/// docs of every variant name it.
///
/// # Examples
///
/// ```
/// use conc_thread::{Lock, ThreadError};
///
/// let lock = Lock::new();
/// // Python: RuntimeError("release unlocked lock")
/// assert_eq!(lock.release(), Err(ThreadError::ReleaseUnlocked));
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadError {
    /// The thread (or a barrier action, or a timer function) panicked; the payload's
    /// message is kept. Python would propagate the exception to `excepthook`.
    #[error("thread '{thread}' panicked: {message}")]
    Panicked {
        /// Name of the thread that panicked.
        thread: String,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// A timed operation ran out of time before it could complete (for example
    /// [`JoinHandle::join_timeout`](crate::JoinHandle::join_timeout)); the message names
    /// what was waited for and for how long.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the wait was for (`"thread 'worker' to finish"`).
        waiting_for: String,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// The thread's result was already taken by an earlier successful join.
    #[error("thread already joined")]
    AlreadyJoined,
    /// A thread tried to join itself, which would deadlock (Python: `RuntimeError("cannot join current thread")`).
    #[error("cannot join current thread")]
    JoinSelf,

    /// Joined in a child created by `fork()`: the thread belongs to the process it was
    /// started in and does not exist in the child (Python's `join` returns at once
    /// there; there is no value to return here).
    #[error(
        "thread '{thread}' was started by the process this one was forked from: it does not \
         exist here, and has no result to give"
    )]
    NotInThisProcess {
        /// The thread's name.
        thread: String,
    },
    /// The operating system refused to start a thread.
    #[error("failed to spawn thread: {0}")]
    Spawn(String),
    /// `release` on a lock that is not locked (Python: `RuntimeError("release unlocked lock")`).
    #[error("release unlocked lock")]
    ReleaseUnlocked,
    /// `release` of an [`RLock`](crate::RLock) by a thread that does not own it
    /// (Python: `RuntimeError("cannot release un-acquired lock")`).
    #[error("cannot release un-acquired lock")]
    NotOwner,
    /// [`Condition`](crate::Condition) `wait` or `notify` without holding its lock
    /// (Python: `RuntimeError("cannot wait on un-acquired lock")`).
    #[error("cannot {0} on un-acquired lock")]
    NotAcquired(&'static str),
    /// A [`BoundedSemaphore`](crate::BoundedSemaphore) was released above its initial value
    /// (Python: `ValueError("Semaphore released too many times")`).
    #[error("semaphore released too many times")]
    OverRelease,
    /// The [`Barrier`](crate::Barrier) is broken: it was aborted, reset while threads waited,
    /// a wait timed out, or its action panicked (Python: `BrokenBarrierError`).
    #[error("barrier is broken")]
    BrokenBarrier,
    /// The object is not in a state that allows the call, such as starting a
    /// [`Timer`](crate::Timer) twice (Python: `RuntimeError`).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// An argument is out of range (Python: `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// Error from putting an item into a queue; the item is handed back.
///
/// # Examples
///
/// ```
/// use conc_thread::{PutError, Queue};
///
/// let q = Queue::new(1);
/// q.put(1).unwrap();
/// assert_eq!(q.put_nowait(2), Err(PutError::Full(2)));
/// q.shutdown(false);
/// assert_eq!(q.put(3), Err(PutError::ShutDown(3)));
/// ```
#[derive(thiserror::Error, Clone, PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue stayed full for the whole allowed wait (Python: `queue.Full`).
    #[error("queue is full")]
    Full(T),
    /// The queue was shut down (Python 3.13: `queue.ShutDown`).
    #[error("queue is shut down")]
    ShutDown(T),
}

impl<T> PutError<T> {
    /// Gives back the item that could not be put.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_thread::Queue;
    ///
    /// let q = Queue::new(1);
    /// q.put("a").unwrap();
    /// assert_eq!(q.put_nowait("b").unwrap_err().into_inner(), "b");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::ShutDown(item) => item,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    // Items need not be `Debug`; the variant is what matters to a reader.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

/// Error from taking an item out of a queue.
///
/// # Examples
///
/// ```
/// use conc_thread::{GetError, Queue};
///
/// let q: Queue<u8> = Queue::new(0);
/// assert_eq!(q.get_nowait(), Err(GetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.get(), Err(GetError::ShutDown));
/// ```
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum GetError {
    /// The queue stayed empty for the whole allowed wait (Python: `queue.Empty`).
    #[error("queue is empty")]
    Empty,
    /// The queue was shut down and has nothing left to give (Python 3.13: `queue.ShutDown`).
    #[error("queue is shut down")]
    ShutDown,
}

/// `task_done` was called more times than items were put
/// (Python: `ValueError("task_done() called too many times")`).
///
/// # Examples
///
/// ```
/// use conc_thread::{Queue, TaskDoneError};
///
/// let q: Queue<u8> = Queue::new(0);
/// assert_eq!(q.task_done(), Err(TaskDoneError));
/// ```
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("task_done() called too many times")]
pub struct TaskDoneError;
