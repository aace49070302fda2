//! The few system calls `std::process` does not offer: a close-on-exec pipe (for
//! `stderr=STDOUT` into a pipe), non-blocking mode, `kill(2)` and `poll(2)`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A pipe whose two ends are closed on `exec`, so no other child inherits them.
/// Returns `(read end, write end)`.
pub(super) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    {
        // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )))]
    {
        // No pipe2 here (macOS): a fork in another thread between pipe and fcntl could
        // leak the ends into that child, which std's own pipes accept too on these OSes.
        // SAFETY: `fds` is a writable array of two ints, as pipe requires.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for fd in fds {
            // SAFETY: `fd` was just returned open by pipe; F_SETFD takes an int flag.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    // SAFETY: pipe just returned these two descriptors open, and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Puts `fd` in non-blocking mode, so `communicate` never blocks in `read`/`write`
/// after `poll` said "ready" (a write larger than the free pipe space would otherwise
/// block).
pub(super) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is open for the lifetime of the borrow; F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; F_SETFL takes an int of flags.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `kill(pid, signal)`. A process that no longer exists is not an error (Python ignores
/// `ProcessLookupError` in `send_signal`).
pub(super) fn kill(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // The caller checked that `pid` is our unreaped child, so it cannot name a
    // recycled process.
    match crate::sys::kill(pid, signal) {
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}

/// `poll(2)` on `fds`, retried on `EINTR` (returning 0 so the caller re-checks its
/// deadline). `timeout_ms` is -1 for "no timeout".
pub(super) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable slice of pollfd and its length is passed with it.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n >= 0 {
        return Ok(n as usize);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(err)
    }
}

/// Whether `signal`'s current action in this process is "ignore" (inherited by a
/// child across `exec`, unlike a handler).
pub(super) fn signal_ignored(signal: i32) -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `current`.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: filled by a successful sigaction (zeroed otherwise).
    rc == 0 && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN
}
