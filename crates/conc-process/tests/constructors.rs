//! Fallible constructors (`try_new`) and the `Context` factories: what a program that
//! runs out of descriptors gets (an error, not a panic), and each factory used the way
//! Python's `ctx.Lock()`, `ctx.Queue()`, … are.

mod common;

use std::time::Duration;

use conc_process::{
    Array, BoundedSemaphore, Condition, Event, Lock, ProcessError, RLock, Semaphore, StartMethod,
    Value, get_context,
};

conc_process::test_support!();

/// In a forked child whose descriptor limit is already reached, every shared-memory
/// constructor's `try_new` reports the refusal as `ProcessError::Os` instead of
/// panicking; the exit code says which one failed (0: all as expected).
fn constructors_without_descriptors() -> i32 {
    let mut filler = Vec::new();
    // SAFETY: plain system calls on this process's own limits and descriptors.
    unsafe {
        // Fill the table up to a small limit: the next descriptor cannot be made.
        let limit = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 64,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return 100;
        }
        loop {
            let fd = libc::dup(0);
            if fd < 0 {
                break;
            }
            filler.push(fd);
        }
    }
    let refused = |r: Result<(), ProcessError>| matches!(r, Err(ProcessError::Os { .. }));
    let checks = [
        refused(Lock::try_new().map(drop)),
        refused(RLock::try_new().map(drop)),
        refused(Event::try_new().map(drop)),
        refused(Semaphore::try_new(1).map(drop)),
        refused(BoundedSemaphore::try_new(1).map(drop)),
        refused(Condition::try_new().map(drop)),
        refused(Value::try_new(1u64).map(drop)),
        refused(Array::try_new(&[1u8, 2]).map(drop)),
        refused(get_context(StartMethod::Fork).lock().map(drop)),
    ];
    // Room again, for the result to travel back.
    for fd in filler {
        // SAFETY: closes descriptors this function opened.
        unsafe { libc::close(fd) };
    }
    match checks.iter().position(|ok| !ok) {
        None => 0,
        Some(i) => 1 + i as i32,
    }
}

#[test]
fn try_new_reports_exhausted_descriptors_as_an_error() {
    let p = get_context(StartMethod::Fork).process(|()| constructors_without_descriptors(), ());
    p.start().unwrap();
    assert_eq!(p.result(), Ok(0), "the n-th check (1-based) failed");
}

#[test]
fn try_new_succeeds_when_resources_allow() {
    assert!(!Lock::try_new().unwrap().locked());
    assert_eq!(Semaphore::try_new(3).unwrap().value(), 3);
    assert_eq!(Value::try_new(5i32).unwrap().get(), Ok(5));
    assert_eq!(
        Array::try_new(&[1u32, 2, 3]).unwrap().to_vec(),
        Ok(vec![1, 2, 3])
    );
    assert!(!Event::try_new().unwrap().is_set());
}

fn child_uses_context_objects(
    (q, v, ev, sem): (conc_process::Queue<String>, Value<u32>, Event, Semaphore),
) -> u32 {
    sem.acquire();
    *v.lock().unwrap() += 1;
    q.put(format!("from {}", conc_process::current_process().name()))
        .unwrap();
    ev.set();
    v.get().unwrap()
}

/// Every factory of a spawn context, and its objects handed to a spawn child.
#[test]
fn context_factories_make_objects_children_share() {
    let ctx = get_context(StartMethod::Spawn);
    let q = ctx.queue::<String>(0).unwrap();
    let v = ctx.value(41u32).unwrap();
    let ev = ctx.event().unwrap();
    let sem = ctx.semaphore(0).unwrap();
    sem.release(1);
    let p = ctx
        .process(
            child_uses_context_objects,
            (q.clone(), v.clone(), ev.clone(), sem),
        )
        .name("ctx-child");
    p.start().unwrap();
    assert_eq!(p.result(), Ok(42));
    assert!(ev.wait_timeout(common::PATIENCE));
    assert_eq!(q.get_timeout(common::PATIENCE).unwrap(), "from ctx-child");

    let (a, b) = ctx.pipe::<u8>(false).unwrap();
    b.send(9).unwrap();
    assert_eq!(a.recv(), Ok(9));
    ctx.joinable_queue::<u8>(1).unwrap().put(1).unwrap();
    ctx.simple_queue::<u8>().unwrap().put(2).unwrap();
    assert!(ctx.lock().unwrap().acquire_timeout(Duration::ZERO).unwrap());
    drop(ctx.rlock().unwrap().lock().unwrap());
    assert!(ctx.bounded_semaphore(1).unwrap().release(1).is_err());
    drop(ctx.condition().unwrap().lock().unwrap());
    assert!(ctx.barrier(0).is_err());
    assert_eq!(ctx.barrier(1).unwrap().wait(), Ok(0));
    assert_eq!(ctx.array(&[7u8]).unwrap().get(0), Ok(7));
}
