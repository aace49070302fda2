//! With the `coro` feature: waits on futures from inside greenlets park the greenlet,
//! not the hub's thread, so other greenlets keep running.
#![cfg(feature = "coro")]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use conc_futures::{Executor, FutureError, ThreadPoolExecutor};

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn greenlets_wait_on_pool_futures_while_the_hub_serves() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = conc_coro::spawn(move || {
        for _ in 0..10 {
            t.set(t.get() + 1);
            conc_coro::sleep(Duration::from_millis(2)).unwrap();
        }
    });
    // 100 greenlets each offload work to the pool and wait on its future.
    let waiters: Vec<_> = (0..100u64)
        .map(|i| {
            let f = pool
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(1));
                    i * 2
                })
                .unwrap();
            conc_coro::spawn(move || f.result())
        })
        .collect();
    conc_coro::joinall(&waiters, Some(PATIENCE)).unwrap();
    for (i, w) in waiters.iter().enumerate() {
        assert_eq!(w.get(None).unwrap(), Ok(i as u64 * 2));
    }
    ticker.join(Some(PATIENCE)).unwrap();
    assert_eq!(ticks.get(), 10);

    // A timeout parks too, and ends as a timeout.
    let slow = pool
        .submit(|| std::thread::sleep(Duration::from_millis(200)))
        .unwrap();
    let g = conc_coro::spawn(move || slow.result_timeout(Duration::from_millis(10)));
    assert!(matches!(
        g.get(Some(PATIENCE)).unwrap(),
        Err(FutureError::Timeout { .. })
    ));

    // The main greenlet of a thread with a hub parks as well (the hub sleeps until the
    // pool's worker completes the future).
    let f = pool
        .submit(|| {
            std::thread::sleep(Duration::from_millis(50));
            7
        })
        .unwrap();
    let other = conc_coro::spawn(|| 1);
    assert_eq!(f.result(), Ok(7));
    assert!(other.ready(), "the spawned greenlet ran while main waited");
}

#[test]
fn wait_and_as_completed_park_greenlets_too() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let slow = |ms: u64| {
        pool.submit(move || {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        })
        .unwrap()
    };
    let fs = vec![slow(60), slow(5), slow(30)];
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = conc_coro::spawn(move || {
        for _ in 0..5 {
            t.set(t.get() + 1);
            conc_coro::sleep(Duration::from_millis(2)).unwrap();
        }
    });
    // The main greenlet waits for the first: the ticker keeps running meanwhile.
    let r = conc_futures::wait(
        &fs,
        Some(PATIENCE),
        conc_futures::ReturnWhen::FirstCompleted,
    );
    assert_eq!(r.done.len(), 1);
    assert!(ticks.get() > 0, "the hub ran other greenlets during wait");
    let order: Vec<u64> = conc_futures::as_completed(&fs, Some(PATIENCE))
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    assert_eq!(order, [5, 30, 60]);
    ticker.join(Some(PATIENCE)).unwrap();
    assert_eq!(ticks.get(), 5);
    // A timeout inside a greenlet ends as Python's: the unfinished count.
    let never = conc_futures::Future::<u8>::new();
    let g = conc_coro::spawn(move || {
        conc_futures::as_completed([&never], Some(Duration::from_millis(10)))
            .next()
            .map(|r| r.err())
    });
    assert!(matches!(
        g.get(Some(PATIENCE)).unwrap(),
        Some(Some(FutureError::Unfinished {
            unfinished: 1,
            total: 1
        }))
    ));
}
