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
    assert_eq!(g.get(Some(PATIENCE)).unwrap(), Err(FutureError::Timeout));

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
