//! `GreenletExecutor` (feature `coro`) and executors behind `dyn Executor`.
#![cfg(feature = "coro")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conc_futures::{
    Executor, FutureError, GreenletExecutor, ReturnWhen, ThreadPoolExecutor, as_completed, wait,
};

const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn greenlet_tasks_overlap_on_one_thread() {
    let executor = GreenletExecutor::new().unwrap();
    let threads = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let start = Instant::now();
    let futures: Vec<_> = (0..200u64)
        .map(|i| {
            let threads = threads.clone();
            executor
                .submit(move || {
                    threads.lock().unwrap().insert(std::thread::current().id());
                    conc_coro::sleep(Duration::from_millis(50)).unwrap();
                    i * 2
                })
                .unwrap()
        })
        .collect();
    assert_eq!(
        wait(&futures, Some(PATIENCE), ReturnWhen::AllCompleted)
            .done
            .len(),
        200
    );
    // 200 x 50 ms one after another would be 10 s.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(threads.lock().unwrap().len(), 1, "all on the hub thread");
    let values: Vec<u64> = as_completed(&futures, Some(PATIENCE))
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    assert_eq!(values.len(), 200);
    assert_eq!(futures[7].result(), Ok(14));

    let doubled: Vec<u32> = executor
        .map(1..=4u32, |x| x * 2, Some(PATIENCE), 2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(doubled, [2, 4, 6, 8]);
    let bad = executor
        .submit(|| -> u8 { panic!("green task refuses") })
        .unwrap();
    assert_eq!(
        bad.result_timeout(PATIENCE),
        Err(FutureError::Panicked {
            message: "green task refuses".into()
        })
    );
}

#[test]
fn shutdown_waits_refuses_and_may_come_from_a_task() {
    let executor = Arc::new(GreenletExecutor::new().unwrap());
    let finished = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let finished = finished.clone();
        executor
            .submit(move || {
                conc_coro::sleep(Duration::from_millis(20)).unwrap();
                finished.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    executor.shutdown(true, false);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        10,
        "shutdown(wait) waited for all"
    );
    assert_eq!(executor.submit(|| ()).unwrap_err(), FutureError::ShutDown);

    let executor = Arc::new(GreenletExecutor::new().unwrap());
    let e = executor.clone();
    let f = executor.submit(move || e.shutdown(true, false)).unwrap();
    assert_eq!(f.result_timeout(PATIENCE), Ok(()));
    assert_eq!(executor.submit(|| ()).unwrap_err(), FutureError::ShutDown);
}

/// The object-safe core: threads and greenlets behind one `dyn Executor`.
#[test]
fn executors_of_every_kind_behind_dyn_executor() {
    let executors: Vec<Box<dyn Executor>> = vec![
        Box::new(ThreadPoolExecutor::new()),
        Box::new(GreenletExecutor::new().unwrap()),
    ];
    for e in &executors {
        let f = e.submit(|| 20 + 22).unwrap();
        assert_eq!(f.result_timeout(PATIENCE), Ok(42));
        let squares: Vec<u64> = e
            .map(0..5u64, |x| x * x, Some(PATIENCE), 1)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(squares, [0, 1, 4, 9, 16]);
        e.shutdown(true, false);
        assert_eq!(e.submit(|| ()).unwrap_err(), FutureError::ShutDown);
    }
}
