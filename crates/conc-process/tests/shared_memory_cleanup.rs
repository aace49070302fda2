//! The `SharedMemory` cleanup tracker (Python's `resource_tracker`; CPython's
//! `_TestSharedMemory.test_shared_memory_cleaned_after_process_termination`).
//!
//! The parent process of this test binary never calls `SharedMemory::create`, so it
//! never starts a tracker: each forked child that creates a name starts its own, and
//! the name must disappear once that child is gone, however it ended.

mod common;

use std::time::Duration;

use common::{LONG, eventually, fork, join, kill};
use conc_process::{Event, SharedMemory};

fn unique(tag: &str) -> String {
    format!("conc_cleanup_{}_{tag}", std::process::id())
}

fn exists(name: &str) -> bool {
    SharedMemory::attach(name).is_ok()
}

/// A child creates a name and `_exit`s without unlinking: the name goes away. The
/// tracker also must not hold on to descriptors it inherited: a pipe whose write end
/// the child had must reach end-of-file once the child and the parent close it.
#[test]
fn name_unlinked_after_child_exits() {
    let name = unique("exit");
    let mut fds = [0; 2];
    // SAFETY: valid out-array; no CLOEXEC, so the child and (if buggy) tracker inherit.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let child = {
        let name = name.clone();
        fork(move || {
            let shm = SharedMemory::create(Some(&name), 64).unwrap();
            shm.write(0, b"left behind").unwrap();
            0
        })
    };
    join(child);
    // SAFETY: our own write end.
    unsafe { libc::close(fds[1]) };
    let mut byte = 0u8;
    // SAFETY: reading one byte into `byte`; returns 0 at end-of-file.
    let n = unsafe { libc::read(fds[0], (&mut byte as *mut u8).cast(), 1) };
    assert_eq!(
        n, 0,
        "the pipe must see EOF: no tracker may hold its write end"
    );
    // SAFETY: our own read end.
    unsafe { libc::close(fds[0]) };
    assert!(
        eventually(LONG, || !exists(&name)),
        "{name} was not cleaned up"
    );
}

/// A child creates a name and is SIGKILLed: the name goes away.
#[test]
fn name_unlinked_after_child_is_killed() {
    let name = unique("kill");
    let created = Event::new();
    let child = {
        let (name, created) = (name.clone(), created.clone());
        fork(move || {
            let _shm = SharedMemory::create(Some(&name), 64).unwrap();
            created.set();
            common::linger()
        })
    };
    assert!(created.wait_timeout(LONG));
    assert!(exists(&name));
    kill(child);
    assert!(
        eventually(LONG, || !exists(&name)),
        "{name} was not cleaned up"
    );
}

/// A name its creator unlinked is unregistered: when another process re-creates it
/// and the first creator then exits, the first tracker leaves the new block alone.
#[test]
fn unlinked_names_are_unregistered() {
    let name = unique("unreg");
    let (unlinked, recreated, finish) = (Event::new(), Event::new(), Event::new());
    let first = {
        let (name, unlinked, finish) = (name.clone(), unlinked.clone(), finish.clone());
        fork(move || {
            let shm = SharedMemory::create(Some(&name), 8).unwrap();
            shm.unlink().unwrap();
            unlinked.set();
            finish.wait_timeout(LONG);
            0 // exits: its tracker runs now
        })
    };
    assert!(unlinked.wait_timeout(LONG));
    let second = {
        let (name, recreated) = (name.clone(), recreated.clone());
        fork(move || {
            let _shm = SharedMemory::create(Some(&name), 8).unwrap();
            recreated.set();
            common::linger()
        })
    };
    assert!(recreated.wait_timeout(LONG));
    finish.set();
    join(first);
    // Give the first tracker time to (wrongly) act, then check the name survived.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        exists(&name),
        "the first creator's tracker removed a name it had unlinked"
    );
    kill(second);
    assert!(
        eventually(LONG, || !exists(&name)),
        "{name} was not cleaned up"
    );
}
