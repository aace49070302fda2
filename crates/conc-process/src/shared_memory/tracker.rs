//! The cleanup tracker of named shared memory (see the parent module's docs): a
//! double-forked process that unlinks every name still registered once every process
//! holding its socket has exited.

use super::*;

/// One tracker message: op, name length, `/name`, NUL.
pub(super) const RECORD: usize = 256;

/// Names one tracker can hold at once; more are not tracked (and reported).
const CAPACITY: usize = 4096;

/// This process's end of the tracker socket, or -1. Inherited by `fork`.
static FD: AtomicI32 = AtomicI32::new(-1);
/// Device and inode of that socket, to notice when the fd number was closed and
/// reused by something else (a child that closed its descriptors).
static DEV: AtomicU64 = AtomicU64::new(0);
static INO: AtomicU64 = AtomicU64::new(0);
/// Pid of the process one of whose threads is registering (and maybe starting a
/// tracker), 0 when free. Not a `Mutex`: a child forked (by other code) while a
/// thread of its parent held it would inherit it locked forever. A value that is not
/// our pid was inherited that way, and is ours to take.
static BUSY: AtomicU32 = AtomicU32::new(0);

/// Serializes registration within this process (see [`BUSY`]).
struct Busy;

impl Busy {
    fn enter() -> Busy {
        let me = std::process::id();
        loop {
            let holder = BUSY.load(Ordering::Acquire);
            // 0 is free; another pid was inherited from a parent through fork.
            if holder != me
                && BUSY
                    .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Busy;
            }
            // Another thread of this process is registering: a few system calls.
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.store(0, Ordering::Release);
    }
}

fn identity(fd: libc::c_int) -> Option<(u64, u64)> {
    // SAFETY: `st` is a valid out-pointer; a bad fd just fails.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// Our live tracker socket, if any.
fn current() -> Option<libc::c_int> {
    let fd = FD.load(Ordering::Acquire);
    (fd >= 0 && identity(fd) == Some((DEV.load(Ordering::Acquire), INO.load(Ordering::Acquire))))
        .then_some(fd)
}

fn record(op: u8, name: &CStr) -> [u8; RECORD] {
    let bytes = name.to_bytes_with_nul();
    let mut rec = [0u8; RECORD];
    rec[0] = op;
    rec[1] = bytes.len() as u8;
    rec[2..2 + bytes.len()].copy_from_slice(bytes);
    rec
}

fn send(fd: libc::c_int, rec: &[u8; RECORD]) -> Result<(), std::io::Error> {
    loop {
        // SAFETY: `rec` is a live buffer of RECORD bytes; MSG_NOSIGNAL turns a dead
        // tracker into EPIPE instead of SIGPIPE.
        let n = unsafe { libc::send(fd, rec.as_ptr().cast(), RECORD, libc::MSG_NOSIGNAL) };
        if n == RECORD as isize {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if n < 0 && err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(err);
    }
}

/// Whether a failed `send` means the tracker is gone (rather than, say, a
/// momentary lack of memory, after which replacing a live tracker would make it
/// unlink every name it holds).
fn tracker_gone(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
    )
}

/// Registers `name` for unlinking when this process tree is gone, starting the
/// tracker if needed.
pub(super) fn register(name: &CStr) -> Result<(), ProcessError> {
    // The tracker's table is fixed (it cannot allocate after the fork): refuse a
    // name it could not hold instead of leaving it uncleaned silently. Counted per
    // process (a fork child starts from its parent's count, which shares the
    // tracker).
    if LIVE.load(Ordering::SeqCst) >= CAPACITY {
        return Err(ProcessError::InvalidState(
            "the shared memory tracker already holds 4096 names; unlink some first",
        ));
    }
    let rec = record(b'R', name);
    let _busy = Busy::enter();
    if let Some(fd) = current() {
        match send(fd, &rec) {
            Ok(()) => {
                LIVE.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
            Err(e) if !tracker_gone(&e) => {
                return Err(ProcessError::os(
                    "registering with the shared memory tracker",
                    e,
                ));
            }
            Err(_) => {}
        }
    }
    // No tracker, or it died: start one.
    let fd = start()?;
    send(fd, &rec)
        .map_err(|e| ProcessError::os("registering with the shared memory tracker", e))?;
    LIVE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Cancels the cleanup of `name` (best effort: without a tracker there is nothing
/// to cancel).
pub(super) fn unregister(name: &CStr) {
    // Under `Busy`, like `register`: a concurrent tracker restart must not close
    // and reuse the descriptor between our check and our send.
    let _busy = Busy::enter();
    if let Some(fd) = current()
        && send(fd, &record(b'U', name)).is_ok()
    {
        let _ = LIVE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

/// Names this process registered and did not unregister.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Starts a tracker; returns our end of its socket.
fn start() -> Result<libc::c_int, ProcessError> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(ProcessError::last_os("socketpair (shared memory tracker)"));
    }
    let (ours, theirs) = (fds[0], fds[1]);
    // Allocated before the fork: the tracker must not allocate.
    let mut table = vec![0u8; CAPACITY * RECORD];
    let table_ptr = table.as_mut_ptr();
    // SAFETY: fork; the child branch below only calls async-signal-safe functions.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // Intermediate child: fork the tracker and leave, so the tracker is
        // reparented and never our child to reap.
        // SAFETY: async-signal-safe calls only; `tracker_main` never returns.
        unsafe {
            if libc::fork() == 0 {
                tracker_main(theirs, table_ptr);
            }
            libc::_exit(0);
        }
    }
    drop(table);
    // SAFETY: `theirs` is our copy of the tracker's end: close it so that only the
    // tracker holds it.
    unsafe { libc::close(theirs) };
    if pid < 0 {
        let err = ProcessError::last_os("fork (shared memory tracker)");
        // SAFETY: our own fd.
        unsafe { libc::close(ours) };
        return Err(err);
    }
    let mut status = 0;
    // SAFETY: waiting for the intermediate child we just forked.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
    // The fd of an old, dead tracker (if any) is replaced; close it unless it was
    // reused for something else.
    if let Some(old) = current() {
        // SAFETY: verified to be our old tracker socket.
        unsafe { libc::close(old) };
    }
    let (dev, ino) = identity(ours).expect("fstat of a fresh socket");
    DEV.store(dev, Ordering::Release);
    INO.store(ino, Ordering::Release);
    FD.store(ours, Ordering::Release);
    Ok(ours)
}

/// The tracker process. Async-signal-safe calls only (we may have been forked from a
/// multi-threaded program): no allocation, no locks, no Rust std I/O.
///
/// # Safety
///
/// Call only in a freshly forked child; `table` must point to `CAPACITY * RECORD`
/// zeroed bytes.
unsafe fn tracker_main(sock: libc::c_int, table: *mut u8) -> ! {
    // SAFETY: every call below is async-signal-safe (close, syscall, setsid, chdir,
    // sigaction, recv, shm_unlink, _exit) and uses only our stack and `table`.
    unsafe {
        close_all_except(sock);
        libc::setsid();
        // Do not keep the creator's working directory (and its mount) busy.
        libc::chdir(c"/".as_ptr());
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::sigaction(sig, &ignore, std::ptr::null_mut());
        }
        let mut rec = [0u8; RECORD];
        loop {
            let n = libc::recv(sock, rec.as_mut_ptr().cast(), RECORD, 0);
            if n == 0 {
                break; // every holder of the other end is gone
            }
            if n < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break;
            }
            if n as usize != RECORD {
                continue;
            }
            let len = rec[1] as usize;
            if len == 0 || len > RECORD - 2 {
                continue;
            }
            let name = &rec[2..2 + len];
            match rec[0] {
                b'R' => {
                    // First free slot (slot byte 0 is the length, 0 = free).
                    for i in 0..CAPACITY {
                        let slot = table.add(i * RECORD);
                        if *slot == 0 {
                            *slot = len as u8;
                            std::ptr::copy_nonoverlapping(name.as_ptr(), slot.add(1), len);
                            break;
                        }
                    }
                }
                b'U' => {
                    for i in 0..CAPACITY {
                        let slot = table.add(i * RECORD);
                        if *slot as usize == len
                            && std::slice::from_raw_parts(slot.add(1), len) == name
                        {
                            *slot = 0;
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        for i in 0..CAPACITY {
            let slot = table.add(i * RECORD);
            if *slot != 0 {
                // The stored name ends with its NUL.
                libc::shm_unlink(slot.add(1).cast());
            }
        }
        libc::_exit(0)
    }
}

/// Closes every descriptor except `keep`.
///
/// # Safety
///
/// Only in a forked child that owns nothing else.
unsafe fn close_all_except(keep: libc::c_int) {
    let keep = keep as libc::c_uint;
    // SAFETY: close_range only closes descriptors; the raw syscall needs no glibc
    // 2.34 wrapper. Fallback: a close loop up to the descriptor limit.
    unsafe {
        let ok = (keep == 0 || libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) == 0)
            && libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32) == 0;
        if !ok {
            let mut lim: libc::rlimit = std::mem::zeroed();
            let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur.min(1 << 20) as libc::c_uint
            } else {
                1024
            };
            for fd in 0..max {
                if fd != keep {
                    libc::close(fd as libc::c_int);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registration lock inherited through fork (held by "another pid") is taken
    /// over instead of waited for.
    #[test]
    fn inherited_busy_flag_is_taken_over() {
        BUSY.store(std::process::id().wrapping_add(1), Ordering::Release);
        let busy = Busy::enter();
        assert_eq!(BUSY.load(Ordering::Acquire), std::process::id());
        drop(busy);
        assert_eq!(BUSY.load(Ordering::Acquire), 0);
    }
}
