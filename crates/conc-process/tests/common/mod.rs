//! Shared by the integration tests: forking helpers for the process-shared primitives'
//! tests, one test per start method for the process tests, and bounded waits.
//!
//! Test binaries run tests on several threads, so a raw forked child does only what its
//! test needs and leaves with `_exit` (no destructors, no libtest machinery). A panic in
//! the child becomes exit code 101.
#![allow(dead_code, unreachable_pub)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Forks; the child runs `f` and `_exit`s with its return value (101 on panic).
pub fn fork(f: impl FnOnce() -> i32) -> libc::pid_t {
    keep_child_statuses();
    // SAFETY: the child only runs `f` (test code written for a forked child) and then
    // `_exit`s without unwinding into the parent's frames.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: ends the child at once, as a forked child of a threaded test must.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// A test runner started with SIGCHLD ignored would have the kernel reap the children
/// these helpers fork, and `wait` would fail: restore the default action (which differs
/// from ignoring only in keeping exit statuses).
pub fn keep_child_statuses() {
    // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// Forks a child that receives `value` through a `Connection` (so it gets a freshly
/// mapped copy, as a `spawn`ed child would) and runs `f` on it.
pub fn fork_with<T, F>(value: &T, f: F) -> libc::pid_t
where
    T: Serialize + DeserializeOwned + Clone,
    F: FnOnce(T) -> i32,
{
    let (rx, tx) = conc_process::pipe::<T>(false).unwrap();
    tx.send(value.clone()).unwrap();
    let pid = fork(move || {
        let value = rx.recv().expect("receiving the test value");
        f(value)
    });
    drop(tx);
    pid
}

/// Waits for `pid`: its exit code, or minus the signal that killed it.
pub fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EINTR),
            "waitpid failed"
        );
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    }
}

/// Asserts the child exited with code 0.
pub fn join(pid: libc::pid_t) {
    assert_eq!(wait(pid), 0, "child {pid} failed");
}

/// SIGKILLs `pid` and reaps it.
pub fn kill(pid: libc::pid_t) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(wait(pid), -libc::SIGKILL);
}

/// Polls `cond` until true, for at most `limit` (generous: the machine is loaded).
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Turns a boolean check in a child into an exit code.
pub fn code(ok: bool) -> i32 {
    if ok { 0 } else { 1 }
}

/// Generous bound for anything that should take milliseconds: the tests must pass on a
/// loaded 2-core machine, and running out of it means a hang, not slowness.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The same bound, under the name the primitives' tests use.
pub const LONG: Duration = PATIENCE;

/// Expands `fn name(method: StartMethod) { body }` into one `#[test]` per start
/// method, in a module named after the test: `name::fork`, `name::spawn`,
/// `name::forkserver`.
#[macro_export]
macro_rules! each_method {
    ($(#[$attr:meta])* fn $name:ident($m:ident: StartMethod) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$attr])*
            fn run($m: conc_process::StartMethod) $body
            #[test]
            fn fork() {
                run(conc_process::StartMethod::Fork)
            }
            #[test]
            fn spawn() {
                run(conc_process::StartMethod::Spawn)
            }
            #[test]
            fn forkserver() {
                run(conc_process::StartMethod::Forkserver)
            }
        }
    };
}

/// Whether a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// For a child that should stay alive until the test kills it: sleeps, but dies with
/// the forking thread (`PR_SET_PDEATHSIG`) and after a minute at most, so a failing
/// test cannot leave it behind holding the test runner's output pipes.
pub fn linger() -> i32 {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; no memory involved.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    0
}

/// The calling thread's kernel id, to hand to [`thread_blocked`].
pub fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and touches no memory.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Whether thread `tid` of this process is asleep in the kernel (state `S`): how a test
/// knows another thread has reached its blocking call without guessing with a sleep.
pub fn thread_blocked(tid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "S"),
        Err(_) => false,
    }
}
