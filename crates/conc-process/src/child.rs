//! One started child: waiting for it, reaping it, signalling it.
//!
//! A child is either *direct* (this process forked or spawned it, so this process reaps
//! it with `waitpid`) or *served* (the fork server forked it and reports its exit status
//! on the reply socket of its request, through [`ServedBy`]). Either way the exit code is recorded once, under `status`,
//! and signals are only sent while no status is recorded: an unreaped child keeps its
//! pid, so a signal can never hit a recycled pid.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::ProcessError;
use crate::sys::{self, Backoff, Pid};

/// Exit code recorded when the child was reaped by someone else (for example a
/// `waitpid(-1)` elsewhere in the program) and its real status is lost.
pub(crate) const UNKNOWN_EXIT: i32 = 255;

/// A served child's link to the server that forked it and reaps it: given by the start
/// method that served it (this module knows none).
pub(crate) trait ServedBy: std::fmt::Debug + Send + Sync {
    /// Readable once [`try_exit`](ServedBy::try_exit) has an answer.
    fn sentinel(&self) -> BorrowedFd<'_>;
    /// The exit status, if the server has reported it (or is gone); never blocks.
    fn try_exit(&self) -> Option<i32>;
    /// Sends `sig` to the child: only the server, which reaps it, knows whether the pid
    /// still names it.
    fn signal(&self, pid: Pid, sig: libc::c_int) -> std::io::Result<()>;
}

#[derive(Debug)]
pub(crate) enum Reaper {
    /// Our own child: `waitpid` it; the pidfd (Linux) says when.
    Direct,
    /// A server's child: its status and its signals go through the server.
    Server(Box<dyn ServedBy>),
}

/// A started child process, shared by its [`Process`](crate::Process) handle, the
/// registry of active children, and the `ChildProcess` handles given out.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: Pid,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    reaper: Reaper,
    pidfd: Option<OwnedFd>,
    /// The process that started the child: the only one that may wait for it or
    /// signal it. A handle inherited by a fork child answers there without touching
    /// the child (and without the status mutex, which another thread may have held at
    /// the fork).
    owner: Pid,
    status: Mutex<Option<i32>>,
}

impl Child {
    pub(crate) fn new(pid: Pid, name: String, daemon: bool, reaper: Reaper) -> Self {
        // A served child is reaped and signalled by the server: no pidfd needed.
        let pidfd = match reaper {
            Reaper::Direct => sys::pidfd_open(pid),
            Reaper::Server(_) => None,
        };
        Child {
            pid,
            name,
            daemon,
            reaper,
            pidfd,
            owner: sys::getpid(),
            status: Mutex::new(None),
        }
    }

    /// Whether the calling process started this child.
    pub(crate) fn is_ours(&self) -> bool {
        sys::getpid() == self.owner
    }

    fn status(&self) -> MutexGuard<'_, Option<i32>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A descriptor that becomes readable when the child ends (Python's `sentinel`):
    /// the pidfd of a direct child, the server's reply socket for a served one.
    pub(crate) fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        if !self.is_ours() {
            return Err(ProcessError::InvalidState(
                "a sentinel belongs to the process that started the child",
            ));
        }
        match &self.reaper {
            Reaper::Server(link) => Ok(link.sentinel()),
            Reaper::Direct => self.pidfd.as_ref().map(AsFd::as_fd).ok_or_else(|| {
                ProcessError::os(
                    "cannot make the child's sentinel",
                    std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        "no pidfd for this child (pidfd_open needs Linux 5.3+)",
                    ),
                )
            }),
        }
    }

    /// The exit code if the child has ended (reaping it if it is ours), without blocking.
    /// In a process that did not start the child: `None`, without waiting or locking.
    pub(crate) fn poll(&self) -> Option<i32> {
        if !self.is_ours() {
            return None;
        }
        let mut status = self.status();
        if status.is_none() {
            *status = match &self.reaper {
                Reaper::Direct => match sys::try_reap(self.pid) {
                    Ok(code) => code,
                    // ECHILD: someone else reaped it; the status is lost.
                    Err(_) => Some(UNKNOWN_EXIT),
                },
                Reaper::Server(link) => link.try_exit(),
            };
        }
        *status
    }

    /// Waits until the child ends or `deadline` passes; the exit code, or `None` on
    /// timeout.
    /// In a process that did not start the child: `None` at once.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<i32> {
        if !self.is_ours() {
            return None;
        }
        let wake = match &self.reaper {
            Reaper::Direct => self.pidfd.as_ref().map(AsFd::as_fd),
            Reaper::Server(link) => Some(link.sentinel()),
        };
        let mut backoff = Backoff::new();
        loop {
            if let Some(code) = self.poll() {
                return Some(code);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            // Readable once the child has ended (or its status has arrived); then
            // `poll` collects it. Without a pidfd, or readable with nothing whole to
            // read yet, back off.
            let readable = wake
                .is_some_and(|fd| sys::wait_readable(fd.as_raw_fd(), deadline).unwrap_or(false));
            if readable && let Some(code) = self.poll() {
                return Some(code);
            }
            backoff.sleep(deadline);
        }
    }

    /// Sends `sig` unless the child has already ended (Python ignores that case too).
    /// For a served child the signal goes through the server and is sent
    /// asynchronously.
    pub(crate) fn signal(&self, sig: libc::c_int) -> std::io::Result<()> {
        if !self.is_ours() {
            return Err(std::io::Error::other(
                "can only signal a child process: this handle was inherited from the \
                 process that started it",
            ));
        }
        // Holding `status` keeps `poll` from reaping between the check and the kill.
        let status = self.status();
        if status.is_some() {
            return Ok(());
        }
        let sent = match (&self.reaper, &self.pidfd) {
            // Only the server reaps its children, so only it can tell whether the pid
            // still names this child: it sends the signal.
            (Reaper::Server(link), _) => link.signal(self.pid, sig),
            // A pidfd keeps naming this child even if something else reaped it.
            (Reaper::Direct, Some(fd)) => sys::pidfd_send_signal(fd, sig),
            (Reaper::Direct, None) => sys::kill(self.pid, sig),
        };
        match sent {
            // ESRCH: it ended and is waiting to be reaped (or, served, already reaped).
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }
}
