//! The "greenlet overflowed its stack" report.
//!
//! A greenlet that runs past its stack touches its slot's guard region and gets
//! `SIGSEGV` (or `SIGBUS`). A handler, installed once per process and run on the
//! thread's alternate signal stack (Rust's runtime sets one up for every thread it
//! starts), looks the faulting address up in a fixed table of slabs. If it lies in a
//! guard, it writes the message to stderr and aborts; otherwise it hands the signal to
//! the handler that was there before (Rust's own, which reports thread stack
//! overflows), or restores the default action.
//!
//! Only async-signal-safe operations run in the handler: atomic loads, `write(2)`,
//! `abort(3)`, `sigaction(2)`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// Slabs the handler can recognise; past this, overflow in further slabs is still
/// caught by the guard (the process dies with SIGSEGV) but without the message.
const TABLE: usize = 4096;

struct Entry {
    base: AtomicUsize,
    end: AtomicUsize,
    slot_size: AtomicUsize,
    guard: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to initialise the table
const EMPTY: Entry = Entry {
    base: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    slot_size: AtomicUsize::new(0),
    guard: AtomicUsize::new(0),
};

static SLABS: [Entry; TABLE] = [EMPTY; TABLE];

/// Removes its slab from the table when dropped.
pub(crate) struct Registration(usize);

impl Drop for Registration {
    fn drop(&mut self) {
        let entry = &SLABS[self.0];
        entry.end.store(0, Ordering::SeqCst);
        entry.base.store(0, Ordering::SeqCst);
    }
}

/// Records a slab so faults in its guards are reported; `None` if the table is full.
pub(crate) fn register(
    base: usize,
    len: usize,
    slot_size: usize,
    guard: usize,
) -> Option<Registration> {
    for (i, entry) in SLABS.iter().enumerate() {
        if entry
            .base
            .compare_exchange(0, base, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            entry.slot_size.store(slot_size, Ordering::SeqCst);
            entry.guard.store(guard, Ordering::SeqCst);
            // `end` last: the handler ignores entries whose `end` is 0.
            entry.end.store(base + len, Ordering::SeqCst);
            return Some(Registration(i));
        }
    }
    None
}

fn in_guard(addr: usize) -> bool {
    SLABS.iter().any(|entry| {
        let end = entry.end.load(Ordering::SeqCst);
        let base = entry.base.load(Ordering::SeqCst);
        if end == 0 || addr < base || addr >= end {
            return false;
        }
        let slot_size = entry.slot_size.load(Ordering::SeqCst);
        slot_size != 0 && (addr - base) % slot_size < entry.guard.load(Ordering::SeqCst)
    })
}

/// The actions that were installed before ours, for chaining (SIGSEGV, SIGBUS).
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs the handler for SIGSEGV and SIGBUS, once per process.
pub(crate) fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Record the current actions first, so the handler can always chain.
        // SAFETY: zeroed sigaction structs are valid out-parameters; a null new action
        // makes sigaction(2) only read the current one.
        let previous = SIGNALS.map(|signal| unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old);
            old
        });
        if PREVIOUS.set(previous).is_err() {
            return;
        }
        for signal in SIGNALS {
            // SAFETY: a zeroed sigaction is a valid "no flags" value that we fill in;
            // the handler has the three-argument signature SA_SIGINFO requires.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_fault as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}

extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if in_guard(addr) {
        const MESSAGE: &[u8] =
            b"fatal: greenlet overflowed its stack (raise it with conc_coro::set_stack_size)\n";
        // SAFETY: write(2) and abort(3) are async-signal-safe; the buffer is static.
        unsafe {
            libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
            libc::abort();
        }
    }
    let index = usize::from(signal == libc::SIGBUS);
    // PREVIOUS is set before the handler is installed and never changes afterwards.
    match PREVIOUS.get().map(|actions| actions[index]) {
        Some(old) if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN => {
            // Run it as the kernel would have: with its own mask added to the blocked
            // signals, and reset to the default first if it asked for SA_RESETHAND.
            // SAFETY: pthread_sigmask and sigaction are async-signal-safe; the sets
            // are plain values on this stack.
            let saved = unsafe {
                let mut saved: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_BLOCK, &old.sa_mask, &mut saved);
                if old.sa_flags & libc::SA_RESETHAND != 0 {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(signal, &action, std::ptr::null_mut());
                }
                saved
            };
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    // SAFETY: with SA_SIGINFO the stored value is a three-argument handler.
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                handler(signal, info, context);
            } else {
                let handler: extern "C" fn(libc::c_int) =
                    // SAFETY: without SA_SIGINFO the stored value is a one-argument handler.
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                handler(signal);
            }
            // SAFETY: restores the mask saved above; async-signal-safe.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut()) };
        }
        _ => {
            // Restore the default action; returning re-runs the faulting instruction,
            // which then kills the process the ordinary way.
            // SAFETY: a zeroed sigaction with SIG_DFL is valid; sigaction is
            // async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
}
