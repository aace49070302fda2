//! The crate's one error type.

use std::borrow::Cow;
use std::io;
use std::time::Duration;

/// Everything that can go wrong in `conc-process`, as one matchable enum.
///
/// Python raises a different exception for each case (`TimeoutError`, `EOFError`,
/// `queue.Full`, `ValueError`, `BrokenPipeError`...); here each is a variant, and each
/// carries what a caller needs to report it (the child's name and exit code, the panic
/// message, the failing operation).
///
/// # Examples
///
/// ```
/// use conc_process::ProcessError;
///
/// let err = ProcessError::Died { name: "worker-1".into(), exitcode: -9 };
/// assert_eq!(err.to_string(), "process 'worker-1' died (killed by SIGKILL, signal 9)");
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessError {
    /// A timed operation ran out of time (Python: `TimeoutError`, or `join(timeout)`
    /// returning with the process still alive). The message names what was waited for
    /// and how long.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the wait was for (`"process 'worker-1' to end"`).
        waiting_for: Cow<'static, str>,
        /// How long it waited.
        after: Duration,
    },
    /// The function panicked in the child process; its message came back.
    #[error("process '{name}' panicked: {message}")]
    Panicked {
        /// Name of the process.
        name: String,
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The child ended without sending a result: it called `exit`, was killed by a
    /// signal, or crashed.
    #[error("process '{name}' died ({})", describe_exitcode(*.exitcode))]
    Died {
        /// Name of the process.
        name: String,
        /// The exit code, or minus the signal number when a signal killed it (as in
        /// Python's `Process.exitcode`).
        exitcode: i32,
    },
    /// The child could not be started, or ended before it could run its function.
    #[error("process '{name}' failed to start: {reason}")]
    StartFailed {
        /// Name of the process.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// A value could not be encoded or decoded for the trip between processes.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// The other end of a pipe or channel is gone: every process that could have sent
    /// more has closed it or died (Python: `EOFError`).
    #[error("end of file: the other end is closed")]
    Eof,
    /// A send found the other end of its connection closed: every process that could
    /// have read it has closed it or died (Python: `BrokenPipeError`).
    #[error("Broken pipe: the other end of the connection is closed")]
    BrokenPipe,
    /// Bytes arrived that are not a well-formed message (garbage, a length over the
    /// limit, a message cut short by the sender's end); the connection is closed after
    /// it, as its stream can no longer be trusted.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// A process died while holding a process-shared lock. The caller now holds it;
    /// the state it protects may be half-updated (Python deadlocks here instead).
    #[error("the previous owner of the lock died while holding it")]
    OwnerDied,
    /// A barrier was aborted, reset, or broken by a timed-out waiter while (or before)
    /// the caller waited (Python: `threading.BrokenBarrierError`).
    #[error("the barrier is broken")]
    BrokenBarrier,
    /// A non-blocking or timed `put` found the queue full (Python: `queue.Full`).
    #[error("queue is full")]
    Full,
    /// A non-blocking or timed `get` found the queue empty (Python: `queue.Empty`).
    #[error("queue is empty")]
    Empty,
    /// The object was closed by this process (Python: `ValueError`/`OSError` on a closed
    /// connection or queue).
    #[error("{0} is closed")]
    Closed(&'static str),
    /// The call does not fit the object's state, such as starting a process twice
    /// (Python: `AssertionError`/`RuntimeError`).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// An argument is out of range (Python: `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `spawn` or `forkserver` was used but this program never called
    /// [`init`](crate::init) (or [`test_support!`](crate::test_support)).
    #[error(
        "the '{0}' start method needs conc_process::init() as the first line of main \
         (or conc_process::test_support!() in a test file)"
    )]
    NotInitialized(&'static str),
    /// A [`Listener`](crate::connection::Listener) or
    /// [`client`](crate::connection::client) handshake failed: the peer does not know
    /// the authkey, or refused ours (Python: `multiprocessing.AuthenticationError`).
    #[error("authentication failed: {0}")]
    AuthenticationError(String),
    /// A [`Pool`](crate::Pool) cannot run tasks: its workers cannot start (the
    /// initializer panicked or the worker died in it, or processes cannot be created).
    /// Every pending task fails with it, and so does every later one (Python's pool
    /// re-spawns such workers forever instead; `concurrent.futures` calls this
    /// `BrokenProcessPool`).
    #[error("the pool is broken: {0}")]
    PoolBroken(String),
    /// The task was dropped before it ran or while it ran, because its pool was
    /// terminated (Python leaves such results waiting forever).
    #[error("cancelled: {0}")]
    Cancelled(&'static str),
    /// A system call failed.
    #[error("{context}: {message}")]
    Os {
        /// What was being done.
        context: &'static str,
        /// The operating system's message.
        message: String,
    },
}

impl ProcessError {
    /// Wraps an I/O error with what was being done when it happened.
    pub(crate) fn os(context: &'static str, err: io::Error) -> Self {
        ProcessError::Os {
            context,
            message: err.to_string(),
        }
    }

    /// The error for the current `errno`.
    pub(crate) fn last_os(context: &'static str) -> Self {
        Self::os(context, io::Error::last_os_error())
    }
}

/// Python's reading of an exit code: negative means "killed by that signal".
pub(crate) fn describe_exitcode(exitcode: i32) -> String {
    if exitcode < 0 {
        match signal_name(-exitcode) {
            Some(name) => format!("killed by {name}, signal {}", -exitcode),
            None => format!("killed by signal {}", -exitcode),
        }
    } else {
        format!("exit code {exitcode}")
    }
}

impl ProcessError {
    /// A wait for `waiting_for` that gave up after `after`.
    pub(crate) fn timeout(waiting_for: impl Into<Cow<'static, str>>, after: Duration) -> Self {
        ProcessError::Timeout {
            waiting_for: waiting_for.into(),
            after,
        }
    }

    /// A timeout met below the public call that knows what it waited for and how long:
    /// that call names it with [`waited_for`](Self::waited_for).
    pub(crate) fn timed_out() -> Self {
        ProcessError::timeout("the operation", Duration::ZERO)
    }

    /// Names a timeout after what the public call waited for and its timeout; any other
    /// error passes through.
    pub(crate) fn waited_for(
        self,
        waiting_for: impl Into<Cow<'static, str>>,
        after: Duration,
    ) -> Self {
        match self {
            ProcessError::Timeout { .. } => ProcessError::timeout(waiting_for, after),
            other => other,
        }
    }
}

impl From<postcard::Error> for ProcessError {
    fn from(err: postcard::Error) -> Self {
        use postcard::Error::{SerdeDeCustom, SerdeSerCustom};
        let message = match err {
            // postcard drops the text of custom errors: this crate remembers its own.
            SerdeSerCustom | SerdeDeCustom => crate::wire::take_message().unwrap_or_else(|| {
                format!(
                    "{err} (raised by a Serialize or Deserialize impl; its message is not kept)"
                )
            }),
            other => other.to_string(),
        };
        ProcessError::Serialization(message)
    }
}

/// The name Python's `signal.Signals` gives a signal number, for the common ones.
pub(crate) fn signal_name(signum: i32) -> Option<&'static str> {
    const NAMES: &[(libc::c_int, &str)] = &[
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGURG, "SIGURG"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == signum)
        .map(|(_, name)| *name)
}
