//! The engine's system calls, each wrapped once, and its one platform switch.
//!
//! The engine is built on Linux interfaces (pidfds, futexes, `PR_SET_PDEATHSIG`,
//! `memfd`, `close_range`, `/proc/self`), so the ladder below has one rung: Linux, and
//! a compile error naming it everywhere else, rather than a crate that builds and then
//! fails at run time. A port adds a rung here (a module per platform exporting the same
//! functions) and nothing outside this folder changes. Calls that `rustix` offers
//! safely (the transport's sockets, the shared segments' memfds) are made through it at
//! their point of use; everything that needs `unsafe` or raw `libc` lives here.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "conc-process supports Linux only (it uses pidfds, futexes, PR_SET_PDEATHSIG, memfd, \
     close_range and /proc); other targets are not supported yet"
);

#[cfg(target_os = "linux")]
mod fd;
#[cfg(target_os = "linux")]
mod futex;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod shm;

#[cfg(target_os = "linux")]
pub(crate) use {fd::*, futex::*, process::*, shm::*};
