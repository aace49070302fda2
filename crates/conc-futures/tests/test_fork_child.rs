//! A pool inherited by a child created with `fork()` has no workers there (they stayed
//! in the parent): it refuses work at once instead of queueing it forever, and dropping
//! it returns (its workers are not waited for in a process where they never ran).

use std::time::{Duration, Instant};

use conc_futures::{Executor, FutureError, ThreadPoolExecutor};

#[test]
fn a_pool_inherited_by_a_fork_child_refuses_work_and_drops_cleanly() {
    // SAFETY: resetting SIGCHLD's action to the default has no preconditions.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    // SAFETY: the child only uses the pool it inherited, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let refused = matches!(pool.submit(|| 2), Err(FutureError::BrokenExecutor(_)));
        drop(pool); // must not wait for workers that do not exist here
        // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(i32::from(!refused)) };
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: kills and reaps our own hung child before failing.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the child hung with the inherited pool");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status}"
    );
    // The parent's pool is untouched.
    assert_eq!(pool.submit(|| 3).unwrap().result(), Ok(3));
}
