//! Green synchronisation and pools: gevent's `test__queue.py`, `test__semaphore.py`,
//! `test__pool.py` and `test__event.py` where they apply.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use conc_coro::{
    Channel, Group, HubError, LifoQueue, Pool, PriorityQueue, Queue, RLock, Semaphore, joinall,
    sleep, spawn,
};

const PATIENCE: Duration = Duration::from_secs(20);

/// `test__queue.py` `TestQueue`: order, bounds, timeouts, nowait.
#[test]
fn queues_keep_their_order_and_bounds() {
    // No annotation needed: the item type comes from the puts.
    let q = Queue::new(Some(2));
    q.put(1u8, None).unwrap();
    q.try_put(2).unwrap();
    assert!(q.full());
    assert_eq!(q.try_put(3), Err(3));
    let err = q.put(3, Some(Duration::from_millis(10))).unwrap_err();
    assert_eq!(err.item, 3, "the item comes back");
    assert!(
        matches!(err.error, HubError::Timeout { after, .. } if after == Duration::from_millis(10))
    );
    assert_eq!(
        (q.get(None), q.try_get(), q.try_get()),
        (Ok(1), Some(2), None)
    );
    assert!(matches!(
        q.get(Some(Duration::from_millis(5))),
        Err(HubError::Timeout {
            waiting_on: "an item from a Queue",
            ..
        })
    ));
    // Nothing can ever put: LoopExit, not a hang.
    assert!(matches!(q.get(None), Err(HubError::LoopExit { .. })));

    let lifo = LifoQueue::new(None);
    let prio = PriorityQueue::new(None);
    for i in 1..=3 {
        lifo.put(i, None).unwrap();
    }
    for p in [(2, "b"), (3, "c"), (1, "a")] {
        prio.put(p, None).unwrap();
    }
    assert_eq!(
        (0..3).map(|_| lifo.get(None).unwrap()).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(
        (0..3)
            .map(|_| prio.get(None).unwrap().1)
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

/// A full queue's putter waits for a getter; getters wait for putters.
#[test]
fn blocked_putters_and_getters_hand_over() {
    let q: Queue<u32> = Queue::new(Some(1));
    let producer = {
        let q = q.clone();
        spawn(move || {
            for i in 0..50 {
                q.put(i, Some(PATIENCE)).unwrap();
            }
        })
    };
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = q.get(Some(Duration::from_millis(50))) {
                    got.push(v);
                    q.task_done();
                }
                got
            })
        })
        .collect();
    q.join(Some(PATIENCE)).unwrap();
    producer.join(Some(PATIENCE)).unwrap();
    joinall(&consumers, Some(PATIENCE)).unwrap();
    let mut all: Vec<u32> = consumers
        .iter()
        .flat_map(|c| c.get(None).unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..50).collect::<Vec<_>>());
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
#[should_panic(expected = "task_done() called too many times")]
fn task_done_too_often_is_a_programmer_error() {
    Queue::<u8>::new(None).task_done();
}

/// gevent's `Channel`: a put returns only once a getter took the item.
#[test]
fn channels_rendezvous() {
    let ch = Channel::new();
    let taken = Rc::new(Cell::new(false));
    let putter = {
        let (ch, taken) = (ch.clone(), taken.clone());
        spawn(move || {
            ch.put(7, None).map_err(|e| e.error)?;
            Ok::<bool, HubError>(taken.get())
        })
    };
    sleep(Duration::from_millis(5)).unwrap();
    assert!(!putter.ready(), "nobody took it yet");
    assert_eq!(ch.get(None), Ok(7));
    taken.set(true);
    assert_eq!(putter.get(Some(PATIENCE)), Ok(Ok(true)));
    let lonely = ch.put(8, Some(Duration::from_millis(5))).unwrap_err();
    assert_eq!(lonely.item, 8);
}

#[test]
fn rlocks_are_reentrant_and_exclusive() {
    let lock = RLock::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let (lock, log) = (lock.clone(), log.clone());
            spawn(move || {
                lock.acquire(None).unwrap();
                lock.acquire(None).unwrap();
                log.borrow_mut().push(format!("in {i}"));
                sleep(Duration::from_millis(2)).unwrap();
                log.borrow_mut().push(format!("out {i}"));
                lock.release();
                lock.release();
            })
        })
        .collect();
    joinall(&workers, Some(PATIENCE)).unwrap();
    let log = log.borrow();
    for pair in log.chunks(2) {
        assert_eq!(pair[0].replace("in", "out"), pair[1], "{log:?}");
    }
    assert!(!lock.locked());
    let other = {
        let lock = lock.clone();
        spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.release())).is_err()
        })
    };
    assert_eq!(other.get(None), Ok(true), "releasing an unheld lock panics");
}

#[test]
fn bounded_semaphores_refuse_extra_releases() {
    let s = Semaphore::bounded(1);
    assert!(s.try_acquire() && !s.try_acquire());
    assert!(matches!(
        s.acquire(Some(Duration::from_millis(5))),
        Err(HubError::Timeout { .. })
    ));
    s.release();
    let extra = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.release()));
    assert!(extra.is_err());
    let unbounded = Semaphore::new(0);
    unbounded.release();
    assert_eq!(unbounded.available(), 1);
}

/// `test__pool.py`: a pool bounds concurrency, maps in order, imap_unordered in
/// completion order, kill ends its greenlets.
#[test]
fn pools_bound_and_map() {
    let pool = Pool::new(3);
    let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let out = {
        let (now, peak) = (now.clone(), peak.clone());
        pool.map(
            move |x: u64| {
                now.set(now.get() + 1);
                peak.set(peak.get().max(now.get()));
                sleep(Duration::from_millis(2)).unwrap();
                now.set(now.get() - 1);
                x + 1
            },
            0..10,
        )
        .unwrap()
    };
    assert_eq!(out, (1..11).collect::<Vec<_>>());
    assert_eq!(peak.get(), 3);
    assert_eq!(pool.free_count(), 3);

    let delays = [30u64, 1, 15];
    let unordered: Vec<u64> = pool
        .imap_unordered(
            |ms: u64| {
                sleep(Duration::from_millis(ms)).unwrap();
                ms
            },
            delays,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(unordered, [1, 15, 30]);
    let ordered: Vec<u64> = pool
        .imap(
            |ms: u64| {
                sleep(Duration::from_millis(ms)).unwrap();
                ms
            },
            delays,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(ordered, delays);

    let with_panic: Vec<_> = pool
        .imap(
            |x: u8| if x == 1 { panic!("item one") } else { x },
            [0u8, 1, 2],
        )
        .collect();
    assert!(matches!(&with_panic[1], Err(HubError::Panicked { message }) if message == "item one"));
    assert_eq!((&with_panic[0], &with_panic[2]), (&Ok(0), &Ok(2)));

    let group = Group::new();
    for _ in 0..5 {
        group.spawn(|| sleep(Duration::from_secs(3600))).unwrap();
    }
    sleep(Duration::ZERO).unwrap();
    assert_eq!(group.len(), 5);
    group.kill(true, Some(PATIENCE)).unwrap();
    assert!(group.is_empty());
    assert_eq!(group.apply(|| 5), Ok(5));

    let small = Pool::new(1);
    let busy = small.spawn(|| sleep(Duration::from_millis(20))).unwrap();
    assert!(small.full());
    small.wait_available(Some(PATIENCE)).unwrap();
    assert!(busy.ready());
    small.join(Some(PATIENCE)).unwrap();
}
