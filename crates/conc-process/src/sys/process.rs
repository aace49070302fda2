//! Processes: ids, fork, reaping, signals, pidfds, limits, the child's standard
//! descriptors.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Process id, as the kernel counts them.
pub(crate) type Pid = libc::pid_t;

/// `getpid()`, from conc-thread's cache (cleared in every fork child by a handler
/// installed before the first value is cached, so a child never sees its parent's id).
#[inline]
pub(crate) fn getpid() -> Pid {
    conc_thread::sync::process_id() as Pid
}

/// `getppid()`.
pub(crate) fn getppid() -> Pid {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// Whether the calling thread is the process's main thread (its tid is the pid).
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid == getpid() as libc::c_long
}

/// Python's `Process.exitcode` for a raw wait status: the exit code, or minus the signal.
pub(crate) fn decode_wait_status(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// `waitpid(pid, WNOHANG)`: `Some(exitcode)` once the child has ended (and is now
/// reaped), `None` while it runs.
pub(crate) fn try_reap(pid: Pid) -> io::Result<Option<i32>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        match r {
            0 => return Ok(None),
            r if r == pid => return Ok(Some(decode_wait_status(status))),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// Makes sure this process's children leave an exit status to collect. With SIGCHLD
/// ignored (or a handler installed with `SA_NOCLDWAIT`) the kernel reaps children by
/// itself and every exit code would be lost (Python then reports 0 or raises); the
/// default action keeps them. SIG_IGN and SIG_DFL differ in nothing else for SIGCHLD,
/// so the engine resets it, once, with a warning that says why.
pub(crate) fn keep_exit_statuses() {
    // SAFETY: a null new action makes sigaction(2) only read the current one into a
    // zeroed struct of ours.
    let current = unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut current);
        current
    };
    let ignored = current.sa_sigaction == libc::SIG_IGN;
    let no_wait = current.sa_flags & libc::SA_NOCLDWAIT != 0;
    if !ignored && !no_wait {
        return;
    }
    let mut action = current;
    if ignored {
        action.sa_sigaction = libc::SIG_DFL;
    }
    action.sa_flags &= !libc::SA_NOCLDWAIT;
    // SAFETY: installs a copy of the current action with only the auto-reaping removed.
    unsafe { libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut()) };
    // A flag, not a `Once` (see `process::warn_if_threads`).
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        log::warn!(
            "SIGCHLD was {}: children would be reaped by the kernel and their exit codes \
             lost; conc-process restored the default so they can be collected",
            if ignored {
                "ignored"
            } else {
                "handled with SA_NOCLDWAIT"
            }
        );
    }
}

/// `kill(pid, sig)`.
pub(crate) fn kill(pid: Pid, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions; callers make sure `pid` is a
    // child that has not been reaped yet, so it cannot name a recycled pid.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A file descriptor that becomes readable when process `pid` ends (Linux 5.3+).
/// `None` on older kernels; callers then poll `waitpid`.
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `sig` through a pidfd: unlike `kill`, it can never reach a recycled pid.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is a live pidfd owned by the caller; the info pointer may be null.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks the kernel (if `death_signal`) to send `SIGKILL` to this process when the
/// thread that created it ends, then checks the parent did not die before the request
/// took effect. The caller decides `death_signal` (the watchdog's policy) before the
/// fork.
///
/// Only async-signal-safe calls: this runs between `fork` and `exec`.
pub(crate) fn die_with_parent(expected_parent: Pid, death_signal: bool) {
    if death_signal {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number; no pointers involved.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
    }
    if getppid() != expected_parent {
        // The parent is already gone: the death signal will never come.
        // SAFETY: _exit is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(1) };
    }
}

/// Number of threads in this process (`num_threads` of `/proc/self/stat`, one small
/// read), or `None` where unknown.
pub(crate) fn thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name (which may contain spaces): state is
    // field 3, num_threads field 20.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Raises this process's soft limit on open descriptors to its hard limit (the fork
/// server holds two per child; the usual soft limit of 1024 would cap it near 500).
/// Best effort: the limit stays as it was if it cannot be changed.
pub(crate) fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// `fork()`.
///
/// # Safety
///
/// In the child only the calling thread exists; the caller must make the child run
/// code that does not depend on locks other threads may have held at the fork.
pub(crate) unsafe fn fork() -> io::Result<Pid> {
    // SAFETY: the caller upholds the post-fork contract above.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pid)
    }
}

/// Ends this process at once with `code`, after flushing Rust's standard streams and
/// without running `atexit` handlers inherited from the parent.
pub(crate) fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Points file descriptor 0 at `/dev/null`.
/// Opens `/dev/null` on any of descriptors 0, 1 and 2 that is closed. A program
/// started with stdin (say) closed would otherwise hand fd 0 to the next socket or pipe
/// it opens, and a child, which puts `/dev/null` on its stdin, would close that socket
/// under the feet of whatever uses it.
pub(crate) fn ensure_std_fds_open() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only asks whether `fd` is open; open/dup2/close act on
        // descriptors we own (the fresh one) or a closed slot.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) != -1 {
                continue;
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 && null != fd {
                libc::dup2(null, fd);
                libc::close(null);
            }
        }
    }
}

pub(crate) fn stdin_from_devnull() {
    // SAFETY: a NUL-terminated path and plain flags; dup2 onto fd 0 atomically replaces
    // it, and the temporary descriptor is closed.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

/// Sleeps in growing steps, for the waits that have no file descriptor to poll.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff(Duration::from_micros(100))
    }

    /// Sleeps one step (never past `deadline`) and lengthens the next, up to 10 ms.
    pub(crate) fn sleep(&mut self, deadline: Option<Instant>) {
        let mut step = self.0;
        if let Some(d) = deadline {
            step = step.min(d.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(step);
        self.0 = (self.0 * 2).min(Duration::from_millis(10));
    }
}

/// Logical CPUs online (Python's `os.cpu_count()`; see also
/// [`std::thread::available_parallelism`], which counts only the CPUs this process
/// may use, like Python 3.13's `os.process_cpu_count()`).
pub(crate) fn cpu_count() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Whether `signal`'s current action in this process is "ignore" (inherited by a
/// child across `exec`, unlike a handler).
pub(crate) fn signal_ignored(signal: i32) -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `current`.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: filled by a successful sigaction (zeroed otherwise).
    rc == 0 && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// Fills `buf` with random bytes from the kernel (`getrandom`), fit for a secret
/// challenge.
pub(crate) fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn thread_count_sees_new_threads() {
        // Other tests start and end threads meanwhile (a few at a time, one per test
        // thread), so look for a change far larger than theirs.
        const NEW: usize = 32;
        const SLACK: usize = 16;
        let before = super::thread_count().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let (up_tx, up_rx) = std::sync::mpsc::channel::<()>();
        let threads: Vec<_> = (0..NEW)
            .map(|_| {
                let (rx, up_tx) = (rx.clone(), up_tx.clone());
                std::thread::spawn(move || {
                    up_tx.send(()).unwrap();
                    let _ = rx.lock().unwrap().recv();
                })
            })
            .collect();
        for _ in 0..NEW {
            up_rx.recv().unwrap();
        }
        let during = super::thread_count().unwrap();
        assert!(
            during >= before + NEW - SLACK,
            "{before} -> {during} threads"
        );
        drop(tx);
        for t in threads {
            t.join().unwrap();
        }
        let after = super::thread_count().unwrap();
        assert!(after + NEW - SLACK <= during, "{during} -> {after} threads");
    }

    #[test]
    fn the_cached_pid_follows_a_fork() {
        let parent = super::getpid();
        assert_eq!(parent, std::process::id() as super::Pid);
        // SAFETY: resetting SIGCHLD keeps the child's exit status for waitpid.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        // SAFETY: the child compares two pids and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: getpid has no preconditions.
            let ok = super::getpid() == unsafe { libc::getpid() } && super::getpid() != parent;
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(i32::from(!ok)) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
