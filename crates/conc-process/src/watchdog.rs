//! The portable fallback for "children die with their parent": a pipe only the parent
//! can write to, watched by a thread in every child.
//!
//! ```text
//! parent: write end (close-on-exec, never given to children)
//!    │        read end (inherited by fork children, passed by number to spawn children,
//!    ▼                  inherited from the fork server by its children)
//! child:  thread blocked in read(read end) ──── end of file = every writer is gone
//!                                               = the parent died ──── SIGKILL self
//! ```
//!
//! Linux's `PR_SET_PDEATHSIG` does the job without a thread per child, so the watchdog
//! runs only when forced: the crate's own tests force it (with the death signal off)
//! to keep it proven, for the day a target without that signal is supported.

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::hooks::{self, ForkLockRank};
use crate::sys::{self, Pid};

/// The environment variable naming the read end's number in a spawn child.
pub(crate) const FD_ENV: &str = "CONC_PROCESS_WATCHDOG_FD";

static FORCED: AtomicBool = AtomicBool::new(false);

/// This process's pipe for its own children: (owner pid, read end, write end).
static PIPE: Mutex<Option<(Pid, OwnedFd, OwnedFd)>> = Mutex::new(None);

/// Whether children watch their parent through the pipe: only when forced (tests do,
/// so the fallback stays proven); Linux's `PR_SET_PDEATHSIG` does the job otherwise.
pub(crate) fn enabled() -> bool {
    FORCED.load(Ordering::SeqCst)
}

/// Whether `PR_SET_PDEATHSIG` should be armed (off when the watchdog is forced, so that
/// it alone is tested).
pub(crate) fn death_signal_wanted() -> bool {
    !FORCED.load(Ordering::SeqCst)
}

/// Makes every child started from now on use the watchdog instead of the death signal.
pub(crate) fn force() {
    FORCED.store(true, Ordering::SeqCst);
}

/// The read end children should watch, creating the pipe on first use.
pub(crate) fn read_end_for_children() -> Option<RawFd> {
    if !enabled() {
        return None;
    }
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(&REGISTERED, ForkLockRank::Watchdog, || -> Box<dyn Any> {
        Box::new(PIPE.lock().unwrap_or_else(|e| e.into_inner()))
    });
    let mut pipe = PIPE.lock().unwrap_or_else(|e| e.into_inner());
    let me = sys::getpid();
    if pipe.as_ref().is_none_or(|(owner, _, _)| *owner != me) {
        // The write end stays in this process: close-on-exec keeps it out of spawn
        // children and of any program started later. The read end is inheritable, as
        // spawn children must receive it.
        let (read, write) = sys::pipe_cloexec().ok()?;
        sys::set_inheritable(read.as_fd()).ok()?;
        *pipe = Some((me, read, write));
    }
    pipe.as_ref().map(|(_, read, _)| read.as_raw_fd())
}

/// The read end a spawn child was given (see [`FD_ENV`]), read once by `init`.
static INHERITED: Mutex<Option<RawFd>> = Mutex::new(None);

/// Called by `init` in a spawn child: remembers the inherited read end; whether there
/// was one.
pub(crate) fn take_from_env() -> bool {
    let fd = std::env::var(FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok());
    *INHERITED.lock().unwrap_or_else(|e| e.into_inner()) = fd;
    fd.is_some()
}

/// The read end a spawn child was given, if any (taken once).
pub(crate) fn inherited() -> Option<RawFd> {
    INHERITED.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// In a new child (any start method): close the parent's write end if it was inherited,
/// and watch the read end. `inherited_fd` is the number a spawn child was given.
pub(crate) fn start_in_child(inherited_fd: Option<RawFd>) {
    let parents = PIPE.lock().unwrap_or_else(|e| e.into_inner()).take();
    let read = match parents {
        // A fork child: the pipe is its parent's. Keep the read end, drop the write end.
        Some((owner, read, write)) if owner != sys::getpid() => {
            drop(write);
            Some(read)
        }
        Some(own) => {
            // Our own pipe (cannot happen in a fresh child); put it back.
            *PIPE.lock().unwrap_or_else(|e| e.into_inner()) = Some(own);
            None
        }
        // SAFETY: the number came from our parent, which kept that descriptor open
        // for us across `exec`; nothing else in this process owns it.
        None => inherited_fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
    };
    let Some(read) = read else {
        return;
    };
    if !enabled() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("conc-process-watchdog".into())
        .stack_size(64 * 1024)
        .spawn(move || watch(read));
}

/// Blocks until the pipe reports end of file, then ends this process.
fn watch(read: OwnedFd) {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(&read, &mut byte) {
            Ok(1) | Err(rustix::io::Errno::INTR) => continue,
            _ => {}
        }
        // End of file (or the pipe broke): the parent is gone. Die as the death signal
        // would have made us die.
        let _ = sys::kill(sys::getpid(), libc::SIGKILL);
        return;
    }
}
