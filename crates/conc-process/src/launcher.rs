//! The long-lived thread that creates direct children.
//!
//! Linux's `PR_SET_PDEATHSIG` fires when the *thread* that forked a child ends, not the
//! process. If a short-lived thread (a pool worker, a test) forked the child itself, the
//! child would be killed when that thread returned. So `fork` and `spawn` children are
//! created by a thread that lives as long as the process: the main thread itself when it
//! is the caller, otherwise this launcher thread, while the caller waits for the answer. The thread is started lazily, and again in a forked child that starts
//! children of its own (the parent's thread does not exist there).

use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};

use crate::ProcessError;
use crate::hooks;
use crate::sys::{self, Pid};

type Job = Box<dyn FnOnce() + Send>;

static LAUNCHER: Mutex<Option<(Pid, Sender<Job>)>> = Mutex::new(None);

/// Runs `job` on a thread that lives as long as the program: right here when the caller
/// is the main thread (saving two thread hand-offs), else on the launcher thread.
pub(crate) fn run<T, F>(job: F) -> Result<T, ProcessError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if sys::is_main_thread() {
        return Ok(job());
    }
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = reply_tx.send(job());
    });
    sender()?
        .send(job)
        .map_err(|_| ProcessError::InvalidState("the launcher thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| ProcessError::InvalidState("the launcher thread panicked"))
}

/// Whether this process's launcher thread exists (it is started on first use).
pub(crate) fn running() -> bool {
    let guard = LAUNCHER.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().is_some_and(|(pid, _)| *pid == sys::getpid())
}

fn sender() -> Result<Sender<Job>, ProcessError> {
    let mut guard = LAUNCHER.lock().unwrap_or_else(|e| e.into_inner());
    let me = sys::getpid();
    if let Some((pid, tx)) = &*guard
        && *pid == me
    {
        return Ok(tx.clone());
    }
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("conc-process-launcher".into())
        // A fork child runs its function on this thread's stack: give it a main
        // thread's 8 MiB (virtual memory; pages are touched only when used).
        .stack_size(8 << 20)
        .spawn(move || {
            for job in rx {
                // A job never panics by design; if one did, the launcher must live on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })
        .map_err(|e| ProcessError::os("cannot start the launcher thread", e))?;
    *guard = Some((me, tx.clone()));
    Ok(tx)
}

/// Forks on a thread that lives as long as the program (see [`run`]). In the child
/// `child` runs and must not return (it ends with `_exit`); the parent gets the child's
/// pid.
///
/// The crate's own locks are held across the `fork` so that the child inherits them
/// unlocked and consistent (the `pthread_atfork` discipline); a lock some other part of
/// the program holds at that instant is the caller's risk, which is why `fork` warns
/// when other threads run.
pub(crate) fn fork(child: Box<dyn FnOnce() -> i32 + Send>) -> Result<Pid, ProcessError> {
    run(move || fork_here(child))?
}

fn fork_here(child: Box<dyn FnOnce() -> i32 + Send>) -> Result<Pid, ProcessError> {
    let parent = sys::getpid();
    // The parent-death pipe, where the watchdog is used, must exist before the fork.
    crate::watchdog::read_end_for_children();
    let death_signal = crate::watchdog::death_signal_wanted();
    // No thread is inside the panic hook at the fork (see `PanicGate`): taken first,
    // as a panicking thread takes it before the standard streams.
    let panics = PanicGate::hold();
    // Every lock a child's start-up and exit path takes: ours, and the standard streams
    // (`exit_now` flushes them; a thread printing at the instant of the fork would
    // otherwise leave them locked forever in the child).
    let stdout = std::io::stdout().lock();
    let stderr = std::io::stderr().lock();
    let locks = hooks::hold_fork_locks();
    // SAFETY: in the child only this thread exists; it releases the locks taken above
    // (it owns them), then runs `child` and `_exit`s without returning.
    match unsafe { sys::fork() } {
        Ok(0) => {
            drop((locks, stderr, stdout, panics));
            sys::die_with_parent(parent, death_signal);
            // Nothing may unwind out of here: above us is the parent's caller.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(1);
            sys::exit_now(code)
        }
        Ok(pid) => {
            drop((locks, stderr, stdout, panics));
            drop(child);
            Ok(pid)
        }
        Err(e) => Err(ProcessError::os("fork failed", e)),
    }
}

/// Keeps forks out of the panic hook.
///
/// The standard panic hook prints under a process-wide lock of the standard library
/// (the backtrace lock). A thread panicking at the instant of a fork would leave that
/// lock held forever in the child, whose first panic (a pool task's, caught and
/// reported) would then hang. So the hook in force when this crate first forks is
/// wrapped: it runs under a read lock of ours, which the forking thread takes for
/// writing across the fork. A hook the program sets later replaces the wrapper, and
/// with it this protection.
struct PanicGate;

static IN_PANIC_HOOK: std::sync::RwLock<()> = std::sync::RwLock::new(());

impl PanicGate {
    /// Waits until no thread runs the panic hook and keeps new ones out until dropped.
    fn hold() -> std::sync::RwLockWriteGuard<'static, ()> {
        static WRAPPED: std::sync::Once = std::sync::Once::new();
        WRAPPED.call_once(|| {
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _inside = IN_PANIC_HOOK.read().unwrap_or_else(|e| e.into_inner());
                hook(info);
            }));
        });
        IN_PANIC_HOOK.write().unwrap_or_else(|e| e.into_inner())
    }
}
