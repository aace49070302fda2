//! Futexes on shared memory (across processes, so never `_PRIVATE`) and the kernel's
//! thread ids.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// The calling thread's kernel id (unique among live threads of the PID namespace).
pub(crate) fn current_tid() -> u64 {
    // SAFETY: `gettid` takes no arguments, cannot fail, and touches no memory. The raw
    // syscall avoids needing glibc ≥ 2.30's wrapper.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid as u64
}

/// Sleeps on the shared futex `word` while it holds `seen`, for at most `slice`.
/// Returns `false` only when the slice ran out.
pub(crate) fn futex_wait(word: &AtomicU32, seen: u32, slice: Duration) -> bool {
    let ts = libc::timespec {
        tv_sec: slice.as_secs() as libc::time_t,
        tv_nsec: slice.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid aligned u32 in shared memory for the duration of the
    // call; FUTEX_WAIT (not _PRIVATE, so it works across processes) only reads it and
    // compares with `seen`; `ts` is a live timespec.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            seen,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ETIMEDOUT)
}

/// Wakes every thread, in any process, sleeping on the shared futex `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid aligned u32; it does not access other memory.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}
