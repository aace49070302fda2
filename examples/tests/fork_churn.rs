//! Issue 22's fork-churn test, across the crates (so it lives in the crate that
//! depends on all of them): while other threads keep creating and joining conc-thread
//! threads, run a conc-futures pool and move items through a conc-process queue, the
//! main thread forks a thousand times; each child spawns and joins a thread, runs a
//! pool task and uses the queue, then exits. No child may hang: each is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conc_futures::{Executor, ThreadPoolExecutor};

const FORKS: usize = 1000;
/// A child still running after this long counts as stuck.
const CHILD_BOUND: Duration = Duration::from_secs(20);

conc_process::test_support!();

/// What a forked child does; its exit code says whether it all worked.
fn in_child(queue: &conc_process::Queue<u32>) -> i32 {
    let thread_ok = conc_thread::spawn(|| 6 * 7).join() == Ok(42);
    let pool = ThreadPoolExecutor::builder().max_workers(1).build();
    let pool_ok = pool.is_ok_and(|p| p.submit(|| 1 + 1).is_ok_and(|f| f.result() == Ok(2)));
    let queue_ok = queue.put(7).is_ok();
    i32::from(!(thread_ok && pool_ok && queue_ok))
}

/// Waits for `pid` for at most `CHILD_BOUND`; its exit code, or `None` if it hung (then
/// it is killed and reaped).
fn wait_bounded(pid: libc::pid_t) -> Option<i32> {
    let deadline = Instant::now() + CHILD_BOUND;
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if Instant::now() > deadline {
            // SAFETY: kills and reaps our own stuck child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Issue 22: this hung about one child in 50-200 while conc-thread parked threads
/// through `parking_lot`'s global table (a bucket lock held by another thread at the
/// fork); waiters now park on their own object's condition variable.
#[test]
fn a_thousand_forks_amid_churn_leave_no_child_stuck() {
    // SAFETY: resetting SIGCHLD to the default (a runner may have it ignored) keeps
    // the children's exit statuses for `waitpid`.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let stop = Arc::new(AtomicBool::new(false));
    let queue = conc_process::Queue::<u32>::new(0).unwrap();
    let churners: Vec<_> = (0..3)
        .map(|kind| {
            let (stop, queue) = (stop.clone(), queue.clone());
            std::thread::spawn(move || {
                let pool = ThreadPoolExecutor::builder()
                    .max_workers(2)
                    .build()
                    .unwrap();
                while !stop.load(Ordering::Relaxed) {
                    match kind {
                        0 => conc_thread::spawn(|| ()).join().unwrap(),
                        1 => pool.submit(|| ()).unwrap().result().unwrap(),
                        _ => {
                            queue.put(1).unwrap();
                            let _ = queue.get_timeout(Duration::from_millis(50));
                        }
                    }
                }
            })
        })
        .collect();
    let mut stuck = 0;
    let mut failed = 0;
    for _ in 0..FORKS {
        // SAFETY: the child runs `in_child` (conc code written to work after a fork)
        // and leaves with `_exit`, never returning into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = in_child(&queue);
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) };
        }
        match wait_bounded(pid) {
            Some(0) => {}
            Some(_) => failed += 1,
            None => stuck += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
    assert_eq!(
        (stuck, failed),
        (0, 0),
        "of {FORKS} forks: {stuck} stuck, {failed} failed"
    );
}
