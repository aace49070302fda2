//! The public items no CPython port reaches: each is used here the way a user would,
//! with a check that fails if it broke.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{PATIENCE, eventually};
use conc_process::subprocess::{PopenBuilder, Redirect};
use conc_process::{
    Array, Barrier, Lock, ProcessError, Queue, SimpleQueue, StartMethod, Value, get_context,
};

conc_process::test_support!();

fn wait_for_event(ev: conc_process::Event) {
    assert!(ev.wait_timeout(PATIENCE), "the test never set the event");
}

// Process::handle and the ChildProcess getters: a handle sees the same child, and can
// kill it.
#[test]
fn child_process_handle_getters_and_kill() {
    let ev = conc_process::Event::new();
    let p = get_context(StartMethod::Forkserver)
        .process(wait_for_event, ev.clone())
        .name("held")
        .daemon(true);
    assert!(p.handle().is_none(), "no handle before start");
    p.start().unwrap();
    let h = p.handle().expect("a started process has a handle");
    assert_eq!(h.pid(), p.pid().unwrap());
    assert_eq!(h.name(), "held");
    assert!(h.daemon());
    assert!(h.is_alive());
    assert_eq!(h.exitcode(), None, "still running");
    h.kill().unwrap();
    assert_eq!(h.wait(Some(PATIENCE)), Some(-libc::SIGKILL));
    assert_eq!(h.exitcode(), Some(-libc::SIGKILL));
    assert_eq!(
        p.exitcode(),
        Some(-libc::SIGKILL),
        "the Process sees the same end"
    );
    assert!(!p.is_alive());
    let plain = get_context(StartMethod::Fork).process(|_: ()| (), ());
    plain.start().unwrap();
    let h = plain.handle().unwrap();
    assert!(!h.daemon());
    assert_eq!(h.wait(Some(PATIENCE)), Some(0));
    assert_eq!(h.exitcode(), Some(0));
}

// PopenBuilder::shell runs through /bin/sh; Popen::stderr reads the error stream.
#[test]
fn popen_shell_and_stderr_pipe() {
    let mut proc = PopenBuilder::shell("echo out; echo err 1>&2; exit 3")
        .stdout(Redirect::DevNull)
        .stderr(Redirect::Pipe)
        .spawn()
        .unwrap();
    let mut err = String::new();
    proc.stderr()
        .expect("stderr was piped")
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(err, "err\n");
    assert_eq!(proc.wait(Some(PATIENCE)).unwrap(), 3);
    assert!(proc.stdout().is_none(), "stdout was not piped");
}

// Array::with_lock: the array is guarded by the lock it was given, shared with a Value.
#[test]
fn array_with_lock_shares_the_given_lock() {
    let lock = Lock::new();
    let a = Array::with_lock(&[1i64, 2, 3], lock.clone());
    let v = Value::with_lock(0u8, lock.clone());
    assert_eq!(a.len(), 3);
    {
        let guard = a.lock().unwrap();
        assert!(lock.locked(), "locking the array takes the given lock");
        assert!(v.get_lock().locked(), "the value shares it");
        assert_eq!(guard.iter().sum::<i64>(), 6);
    }
    assert!(!lock.locked());
    a.set(1, 20).unwrap();
    assert_eq!(a.get(1), Ok(20));
}

/// Puts more than the buffer holds with nobody reading, gives them up, and exits.
fn put_and_abandon(q: Queue<u64>) -> usize {
    for i in 0..1000u64 {
        q.put(i).unwrap();
    }
    let waiting = q.backlog();
    q.cancel_join_thread();
    waiting
}

// Queue::cancel_join_thread: a child whose items cannot be flushed still exits.
#[test]
fn cancel_join_thread_lets_a_child_exit_with_items_unflushed() {
    let q = Queue::<u64>::with_buffer(0, 256).unwrap();
    let p = get_context(StartMethod::Fork).process(put_and_abandon, q.clone());
    p.start().unwrap();
    let waiting = p.result().expect("the child exited without flushing");
    assert!(
        waiting > 0,
        "the items should have been waiting in the child's feeder"
    );
    assert_eq!(p.exitcode(), Some(0));
    // What reached the buffer is intact and in order.
    let mut next = 0;
    while let Ok(item) = q.get_nowait() {
        assert_eq!(item, next);
        next += 1;
    }
    assert!(next < 1000, "more arrived than the buffer could hold");
}

// SimpleQueue::with_buffer: a small ring still carries everything, in order.
#[test]
fn simple_queue_with_a_small_buffer() {
    let q = SimpleQueue::<String>::with_buffer(128).unwrap();
    let writer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                q.put(format!("item {i}")).unwrap(); // blocks while the ring is full
            }
        })
    };
    for i in 0..200 {
        assert_eq!(q.get().unwrap(), format!("item {i}"));
    }
    writer.join().unwrap();
    assert!(q.empty());
}

// Barrier::parties and with_timeout: the default timeout breaks the barrier.
#[test]
fn barrier_parties_and_default_timeout() {
    let barrier = Barrier::new(3).unwrap();
    assert_eq!(barrier.parties(), 3);
    let timed = barrier.clone().with_timeout(Duration::from_millis(50));
    assert_eq!(timed.parties(), 3);
    let start = Instant::now();
    assert_eq!(timed.wait(), Err(ProcessError::BrokenBarrier));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(barrier.broken(), "the timeout broke the shared barrier");
    barrier.reset();
    // Without the default, a full set of parties passes.
    let others: Vec<_> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait())
        })
        .collect();
    let mut indices = vec![barrier.wait().unwrap()];
    indices.extend(others.into_iter().map(|t| t.join().unwrap().unwrap()));
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
}

// OwnerDiedError::get_ref / get_mut: repair the value a dead holder left, then go on.
#[test]
fn owner_died_error_gives_access_to_the_guard() {
    let value = Value::new(7u32);
    let v = value.clone();
    std::thread::spawn(move || {
        let mut guard = v.lock().unwrap();
        *guard = 999; // half-done update, then the holder dies
        std::mem::forget(guard);
    })
    .join()
    .unwrap();
    let mut died = match value.lock() {
        Err(died) => died,
        Ok(_) => panic!("the holder's death went unreported"),
    };
    assert_eq!(
        **died.get_ref(),
        999,
        "get_ref sees what the dead holder left"
    );
    **died.get_mut() = 7; // repair
    drop(died.into_guard());
    assert_eq!(value.get(), Ok(7));
    assert!(eventually(PATIENCE, || !value.get_lock().locked()));
}
