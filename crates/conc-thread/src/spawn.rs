//! Starting threads: [`Builder`], [`spawn`] and the [`JoinHandle`] that returns the
//! closure's value or its panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::sync::Mutex;

use crate::ThreadError;
use crate::excepthook::{ExceptHookArgs, call_excepthook};
use crate::panic_message::panic_message;
use crate::registry::{self, Thread, current_thread, next_name_number};

/// Configures a thread before it starts, like the keyword arguments of Python's
/// `threading.Thread(name=..., daemon=...)`.
///
/// # Examples
///
/// ```
/// let handle = conc_thread::Builder::new()
///     .name("downloader")
///     .daemon(true)
///     .stack_size(256 * 1024)
///     .spawn(|| 6 * 7)
///     .expect("the OS started the thread");
/// assert_eq!(handle.name(), "downloader");
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until `spawn` is called"]
pub struct Builder {
    name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with Python's defaults: name `Thread-N`, daemon flag inherited from the
    /// calling thread, the platform's stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().spawn(|| ()).unwrap();
    /// assert!(h.name().starts_with("Thread-"));
    /// h.join().unwrap();
    /// ```
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the thread; the name is also given to the OS thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().name("t-1").spawn(|| ()).unwrap();
    /// assert_eq!(h.name(), "t-1");
    /// h.join().unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Marks the thread as a daemon, or not. Daemon threads are not waited for by
    /// [`join_non_daemon_threads`](crate::join_non_daemon_threads) and
    /// [`ExitGuard`](crate::ExitGuard). Defaults to the calling thread's flag; the main
    /// thread is not a daemon.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(h.thread().is_daemon());
    /// h.join().unwrap();
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// Sets the stack size in bytes (Python: `threading.stack_size()`, per thread here).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().stack_size(64 * 1024).spawn(|| 1).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the thread running `f` (Python: `Thread(target=f).start()`).
    ///
    /// The thread is counted by [`active_count`](crate::active_count) from the moment
    /// this returns until `f` returns or panics. A panic in `f` is caught: it comes back
    /// from [`JoinHandle::join`] as [`ThreadError::Panicked`], or, if the handle is
    /// dropped without joining, goes to the [`excepthook`](crate::set_excepthook).
    ///
    /// # Errors
    ///
    /// [`ThreadError::Spawn`] if the operating system cannot start a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().spawn(|| "hello").unwrap();
    /// assert_eq!(h.join().unwrap(), "hello");
    /// ```
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, ThreadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let name = self
            .name
            .unwrap_or_else(|| format!("Thread-{}", next_name_number()));
        let daemon = self.daemon.unwrap_or_else(|| current_thread().is_daemon());
        let thread = Thread::new(name, daemon);
        let packet = Arc::new(Packet {
            state: Mutex::new(PacketState::Running),
        });

        let mut std_builder = std::thread::Builder::new().name(thread.name().to_owned());
        if let Some(size) = self.stack_size {
            std_builder = std_builder.stack_size(size);
        }
        registry::register(&thread);
        // Keeps forks out of std's start-up of the thread (see `fork::Window`); the
        // thread closes it on its first line.
        let start_window = crate::fork::open_window();
        let body = {
            let thread = thread.clone();
            let packet = packet.clone();
            move || run_thread(thread, packet, f, start_window)
        };
        match std_builder.spawn(body) {
            Ok(native) => Ok(JoinHandle {
                thread,
                native: Some(native),
                packet,
            }),
            Err(err) => {
                thread.finish();
                Err(ThreadError::Spawn(err.to_string()))
            }
        }
    }
}

/// Starts a thread running `f` with default settings.
///
/// # Panics
///
/// Panics if the operating system cannot start a thread, like `std::thread::spawn`;
/// use [`Builder::spawn`] to get that as an error.
///
/// # Examples
///
/// ```
/// let h = conc_thread::spawn(|| (1..=10).sum::<u32>());
/// assert_eq!(h.join().unwrap(), 55);
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("{err}"),
    }
}

/// Where the thread leaves its outcome for the handle.
struct Packet<T> {
    state: Mutex<PacketState<T>>,
}

enum PacketState<T> {
    /// The closure is still running and the handle is alive.
    Running,
    /// The closure returned or panicked; the outcome waits to be joined.
    Done(Result<T, String>),
    /// The handle was dropped while the thread ran: nobody will join.
    Detached,
    /// The outcome was handed out by a join.
    Taken,
}

fn run_thread<F, T>(thread: Thread, packet: Arc<Packet<T>>, f: F, start: crate::fork::Window)
where
    F: FnOnce() -> T,
{
    // Whatever happens below, the thread leaves the registry and wakes its joiners.
    let _finish = FinishOnDrop(&thread);
    thread.set_native_id();
    registry::set_current(thread.clone());
    // Started: its native id is known, so a fork from now on copies a complete record.
    drop(start);
    let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload));
    let unobserved_panic = {
        let mut state = packet.state.lock();
        match *state {
            PacketState::Detached => outcome.err(),
            _ => {
                *state = PacketState::Done(outcome);
                None
            }
        }
    };
    if let Some(message) = unobserved_panic {
        call_excepthook(&ExceptHookArgs::new(&thread, message));
    }
}

/// Marks the thread finished when `run_thread` ends, even by an unexpected unwind.
struct FinishOnDrop<'a>(&'a Thread);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        // Before the joiners are told: a joiner that forks next waits for std's exit
        // clean-up of this thread (see `fork::Window`).
        crate::fork::open_exit_window();
        self.0.finish();
    }
}

/// Owns a spawned thread: join it to get the closure's value (Python: `Thread.join()`,
/// plus the return value Python threads cannot give).
///
/// Dropping the handle detaches the thread; a panic it ends with is then reported to the
/// [`excepthook`](crate::set_excepthook) instead of being lost.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_thread::ThreadError;
///
/// let h = conc_thread::spawn(|| panic!("boom"));
/// match h.join() {
///     Err(ThreadError::Panicked { message, .. }) => assert_eq!(message, "boom"),
///     other => panic!("unexpected {other:?}"),
/// }
///
/// let mut slow = conc_thread::spawn(|| std::thread::sleep(Duration::from_millis(200)));
/// assert!(matches!(slow.join_timeout(Duration::from_millis(1)), Err(ThreadError::Timeout { .. })));
/// slow.join().unwrap();
/// ```
pub struct JoinHandle<T> {
    thread: Thread,
    native: Option<std::thread::JoinHandle<()>>,
    packet: Arc<Packet<T>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish and returns the closure's value.
    ///
    /// # Errors
    ///
    /// - [`ThreadError::Panicked`] with the panic message if the closure panicked;
    /// - [`ThreadError::AlreadyJoined`] if an earlier [`join_timeout`](Self::join_timeout)
    ///   already took the outcome;
    /// - [`ThreadError::JoinSelf`] if a thread tries to join itself.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::spawn(|| 3).join().unwrap(), 3);
    /// ```
    pub fn join(mut self) -> Result<T, ThreadError> {
        self.join_inner(None)
    }

    /// Waits at most `timeout` for the thread to finish (Python: `join(timeout)`).
    ///
    /// On timeout the handle stays usable: join again later, or check
    /// [`is_alive`](Self::is_alive), as one would in Python.
    ///
    /// # Errors
    ///
    /// [`ThreadError::Timeout`] if the thread is still running, and the errors of
    /// [`join`](Self::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut h = conc_thread::spawn(|| 9);
    /// assert_eq!(h.join_timeout(Duration::from_secs(60)), Ok(9));
    /// assert!(!h.is_alive());
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<T, ThreadError> {
        self.join_inner(Some(timeout))
    }

    fn join_inner(&mut self, timeout: Option<Duration>) -> Result<T, ThreadError> {
        if self.thread.ident() == crate::get_ident() {
            return Err(ThreadError::JoinSelf);
        }
        if !self.thread.wait_finished(timeout) {
            return Err(ThreadError::Timeout {
                waiting_for: format!("thread '{}' to finish", self.thread.name()),
                after: timeout.unwrap_or_default(),
            });
        }
        if !self.thread.lives_here() {
            // Not joinable from here: forget the OS handle (its thread is in another
            // process; joining or detaching it here would act on a stranger's state).
            std::mem::forget(self.native.take());
            return Err(ThreadError::NotInThisProcess {
                thread: self.thread.name().to_owned(),
            });
        }
        if let Some(native) = self.native.take() {
            // The closure has returned; this only reclaims the OS thread, and cannot
            // report a panic because `run_thread` catches them all.
            let _ = native.join();
        }
        let outcome = std::mem::replace(&mut *self.packet.state.lock(), PacketState::Taken);
        match outcome {
            PacketState::Done(Ok(value)) => Ok(value),
            PacketState::Done(Err(message)) => Err(ThreadError::Panicked {
                thread: self.thread.name().to_owned(),
                message,
            }),
            PacketState::Taken => Err(ThreadError::AlreadyJoined),
            PacketState::Running | PacketState::Detached => {
                unreachable!("a finished thread always leaves its outcome")
            }
        }
    }

    /// Whether the thread is still running (Python: `is_alive()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let gate = std::sync::Arc::new(conc_thread::Event::new());
    /// let h = { let g = gate.clone(); conc_thread::spawn(move || g.wait()) };
    /// assert!(h.is_alive());
    /// gate.set();
    /// h.join().unwrap();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// The thread's identity: name, ident, native id, daemon flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::spawn(|| ());
    /// assert!(h.thread().ident() > 0);
    /// h.join().unwrap();
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// The thread's name (Python: `name`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().name("n").spawn(|| ()).unwrap();
    /// assert_eq!(h.name(), "n");
    /// h.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// The thread's ident (Python: `ident`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::spawn(conc_thread::get_ident);
    /// let ident = h.ident();
    /// assert_eq!(h.join().unwrap(), ident);
    /// ```
    pub fn ident(&self) -> u64 {
        self.thread.ident()
    }

    /// The OS thread id (Python: `native_id`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::spawn(conc_thread::get_native_id);
    /// let id = h.native_id();
    /// assert_eq!(h.join().unwrap(), id);
    /// ```
    pub fn native_id(&self) -> u64 {
        self.thread.native_id()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.native.is_some() && !self.thread.lives_here() {
            // See `join_inner`: the OS thread is not this process's to detach.
            std::mem::forget(self.native.take());
        }
        let mut state = self.packet.state.lock();
        match std::mem::replace(&mut *state, PacketState::Detached) {
            PacketState::Done(Err(message)) => {
                drop(state);
                call_excepthook(&ExceptHookArgs::new(&self.thread, message));
            }
            PacketState::Taken => *state = PacketState::Taken,
            PacketState::Done(Ok(_)) | PacketState::Running | PacketState::Detached => {}
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}
