//! One started child: waiting for it, reaping it, signalling it.
//!
//! A child is either *direct* (this process forked or spawned it, so this process reaps
//! it with `waitpid`) or *served* (the fork server forked it and reports its exit status
//! over its event channel). Either way the exit code is recorded once, under `status`,
//! and signals are only sent while no status is recorded: an unreaped child keeps its
//! pid, so a signal can never hit a recycled pid.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::ProcessError;
use crate::sys::{self, Backoff, Pid};

/// Exit code recorded when the child was reaped by someone else (for example a
/// `waitpid(-1)` elsewhere in the program) and its real status is lost.
pub(crate) const UNKNOWN_EXIT: i32 = 255;

/// Sends a signal to a served child: the server's function, given by the server's
/// client when it makes the `Child` (this module knows no start method).
pub(crate) type SignalThroughServer = fn(Pid, libc::c_int) -> std::io::Result<()>;

#[derive(Debug)]
pub(crate) enum Reaper {
    /// Our own child: `waitpid` it; the pidfd (Linux) says when.
    Direct,
    /// A server's child: its status arrives through [`Child::record_exit`], and only
    /// the server (which reaps it, so knows whether the pid still names it) signals it.
    Server(SignalThroughServer),
}

/// A started child process, shared by its [`Process`](crate::Process) handle, the
/// registry of active children and (for served children) the fork-server listener.
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
    exited: Condvar,
    /// A served child's sentinel: an eventfd made on first request, written when the
    /// exit is recorded (both under `status`).
    exit_event: OnceLock<OwnedFd>,
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
            exited: Condvar::new(),
            exit_event: OnceLock::new(),
        }
    }

    /// Whether the calling process started this child.
    pub(crate) fn is_ours(&self) -> bool {
        sys::getpid() == self.owner
    }

    fn status(&self) -> MutexGuard<'_, Option<i32>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the exit status of a served child (called by the fork-server listener).
    pub(crate) fn record_exit(&self, code: i32) {
        let mut status = self.status();
        if status.is_none() {
            *status = Some(code);
        }
        if let Some(event) = self.exit_event.get() {
            sys::eventfd_signal(event);
        }
        self.exited.notify_all();
    }

    /// A descriptor that becomes readable when the child ends (Python's `sentinel`):
    /// the pidfd of a direct child, an eventfd the listener writes for a served one.
    pub(crate) fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        if !self.is_ours() {
            return Err(ProcessError::InvalidState(
                "a sentinel belongs to the process that started the child",
            ));
        }
        let refused = |e| ProcessError::os("cannot make the child's sentinel", e);
        match self.reaper {
            Reaper::Direct => self.pidfd.as_ref().map(AsFd::as_fd).ok_or_else(|| {
                refused(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "no pidfd for this child (pidfd_open needs Linux 5.3+)",
                ))
            }),
            Reaper::Server(_) => {
                let status = self.status();
                if self.exit_event.get().is_none() {
                    let event = sys::eventfd().map_err(refused)?;
                    if status.is_some() {
                        sys::eventfd_signal(&event);
                    }
                    let _ = self.exit_event.set(event);
                }
                drop(status);
                Ok(self.exit_event.get().expect("set above").as_fd())
            }
        }
    }

    /// The exit code if the child has ended (reaping it if it is ours), without blocking.
    /// In a process that did not start the child: `None`, without waiting or locking.
    pub(crate) fn poll(&self) -> Option<i32> {
        if !self.is_ours() {
            return None;
        }
        let mut status = self.status();
        if status.is_none() && matches!(self.reaper, Reaper::Direct) {
            *status = match sys::try_reap(self.pid) {
                Ok(code) => code,
                // ECHILD: someone else reaped it; the status is lost.
                Err(_) => Some(UNKNOWN_EXIT),
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
        match self.reaper {
            Reaper::Server(_) => {
                let mut status = self.status();
                while status.is_none() {
                    status = match deadline {
                        None => self.exited.wait(status).unwrap_or_else(|e| e.into_inner()),
                        Some(d) => {
                            let left = d.checked_duration_since(Instant::now())?;
                            self.exited
                                .wait_timeout(status, left)
                                .unwrap_or_else(|e| e.into_inner())
                                .0
                        }
                    };
                }
                *status
            }
            Reaper::Direct => {
                let mut backoff = Backoff::new();
                loop {
                    if let Some(code) = self.poll() {
                        return Some(code);
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return None;
                    }
                    match &self.pidfd {
                        // Readable once the child has ended; then `poll` reaps it.
                        Some(fd) => {
                            if !sys::wait_readable(fd.as_raw_fd(), deadline).unwrap_or(false) {
                                backoff.sleep(deadline);
                            }
                        }
                        None => backoff.sleep(deadline),
                    }
                }
            }
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
            (Reaper::Server(signal), _) => signal(self.pid, sig),
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
