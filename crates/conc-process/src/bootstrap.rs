//! What crosses to a new child, and the code that runs first in it.
//!
//! `spawn` and `forkserver` children cannot receive a closure: they get a
//! [`Bootstrap`] message naming two functions of this program, the user's `fn(A) -> R`
//! and the monomorphised [`entry::<A, R>`] that receives `A` and sends back `R`. Code
//! addresses move under ASLR/PIE, so the message carries each address as an *offset*
//! from [`anchor`], a function of this crate; the child adds its own `anchor` address
//! back. That is sound because a spawned child executes `/proc/self/exe` (the very file
//! the parent runs, even if it was replaced on disk since) and a fork-server child is a
//! fork of the same image.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::{Deserialize, Serialize};

use crate::current::{self, Identity};
use crate::ipc::{Receiver, Sender};
use crate::wire::Descriptor;
use crate::{ProcessError, hooks, sys};

/// How the child's function ended, as sent back to the parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome<R> {
    /// The function returned this value.
    Returned(R),
    /// The function panicked with this message.
    Panicked(String),
    /// The child could not run the function or send its result (a serialization error).
    Failed(String),
}

/// Everything a `spawn` or `forkserver` child needs to run its function.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Bootstrap {
    pub(crate) identity: Identity,
    /// Offset of `entry::<A, R>` from `anchor`.
    pub(crate) entry: isize,
    /// Offset of the user's `fn(A) -> R` from `anchor`.
    pub(crate) func: isize,
    /// Where the arguments (`A`) arrive: a [`Receiver<A>`]'s socket.
    pub(crate) args: Descriptor,
    /// Where the [`Outcome<R>`] goes: a [`Sender`]'s socket.
    pub(crate) outcome: Descriptor,
}

/// The signature every `entry::<A, R>` shares once its types are erased.
type Entry = fn(usize, Descriptor, Descriptor) -> i32;

/// The reference point for code offsets. `#[inline(never)]` and a body of its own keep
/// it a distinct function with a stable address.
#[inline(never)]
fn anchor() -> usize {
    std::hint::black_box(0x00c0_ffee)
}

fn anchor_addr() -> usize {
    anchor as fn() -> usize as usize
}

/// The ASLR-independent offset of a code address.
pub(crate) fn code_offset(addr: usize) -> isize {
    debug_assert!(in_main_image(&[addr]));
    addr.wrapping_sub(anchor_addr()) as isize
}

/// The address in this process of the code at `offset` (the inverse of
/// [`code_offset`]).
pub(crate) fn code_addr(offset: isize) -> usize {
    anchor_addr().wrapping_add(offset as usize)
}

/// Whether every address lies in the same loaded object as [`anchor`]: the offsets
/// only mean the same code in the child if they do (a function from a dynamic library
/// could be mapped elsewhere, or not at all, there).
pub(crate) fn in_main_image(addrs: &[usize]) -> bool {
    let base = |addr: usize| -> Option<usize> {
        let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
        // SAFETY: `dladdr` only reads the address (it is not dereferenced) and fills
        // the `Dl_info` we own; it returns 0 when the address is in no object.
        let found = unsafe { libc::dladdr(addr as *const libc::c_void, info.as_mut_ptr()) };
        // SAFETY: zero-initialized, and filled in by `dladdr` when it succeeded.
        (found != 0).then(|| unsafe { info.assume_init() }.dli_fbase as usize)
    };
    let Some(home) = base(anchor_addr()) else {
        // No symbol information at all (a static binary without dladdr support): one
        // image is all there can be.
        return true;
    };
    addrs.iter().all(|&a| base(a) == Some(home))
}

/// The `entry` function for `A` and `R`, as an erased address.
pub(crate) fn entry_addr<A, R>() -> usize
where
    A: Serialize + for<'de> Deserialize<'de>,
    R: Serialize + for<'de> Deserialize<'de>,
{
    entry::<A, R> as Entry as usize
}

/// Runs in the child: receives `A`, calls the user's function, sends the [`Outcome`].
fn entry<A, R>(func: usize, args: Descriptor, outcome: Descriptor) -> i32
where
    A: Serialize + for<'de> Deserialize<'de>,
    R: Serialize + for<'de> Deserialize<'de>,
{
    let outcome = Sender::<Outcome<R>>::from_fd(outcome.0);
    let mut args = Receiver::<A>::from_fd(args.0);
    let args = match args.recv() {
        Ok(args) => args,
        Err(e) => {
            let _ = outcome.send(Outcome::Failed(format!(
                "the child could not receive its arguments: {e}"
            )));
            return 1;
        }
    };
    // SAFETY: `func` is the address of an `fn(A) -> R` of this very program image (see
    // the module docs), decoded from the offset `Process::new` computed from a value
    // of exactly that type; `entry::<A, R>` was chosen by the same `Process::new`, so
    // the types agree.
    let func: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    run_and_report(move || func(args), &outcome)
}

/// Runs `f`, catching a panic, and sends how it ended; returns the child's exit code
/// (0, or 1 after a panic, as Python exits 1 after an uncaught exception).
pub(crate) fn run_and_report<R, F>(f: F, outcome: &Sender<Outcome<R>>) -> i32
where
    F: FnOnce() -> R,
    R: Serialize + for<'de> Deserialize<'de>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => match outcome.send(Outcome::Returned(value)) {
            Ok(()) => 0,
            Err(ProcessError::Serialization(e)) => {
                let _ = outcome.send(Outcome::Failed(format!(
                    "the child could not serialize its result: {e}"
                )));
                1
            }
            // The parent dropped its handle: nobody wants the value, the work succeeded.
            Err(_) => 0,
        },
        Err(payload) => {
            let _ = outcome.send(Outcome::Panicked(conc_thread::panic_message(&*payload)));
            1
        }
    }
}

/// Runs a `Bootstrap` in a fresh child (spawn or forkserver) and exits.
pub(crate) fn run_bootstrap(boot: Bootstrap) -> ! {
    let func = code_addr(boot.func);
    let entry = code_addr(boot.entry);
    // SAFETY: `entry` is the address of an `entry::<A, R>` of this program image
    // (module docs), which has the `Entry` signature once erased.
    let entry = unsafe { std::mem::transmute::<usize, Entry>(entry) };
    child_main(boot.identity, move || entry(func, boot.args, boot.outcome))
}

/// The common life of every child: take on its identity, run, wind down, exit. Never
/// returns and never unwinds: above a fork child's frame is the parent's caller.
pub(crate) fn child_main(identity: Identity, body: impl FnOnce() -> i32) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        crate::watchdog::start_in_child(crate::watchdog::inherited());
        current::become_child(identity);
        let code = body();
        // Python's `_exit_function`: items still in this child's queue feeders go out,
        // daemonic children are terminated and the others joined (the exit hooks, in
        // that order), then the non-daemon threads started through conc-thread end.
        hooks::run_exit_hooks();
        conc_thread::join_non_daemon_threads();
        code
    }))
    .unwrap_or(1);
    sys::exit_now(code)
}
