//! Ports of CPython's `Lib/test/test_concurrent_futures/test_future.py`
//! (`FutureTests`). Each test names the CPython test it ports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conc_futures::{Future, FutureError, State};

const PATIENCE: Duration = Duration::from_secs(30);

fn pending() -> Future<i32> {
    Future::new()
}
fn running() -> Future<i32> {
    let f = Future::new();
    assert_eq!(f.set_running_or_notify_cancel(), Ok(true));
    f
}
fn cancelled() -> Future<i32> {
    let f = Future::new();
    assert!(f.cancel());
    f
}
fn exception() -> Future<i32> {
    let f = Future::new();
    f.set_error(FutureError::Panicked {
        message: "os error".into(),
    })
    .unwrap();
    f
}
fn successful(v: i32) -> Future<i32> {
    let f = Future::new();
    f.set_result(v).unwrap();
    f
}

// FutureTests.test_done_callback_with_result
#[test]
fn done_callback_with_result() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let f = Future::new();
    f.add_done_callback(move |f| *s.lock().unwrap() = Some(f.result()));
    f.set_result(5).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(Ok(5)));
}

// FutureTests.test_done_callback_with_exception
#[test]
fn done_callback_with_exception() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let f: Future<i32> = Future::new();
    f.add_done_callback(move |f| *s.lock().unwrap() = Some(f.exception()));
    f.set_error(FutureError::Panicked {
        message: "test".into(),
    })
    .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Ok(Some(FutureError::Panicked {
            message: "test".into()
        })))
    );
}

// FutureTests.test_done_callback_with_cancel
#[test]
fn done_callback_with_cancel() {
    let was_cancelled = Arc::new(Mutex::new(None));
    let w = was_cancelled.clone();
    let f = pending();
    f.add_done_callback(move |f| *w.lock().unwrap() = Some(f.cancelled()));
    assert!(f.cancel());
    assert_eq!(*was_cancelled.lock().unwrap(), Some(true));
}

// FutureTests.test_done_callback_raises: a panicking callback is contained and the
// following callbacks still run.
#[test]
fn done_callback_raises() {
    let raising_was_called = Arc::new(AtomicUsize::new(0));
    let fn_was_called = Arc::new(AtomicUsize::new(0));
    let (r, c) = (raising_was_called.clone(), fn_was_called.clone());
    let f = Future::new();
    f.add_done_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
        panic!("doh!");
    });
    f.add_done_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    f.set_result(5).unwrap();
    assert_eq!(raising_was_called.load(Ordering::SeqCst), 1);
    assert_eq!(fn_was_called.load(Ordering::SeqCst), 1);
}

// FutureTests.test_done_callback_already_successful / _already_failed / _already_cancelled
#[test]
fn done_callback_already_done_runs_at_once() {
    for (f, expect_cancelled) in [
        (successful(5), false),
        (exception(), false),
        (cancelled(), true),
    ] {
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        let caller = std::thread::current().id();
        f.add_done_callback(move |f| {
            assert_eq!(
                std::thread::current().id(),
                caller,
                "runs on the adding thread"
            );
            *s.lock().unwrap() = Some(f.cancelled());
        });
        assert_eq!(*seen.lock().unwrap(), Some(expect_cancelled));
    }
}

// Callbacks run in the order they were added.
#[test]
fn done_callbacks_run_in_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let f = Future::new();
    for i in 0..5 {
        let o = order.clone();
        f.add_done_callback(move |_| o.lock().unwrap().push(i));
    }
    f.set_result(()).unwrap();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

// FutureTests.test_repr (state names)
#[test]
fn states() {
    assert_eq!(pending().state(), State::Pending);
    assert_eq!(running().state(), State::Running);
    assert_eq!(cancelled().state(), State::Cancelled);
    assert_eq!(exception().state(), State::Finished);
    assert_eq!(successful(4).state(), State::Finished);
}

// FutureTests.test_cancel
#[test]
fn cancel() {
    let f1 = pending();
    let f2 = running();
    let f3 = cancelled();
    let f4 = exception();
    let f5 = successful(4);
    assert!(f1.cancel());
    assert_eq!(f1.state(), State::Cancelled);
    assert!(!f2.cancel());
    assert_eq!(f2.state(), State::Running);
    assert!(f3.cancel());
    assert_eq!(f3.state(), State::Cancelled);
    assert!(!f4.cancel());
    assert_eq!(f4.state(), State::Finished);
    assert!(!f5.cancel());
    assert_eq!(f5.state(), State::Finished);
}

// FutureTests.test_cancelled / test_done / test_running
#[test]
fn cancelled_done_running() {
    assert!(!pending().cancelled());
    assert!(!running().cancelled());
    assert!(cancelled().cancelled());
    assert!(!exception().cancelled());
    assert!(!successful(1).cancelled());

    assert!(!pending().done());
    assert!(!running().done());
    assert!(cancelled().done());
    assert!(exception().done());
    assert!(successful(1).done());

    assert!(!pending().running());
    assert!(running().running());
    assert!(!cancelled().running());
    assert!(!exception().running());
    assert!(!successful(1).running());
}

// FutureTests.test_result_with_timeout
#[test]
fn result_with_timeout() {
    assert!(matches!(
        pending().result_timeout(Duration::ZERO),
        Err(FutureError::Timeout { .. })
    ));
    assert!(matches!(
        running().result_timeout(Duration::ZERO),
        Err(FutureError::Timeout { .. })
    ));
    assert_eq!(
        cancelled().result_timeout(Duration::ZERO),
        Err(FutureError::Cancelled)
    );
    assert_eq!(
        exception().result_timeout(Duration::ZERO),
        Err(FutureError::Panicked {
            message: "os error".into()
        })
    );
    assert_eq!(successful(42).result_timeout(Duration::ZERO), Ok(42));
}

// FutureTests.test_result_with_success
#[test]
fn result_with_success() {
    let f = running();
    let setter = f.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        setter.set_result(42).unwrap();
    });
    assert_eq!(f.result_timeout(PATIENCE), Ok(42));
    t.join().unwrap();
}

// FutureTests.test_result_with_cancel
#[test]
fn result_with_cancel() {
    let f = pending();
    let canceller = f.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        canceller.cancel();
    });
    assert_eq!(f.result_timeout(PATIENCE), Err(FutureError::Cancelled));
    t.join().unwrap();
}

// FutureTests.test_exception_with_timeout
#[test]
fn exception_with_timeout() {
    assert!(matches!(
        pending().exception_timeout(Duration::ZERO),
        Err(FutureError::Timeout { .. })
    ));
    assert_eq!(
        cancelled().exception_timeout(Duration::ZERO),
        Err(FutureError::Cancelled)
    );
    assert!(matches!(
        exception().exception_timeout(Duration::ZERO),
        Ok(Some(FutureError::Panicked { .. }))
    ));
    assert_eq!(successful(42).exception_timeout(Duration::ZERO), Ok(None));
}

// FutureTests.test_exception_with_success
#[test]
fn exception_with_success() {
    let f = running();
    let setter = f.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        setter
            .set_error(FutureError::Panicked {
                message: "x".into(),
            })
            .unwrap();
    });
    assert_eq!(
        f.exception_timeout(PATIENCE),
        Ok(Some(FutureError::Panicked {
            message: "x".into()
        }))
    );
    t.join().unwrap();
}

// FutureTests.test_multiple_set_result / test_multiple_set_exception
#[test]
fn multiple_set_is_invalid_state() {
    let f = Future::new();
    f.set_result(1).unwrap();
    assert!(matches!(f.set_result(2), Err(FutureError::InvalidState(_))));
    assert!(matches!(
        f.set_error(FutureError::Panicked {
            message: "x".into()
        }),
        Err(FutureError::InvalidState(_))
    ));
    assert_eq!(f.result(), Ok(1));
    let c = cancelled();
    assert!(matches!(c.set_result(1), Err(FutureError::InvalidState(_))));
}

// FutureTests.test_get_snapshot-like: set_running_or_notify_cancel semantics.
#[test]
fn set_running_or_notify_cancel() {
    assert_eq!(cancelled().set_running_or_notify_cancel(), Ok(false));
    assert!(matches!(
        running().set_running_or_notify_cancel(),
        Err(FutureError::InvalidState(_))
    ));
    assert!(matches!(
        successful(1).set_running_or_notify_cancel(),
        Err(FutureError::InvalidState(_))
    ));
}

// Taking the value out works without `Clone` and only once.
#[test]
fn take_moves_the_value_once() {
    struct NotClone(u8);
    let f = Future::new();
    f.set_result(NotClone(3)).unwrap();
    assert_eq!(f.take().map(|v| v.0).ok(), Some(3));
    assert!(matches!(f.take(), Err(FutureError::InvalidState(_))));
    assert_eq!(
        f.exception(),
        Ok(None),
        "a taken success is still a success"
    );
}

// Many threads blocked on one future are all woken by one completion.
#[test]
fn many_blocked_waiters_are_woken() {
    let f: Future<u32> = Future::new();
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || f.result_timeout(PATIENCE))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    f.set_result(9).unwrap();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Ok(9));
    }
}

// Future.wait: done-ness without taking the result, bounded or not.
#[test]
fn wait_reports_done_without_consuming() {
    let f = pending();
    let start = std::time::Instant::now();
    assert!(
        !f.wait(Some(Duration::from_millis(50))),
        "a pending future is not done"
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(!f.done());
    let setter = f.clone();
    let t = std::thread::spawn(move || setter.set_result(3).unwrap());
    assert!(f.wait(None));
    assert!(f.wait(Some(Duration::ZERO)), "done stays done");
    assert_eq!(f.result(), Ok(3), "wait left the value in place");
    t.join().unwrap();
    assert!(cancelled().wait(Some(Duration::ZERO)));
    assert!(exception().wait(None));
}

// Future.take_timeout: times out on a pending future (which stays usable), moves a
// value out once, and reports errors and cancellation as `result` does.
#[test]
fn take_timeout_moves_the_value_once() {
    let f: Future<Vec<u8>> = Future::new();
    let start = std::time::Instant::now();
    assert!(matches!(
        f.take_timeout(Duration::from_millis(50)),
        Err(FutureError::Timeout { .. })
    ));
    assert!(start.elapsed() >= Duration::from_millis(50));
    let setter = f.clone();
    let t = std::thread::spawn(move || setter.set_result(vec![1, 2]).unwrap());
    assert_eq!(f.take_timeout(PATIENCE), Ok(vec![1, 2]));
    t.join().unwrap();
    assert!(matches!(
        f.take_timeout(PATIENCE),
        Err(FutureError::InvalidState(_))
    ));
    assert_eq!(
        exception().take_timeout(PATIENCE),
        Err(FutureError::Panicked {
            message: "os error".into()
        })
    );
    assert_eq!(
        cancelled().take_timeout(PATIENCE),
        Err(FutureError::Cancelled)
    );
}

/// An executor that loses every job it is given (a buggy or torn-down executor).
struct Forgetful;

impl conc_futures::Executor for Forgetful {
    fn execute(&self, job: conc_futures::Job) -> Result<(), FutureError> {
        drop(job);
        Ok(())
    }

    fn shutdown(&self, _wait: bool, _cancel_futures: bool) {}
}

// A job dropped without being run fails its future instead of leaving its waiters
// blocked forever: both a job made by `submit` (task and future in one cell) and one
// made by hand with `Job::new`.
#[test]
fn a_job_dropped_unrun_fails_its_future() {
    use conc_futures::Executor;
    let submitted = Forgetful.submit(|| 1).unwrap();
    let by_hand = Future::new();
    drop(conc_futures::Job::new(|| 2, by_hand.clone()));
    for f in [submitted, by_hand] {
        match f.result_timeout(Duration::from_secs(30)) {
            Err(FutureError::BrokenExecutor(why)) => {
                assert!(why.contains("without running"), "{why}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

// The task fused into its future's cell is dropped when it runs or is cancelled, not
// when the last handle of the future goes: its captures are released early.
#[test]
fn a_submitted_task_releases_its_captures_once_done() {
    use conc_futures::{Executor, ThreadPoolExecutor};
    let pool = ThreadPoolExecutor::new();
    let capture = Arc::new(());
    let held = capture.clone();
    let f = pool.submit(move || Arc::strong_count(&held)).unwrap();
    assert_eq!(f.result_timeout(Duration::from_secs(30)), Ok(2));
    assert_eq!(
        Arc::strong_count(&capture),
        1,
        "the finished task still holds its captures"
    );
    pool.shutdown(true, false);
    let cancelled = capture.clone();
    let never = Future::<()>::new();
    never.cancel();
    drop(conc_futures::Job::new(move || drop(cancelled), never));
    assert_eq!(Arc::strong_count(&capture), 1);
}
