//! The registry of live threads behind `current_thread`, `main_thread`, `active_count`,
//! `enumerate` and the wait for non-daemon threads.
//!
//! Python's `threading` knows every thread it started, the main thread, and "dummy"
//! threads started elsewhere that called `current_thread()`. So does this registry:
//! threads spawned through this crate are entered by [`crate::Builder::spawn`] before they
//! run and leave when their closure returns; any other thread is entered the first time
//! it asks for its [`Thread`] and leaves when it exits.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::Event;

/// Identity and state of one thread: the counterpart of a Python `Thread` object,
/// without the ability to join (that belongs to [`JoinHandle`](crate::JoinHandle)).
///
/// It is cheap to clone; clones refer to the same thread.
///
/// # Examples
///
/// ```
/// let h = conc_thread::Builder::new().name("worker").spawn(|| {
///     conc_thread::current_thread().name().to_owned()
/// }).unwrap();
/// assert_eq!(h.thread().name(), "worker");
/// assert_eq!(h.join().unwrap(), "worker");
/// ```
#[derive(Clone)]
pub struct Thread {
    inner: Arc<ThreadInner>,
}

struct ThreadInner {
    name: String,
    ident: u64,
    native_id: OnceLock<u64>,
    daemon: bool,
    alive: AtomicBool,
    finished: Event,
    /// The process the thread runs in. In a fork child only the thread that forked
    /// exists (its record is moved to the child's pid); the others are gone there.
    pid: AtomicU32,
}

impl Thread {
    pub(crate) fn new(name: String, daemon: bool) -> Thread {
        Thread::with_ident(name, daemon, next_ident())
    }

    /// The record of a thread whose own record is gone (thread-locals torn down).
    fn ending(ident: u64) -> Thread {
        let thread = Thread::with_ident(format!("Dummy-{ident}"), true, ident);
        thread.set_native_id();
        thread.inner.alive.store(false, Ordering::SeqCst);
        thread
    }

    fn with_ident(name: String, daemon: bool, ident: u64) -> Thread {
        Thread {
            inner: Arc::new(ThreadInner {
                name,
                ident,
                native_id: OnceLock::new(),
                daemon,
                alive: AtomicBool::new(true),
                finished: Event::new(),
                pid: AtomicU32::new(crate::fork::process_id()),
            }),
        }
    }

    /// The thread's name (Python: `name`). Threads spawned without a name are called
    /// `Thread-N`; the main thread is `MainThread`; threads not started by this crate
    /// keep their `std` name or are called `Dummy-N`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A number identifying the thread within this process, never reused while the
    /// process lives (Python: `ident`; Python may reuse idents, this crate does not).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_thread::current_thread().ident(), conc_thread::get_ident());
    /// ```
    pub fn ident(&self) -> u64 {
        self.inner.ident
    }

    /// The operating system's id of the thread (Python: `native_id`): the TID on Linux.
    ///
    /// # Blocking
    ///
    /// For a thread that was just spawned, waits until it has started running and
    /// published its id (Python's `start()` waits for the same moment).
    ///
    /// # Examples
    ///
    /// ```
    /// let me = conc_thread::current_thread();
    /// assert_eq!(me.native_id(), conc_thread::get_native_id());
    /// ```
    pub fn native_id(&self) -> u64 {
        *self.inner.native_id.wait()
    }

    /// Whether the thread is a daemon (Python: `daemon`): daemon threads are not waited
    /// for by [`join_non_daemon_threads`].
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::Builder::new().daemon(true).spawn(|| ()).unwrap();
    /// assert!(h.thread().is_daemon());
    /// h.join().unwrap();
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.inner.daemon
    }

    /// Whether the thread is still running its closure (Python: `is_alive()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = conc_thread::spawn(|| ());
    /// let t = h.thread().clone();
    /// h.join().unwrap();
    /// assert!(!t.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.inner.alive.load(Ordering::Acquire) && self.lives_here()
    }

    /// Whether the thread exists in this process: false in a fork child for every
    /// thread but the one that forked (Python's `_after_fork` marks them stopped).
    pub(crate) fn lives_here(&self) -> bool {
        let here = crate::fork::process_id();
        if self.inner.pid.load(Ordering::Acquire) == here {
            return true;
        }
        // The first registry use in a fork child moves the forking thread's record to
        // the child's pid.
        drop(registry());
        self.inner.pid.load(Ordering::Acquire) == here
    }

    /// Waits up to `timeout` (forever with `None`) for the thread to finish; returns
    /// whether it has. Unlike joining, this does not take the thread's result.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let h = conc_thread::spawn(|| 5);
    /// assert!(h.thread().wait_finished(Some(Duration::from_secs(60))));
    /// assert_eq!(h.join().unwrap(), 5);
    /// ```
    pub fn wait_finished(&self, timeout: Option<Duration>) -> bool {
        if !self.lives_here() {
            // A thread of the process this one was forked from: it will never run here.
            return true;
        }
        match timeout {
            None => {
                self.inner.finished.wait();
                true
            }
            Some(t) => self.inner.finished.wait_timeout(t),
        }
    }

    pub(crate) fn set_native_id(&self) {
        let _ = self.inner.native_id.set(crate::sys::native_thread_id());
    }

    /// Marks the thread finished and takes it out of the registry.
    pub(crate) fn finish(&self) {
        registry().threads.remove(&self.inner.ident);
        self.inner.alive.store(false, Ordering::Release);
        self.inner.finished.set();
    }
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.inner.name)
            .field("ident", &self.inner.ident)
            .field("daemon", &self.inner.daemon)
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// Python's `repr(thread)`: `<Thread(worker, started daemon 7)>`.
///
/// ```
/// let h = conc_thread::Builder::new().name("worker").spawn(|| ()).unwrap();
/// h.thread().wait_finished(None);
/// assert_eq!(h.thread().to_string(), format!("<Thread(worker, stopped {})>", h.ident()));
/// ```
impl std::fmt::Display for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = if self.is_alive() {
            "started"
        } else {
            "stopped"
        };
        let daemon = if self.is_daemon() { " daemon" } else { "" };
        write!(
            f,
            "<Thread({}, {status}{daemon} {})>",
            self.name(),
            self.ident()
        )
    }
}

impl PartialEq for Thread {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Thread {}

fn next_ident() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Sequence for default names (`Thread-N`, `Dummy-N`), separate from idents as in Python.
pub(crate) fn next_name_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The live threads of this process, tagged with the pid that filled the map: in a
/// child created by `fork()` only the forking thread exists, so the parent's records
/// are dropped on first use there (Python's `threading._after_fork`); otherwise
/// [`join_non_daemon_threads`] in the child would wait for threads that are not there.
struct Registry {
    pid: u32,
    threads: BTreeMap<u64, Thread>,
}

/// The registry's lock, registered on first use to be held across every fork, so a
/// forked child finds it free (see `fork.rs`). A `std` mutex in a `static` (no lazy
/// initialisation a fork could catch half done): releasing it in the child after a
/// fork is a store and at most a futex wake-up.
fn registry_lock() -> &'static Mutex<Registry> {
    static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
        pid: 0,
        threads: BTreeMap::new(),
    });
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, || {
        Box::new(REGISTRY.lock().unwrap_or_else(PoisonError::into_inner))
    });
    &REGISTRY
}

fn registry() -> MutexGuard<'static, Registry> {
    let mut guard = registry_lock()
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let pid = crate::fork::process_id();
    if guard.pid != pid {
        // First use (pid 0): the program's main thread is listed. First use in a fork
        // child: the parent's threads do not exist here, only the thread that forked
        // (Python's `threading._after_fork` keeps exactly that one).
        let first_use = guard.pid == 0;
        guard.pid = pid;
        guard.threads.clear();
        let survivor = if first_use {
            Some(main_thread())
        } else {
            forking_thread()
        };
        if let Some(thread) = survivor {
            thread.inner.pid.store(pid, Ordering::Release);
            guard.threads.insert(thread.ident(), thread);
        }
    }
    guard
}

/// In a fork child, the `Thread` of the one thread there (the one that forked), if it
/// is known without registering anything: a thread conc-thread started or adopted, or
/// the main thread (a child's only thread has the process's id as its thread id).
fn forking_thread() -> Option<Thread> {
    CURRENT
        .try_with(|c| c.get().cloned())
        .ok()
        .flatten()
        .or_else(|| crate::sys::is_main_thread().then(main_thread))
}

pub(crate) fn register(thread: &Thread) {
    registry().threads.insert(thread.ident(), thread.clone());
}

thread_local! {
    static CURRENT: OnceCell<Thread> = const { OnceCell::new() };
    static DUMMY_EXIT: DummyExit = const { DummyExit(OnceCell::new()) };
}

/// Removes a dummy thread from the registry when its OS thread exits.
struct DummyExit(OnceCell<Thread>);

impl Drop for DummyExit {
    fn drop(&mut self) {
        if let Some(thread) = self.0.get() {
            thread.finish();
        }
    }
}

/// Installs `thread` as the calling thread's identity; called first thing by spawned
/// threads.
pub(crate) fn set_current(thread: Thread) {
    CURRENT.with(|c| {
        let _ = c.set(thread);
    });
}

/// The [`Thread`] of the calling thread (Python: `threading.current_thread()`).
///
/// A thread not started by this crate gets an identity the first time it asks, and is
/// counted by [`active_count`] until it exits, like Python's dummy threads.
///
/// # Examples
///
/// ```
/// let h = conc_thread::Builder::new().name("t-1").spawn(|| {
///     conc_thread::current_thread().name().to_owned()
/// }).unwrap();
/// assert_eq!(h.join().unwrap(), "t-1");
/// ```
pub fn current_thread() -> Thread {
    CURRENT
        .try_with(|c| c.get_or_init(adopt_foreign_thread).clone())
        // From a thread-local destructor after this thread's own record was torn
        // down: a stand-in with the thread's ident, not registered (the thread is
        // ending and can no longer be observed running).
        .unwrap_or_else(|_| Thread::ending(get_ident()))
}

fn adopt_foreign_thread() -> Thread {
    if crate::sys::is_main_thread() {
        return main_thread();
    }
    let name = match std::thread::current().name() {
        Some(name) => name.to_owned(),
        None => format!("Dummy-{}", next_name_number()),
    };
    // A thread we did not start is treated as a daemon: nothing of ours can join it.
    let thread = Thread::new(name, true);
    thread.set_native_id();
    register(&thread);
    // If thread-locals are already being torn down the thread simply stays registered
    // as finished-never; it cannot be observed running afterwards anyway.
    let _ = DUMMY_EXIT.try_with(|d| d.0.set(thread.clone()));
    thread
}

/// The main thread, the one the process started with (Python: `threading.main_thread()`).
///
/// In a child created by `fork()` from another thread this is still the parent's main
/// thread, which does not exist there; Python makes the forking thread the child's main
/// thread. [`enumerate`] and [`current_thread`] there show the thread that forked.
///
/// # Examples
///
/// ```
/// let main = conc_thread::main_thread();
/// assert_eq!(main.name(), "MainThread");
/// assert!(!main.is_daemon());
/// ```
pub fn main_thread() -> Thread {
    static MAIN: OnceLock<Thread> = OnceLock::new();
    MAIN.get_or_init(|| {
        let main = Thread::new("MainThread".to_owned(), false);
        let _ = main
            .inner
            .native_id
            .set(crate::sys::main_thread_native_id());
        main
    })
    .clone()
}

/// The number of threads alive that this crate knows of: the main thread, every thread
/// spawned through it that has not finished, and foreign threads that asked for their
/// [`Thread`] (Python: `threading.active_count()`).
///
/// # Examples
///
/// ```
/// let before = conc_thread::active_count();
/// let stop = std::sync::Arc::new(conc_thread::Event::new());
/// let h = { let stop = stop.clone(); conc_thread::spawn(move || stop.wait()) };
/// assert!(conc_thread::active_count() >= before + 1);
/// stop.set();
/// h.join().unwrap();
/// ```
pub fn active_count() -> usize {
    registry().threads.len()
}

/// The live threads [`active_count`] counts, ordered by ident
/// (Python: `threading.enumerate()`).
///
/// # Examples
///
/// ```
/// let all = conc_thread::enumerate();
/// assert!(all.contains(&conc_thread::main_thread()));
/// ```
pub fn enumerate() -> Vec<Thread> {
    registry().threads.values().cloned().collect()
}

/// The calling thread's [`ident`](Thread::ident) (Python: `threading.get_ident()`).
///
/// # Examples
///
/// ```
/// let me = conc_thread::get_ident();
/// let other = conc_thread::spawn(conc_thread::get_ident).join().unwrap();
/// assert_ne!(me, other);
/// ```
#[inline]
pub fn get_ident() -> u64 {
    thread_local! {
        // A `u64` has no destructor, so this stays readable while the thread's other
        // locals are torn down; only its first read needs the thread's record, and a
        // thread whose record is already gone gets a fresh ident.
        static IDENT: u64 = CURRENT
            .try_with(|c| c.get_or_init(adopt_foreign_thread).ident())
            .unwrap_or_else(|_| next_ident());
    }
    IDENT.with(|i| *i)
}

/// The operating system's id of the calling thread (Python: `threading.get_native_id()`).
///
/// # Examples
///
/// ```
/// assert_ne!(conc_thread::get_native_id(), 0);
/// ```
pub fn get_native_id() -> u64 {
    crate::sys::native_thread_id()
}

/// Blocks until every non-daemon thread spawned through this crate has finished.
///
/// Python waits for non-daemon threads when the interpreter exits; a Rust process ends
/// when `main` returns, killing every other thread. Call this at the end of `main` (or
/// hold an [`ExitGuard`]) to get Python's behaviour. Threads spawned while waiting are
/// waited for too.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = done.clone();
/// let h = conc_thread::spawn(move || flag.store(true, Ordering::SeqCst));
/// drop(h); // detached, never joined
/// conc_thread::join_non_daemon_threads();
/// assert!(done.load(Ordering::SeqCst));
/// ```
pub fn join_non_daemon_threads() {
    let me = get_ident();
    loop {
        let pending: Vec<Thread> = registry()
            .threads
            .values()
            .filter(|t| !t.is_daemon() && t.ident() != me && **t != main_thread())
            .cloned()
            .collect();
        if pending.is_empty() {
            return;
        }
        for thread in pending {
            thread.wait_finished(None);
        }
    }
}

/// Waits for non-daemon threads when dropped: hold one in `main` to exit the way a
/// Python program does.
///
/// # Examples
///
/// ```
/// fn main() {
///     let _exit = conc_thread::ExitGuard::new();
///     drop(conc_thread::spawn(|| println!("finishes before the process exits")));
/// } // `_exit` drops here and waits for the thread
/// # main();
/// ```
#[derive(Debug, Default)]
#[must_use = "the guard waits for non-daemon threads when it is dropped"]
pub struct ExitGuard(());

impl ExitGuard {
    /// Creates the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let _exit = conc_thread::ExitGuard::new();
    /// ```
    pub fn new() -> Self {
        ExitGuard(())
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        join_non_daemon_threads();
    }
}

#[cfg(test)]
mod fork_tests {
    use super::*;
    use crate::fork_test_support::expect_child_success;
    use std::time::{Duration, Instant};

    #[test]
    fn the_fork_handlers_hold_and_release_the_registry() {
        drop(registry()); // creates the lock, registering it
        crate::fork::prepare();
        assert!(
            registry_lock().try_lock().is_err(),
            "the registry is held across the fork"
        );
        crate::fork::release();
        assert!(registry_lock().try_lock().is_ok());
    }

    /// Issue 22's hang: another thread holds the registry at the instant of a fork; the
    /// child's first `spawn` waited forever for it. Now the fork waits for the holder
    /// and the child starts with the lock free.
    #[test]
    fn a_child_forked_while_another_thread_holds_the_registry_can_spawn() {
        drop(registry());
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let guard = registry_lock().lock().unwrap();
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            drop(guard);
        });
        held_rx.recv().unwrap();
        // A runner started with SIGCHLD ignored would have the kernel reap the child
        // (and `waitpid` below fail): keep its exit status.
        // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        // SAFETY: the child only spawns and joins a thread, then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = crate::spawn(|| 7).join() == Ok(7);
            // SAFETY: ends the child without running the parent's test harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        holder.join().unwrap();
        expect_child_success(pid, "the forked child hung in its first spawn");
    }

    /// Python's `threading._after_fork`: in a child only the thread that forked is left,
    /// so `active_count()` is 1 and `enumerate()` lists exactly it (it was 0 and empty).
    #[test]
    fn a_fork_child_lists_exactly_the_thread_that_forked() {
        // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        let forker = crate::Builder::new()
            .name("the-forker")
            .spawn(|| {
                let others = crate::spawn(|| std::thread::sleep(Duration::from_millis(300)));
                assert!(crate::active_count() >= 3);
                // SAFETY: the child only reads the registry and `_exit`s.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let names: Vec<String> = crate::enumerate()
                        .iter()
                        .map(|t| t.name().to_owned())
                        .collect();
                    let ok = crate::active_count() == 1
                        && names == ["the-forker"]
                        && crate::current_thread().name() == "the-forker";
                    // SAFETY: ends the child without running the parent's test harness.
                    unsafe { libc::_exit(i32::from(!ok)) };
                }
                let mut status = 0;
                // SAFETY: waits for our own child, which exits at once.
                let reaped = unsafe { libc::waitpid(pid, &mut status, 0) } == pid;
                others.join().unwrap();
                reaped && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
            })
            .unwrap();
        assert_eq!(forker.join(), Ok(true));
    }

    /// Every thread of the parent but the one that forked is gone in the child: not
    /// alive, waited for at once, joined with `NotInThisProcess` (not a hang).
    #[test]
    fn a_parents_thread_is_gone_in_a_fork_child() {
        // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        let gate = std::sync::Arc::new(crate::Event::new());
        let blocked = {
            let gate = gate.clone();
            crate::Builder::new()
                .name("blocked")
                .spawn(move || gate.wait_timeout(Duration::from_secs(30)))
                .unwrap()
        };
        assert!(blocked.is_alive());
        // SAFETY: the child only inspects the handle and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let started = Instant::now();
            let gone = !blocked.is_alive()
                && blocked.thread().wait_finished(None)
                && !crate::enumerate().iter().any(|t| t.name() == "blocked");
            let joined = matches!(
                blocked.join(),
                Err(crate::ThreadError::NotInThisProcess { thread }) if thread == "blocked"
            );
            let prompt = started.elapsed() < Duration::from_secs(5);
            // SAFETY: ends the child without running the parent's test harness.
            unsafe { libc::_exit(i32::from(!(gone && joined && prompt))) };
        }
        expect_child_success(pid, "the child hung on a thread of its parent");
        gate.set();
        assert_eq!(blocked.join(), Ok(true));
    }
}
