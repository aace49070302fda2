//! Process queues under every start method: ports of CPython's `_TestQueue`
//! (Lib/test/_test_multiprocessing.py: test_put, test_get, test_fork, test_qsize,
//! test_task_done, test_no_import_lock_contention's many items), plus many producers
//! and consumers, a producer killed mid-stream, and the never-blocking unbounded put.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{JoinableQueue, ProcessError, Queue, SimpleQueue, get_context};

conc_process::test_support!();

fn produce((q, from, n): (Queue<u64>, u64, u64)) {
    for i in from..from + n {
        q.put(i).unwrap();
    }
}

/// Gets until the sentinel `u64::MAX`; returns what it got.
fn consume(q: Queue<u64>) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        let v = q.get().unwrap();
        if v == u64::MAX {
            return got;
        }
        got.push(v);
    }
}

each_method! {
    // _TestQueue.test_put / test_get: FIFO order across processes, qsize, empty.
    fn test_put_get_across_processes(method: StartMethod) {
        let q = Queue::new(0).unwrap();
        let p = get_context(method).process(produce, (q.clone(), 0, 1000));
        p.start().unwrap();
        let got: Vec<u64> = (0..1000).map(|_| q.get_timeout(PATIENCE).unwrap()).collect();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        p.join().unwrap();
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.get_nowait(), Err(ProcessError::Empty));
    }
}

each_method! {
    // _TestQueue.test_fork: items put before the child starts (some still in the
    // feeder because the buffer is tiny) all reach it, in order.
    fn test_items_put_before_start(method: StartMethod) {
        let q = Queue::with_buffer(0, 1024).unwrap();
        for i in 0..500u64 {
            q.put(i).unwrap(); // never blocks although the buffer holds ~100
        }
        assert_eq!(q.qsize(), 500);
        assert!(q.backlog() > 0, "the small buffer should have pushed items to the feeder");
        q.put(u64::MAX).unwrap();
        let p = get_context(method).process(consume, q.clone());
        p.start().unwrap();
        assert_eq!(p.result().unwrap(), (0..500).collect::<Vec<_>>());
        q.join_thread();
        assert_eq!(q.backlog(), 0);
    }
}

/// Items each side puts in `test_fork`: many more than its 64-byte buffer holds.
const FORK_ITEMS: u64 = 100;

/// `_TestQueue._test_fork`: the child puts through its own feeder, says so, then waits
/// for the feeder to flush.
fn put_more((q, all_put): (Queue<u64>, conc_process::Event)) -> usize {
    for i in FORK_ITEMS..2 * FORK_ITEMS {
        q.put(i).unwrap();
    }
    let waiting = q.backlog();
    all_put.set();
    q.join_thread();
    waiting
}

each_method! {
    // _TestQueue.test_fork: the parent's feeder is alive (its items wait for room)
    // when the child starts and puts through a feeder of its own; every item arrives
    // once, and each producer's items in order.
    fn test_fork(method: StartMethod) {
        // Room for a few items: both feeders must wait for the reader.
        let q = Queue::with_buffer(0, 64).unwrap();
        for i in 0..FORK_ITEMS {
            q.put(i).unwrap();
        }
        assert!(q.backlog() > 0, "the parent's feeder should be holding items");
        let all_put = conc_process::Event::new();
        let p = get_context(method).process(put_more, (q.clone(), all_put.clone()));
        p.start().unwrap();
        // Nobody reads until the child has put everything: the ring is full of the
        // parent's items, so every one of the child's waits in the child's own feeder.
        assert!(all_put.wait_timeout(PATIENCE), "the child never finished putting");
        let got: Vec<u64> =
            (0..2 * FORK_ITEMS).map(|_| q.get_timeout(PATIENCE).unwrap()).collect();
        let child_backlog = p.result().unwrap();
        assert!(child_backlog > 0, "the child's items never waited in its own feeder");
        let (parent, child): (Vec<u64>, Vec<u64>) = got.iter().partition(|&&i| i < FORK_ITEMS);
        assert_eq!(parent, (0..FORK_ITEMS).collect::<Vec<_>>());
        assert_eq!(child, (FORK_ITEMS..2 * FORK_ITEMS).collect::<Vec<_>>());
        q.join_thread();
        assert!(q.empty());
    }
}

each_method! {
    // Many producers, many consumers: every item exactly once.
    fn test_many_producers_many_consumers(method: StartMethod) {
        const PER: u64 = 2000;
        let q = Queue::with_buffer(0, 16 * 1024).unwrap();
        let producers: Vec<_> = (0..3)
            .map(|i| {
                let p = get_context(method).process(produce, (q.clone(), i * PER, PER));
                p.start().unwrap();
                p
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let c = get_context(method).process(consume, q.clone());
                c.start().unwrap();
                c
            })
            .collect();
        for p in &producers {
            p.join().unwrap();
        }
        for _ in &consumers {
            q.put(u64::MAX).unwrap();
        }
        let mut all = Vec::new();
        for c in &consumers {
            let got = c.result().unwrap();
            // Each producer's items reach any one consumer in the order put.
            for producer in 0..3 {
                let mine: Vec<u64> =
                    got.iter().copied().filter(|v| v / PER == producer).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "order within a producer");
            }
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, (0..3 * PER).collect::<Vec<_>>());
    }
}

each_method! {
    // _TestQueue.test_task_done: JoinableQueue.join returns once workers are done.
    fn test_task_done(method: StartMethod) {
        fn worker(q: JoinableQueue<Option<u32>>) {
            while let Some(_job) = q.get().unwrap() {
                std::thread::sleep(Duration::from_millis(1));
                q.task_done().unwrap();
            }
            q.task_done().unwrap();
        }
        let q = JoinableQueue::new(0).unwrap();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let w = get_context(method).process(worker, q.clone());
                w.start().unwrap();
                w
            })
            .collect();
        for i in 0..30 {
            q.put(Some(i)).unwrap();
        }
        q.join_timeout(PATIENCE).unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        for _ in &workers {
            q.put(None).unwrap();
        }
        for w in &workers {
            w.join().unwrap();
        }
        assert_eq!(
            q.task_done(),
            Err(ProcessError::InvalidState("task_done() called too many times"))
        );
    }
}

each_method! {
    // A child's items still in its feeder when its function returns are flushed
    // before it exits (Python joins the feeder thread).
    fn test_child_flushes_feeder_before_exit(method: StartMethod) {
        fn burst(q: Queue<Vec<u8>>) {
            for i in 0..200u8 {
                q.put(vec![i; 100]).unwrap();
            }
        }
        let q = Queue::with_buffer(0, 2048).unwrap();
        let p = get_context(method).process(burst, q.clone());
        p.start().unwrap();
        // Let it finish putting (the child waits for room at exit, not before).
        std::thread::sleep(Duration::from_millis(50));
        for i in 0..200u8 {
            assert_eq!(q.get_timeout(PATIENCE).unwrap(), vec![i; 100]);
        }
        p.join().unwrap();
    }
}

each_method! {
    // maxsize: put blocks when full, put_timeout/put_nowait report Full, a consumer
    // in another process makes room.
    fn test_maxsize(method: StartMethod) {
        fn take_one(q: Queue<u64>) -> u64 {
            std::thread::sleep(Duration::from_millis(100));
            q.get().unwrap()
        }
        let q = Queue::new(2).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert!(q.full());
        assert_eq!(q.put_nowait(3), Err(ProcessError::Full));
        let t = Instant::now();
        assert_eq!(q.put_timeout(3, Duration::from_millis(100)), Err(ProcessError::Full));
        assert!(t.elapsed() >= Duration::from_millis(90));
        let p = get_context(method).process(take_one, q.clone());
        p.start().unwrap();
        q.put(3).unwrap(); // waits until the child took one
        assert_eq!(p.result().unwrap(), 1);
        assert_eq!((q.get().unwrap(), q.get().unwrap()), (2, 3));
    }
}

each_method! {
    // A producer SIGKILLed while putting: the queue stays consistent and usable.
    fn test_producer_killed_mid_stream(method: StartMethod) {
        fn flood(q: Queue<(u64, Vec<u8>)>) {
            for i in 0.. {
                q.put((i, vec![(i % 251) as u8; 300])).unwrap();
            }
        }
        let q = Queue::with_buffer(0, 8 * 1024).unwrap();
        let p = get_context(method).process(flood, q.clone());
        p.start().unwrap();
        let mut next = 0;
        for _ in 0..100 {
            let (i, body) = q.get_timeout(PATIENCE).unwrap();
            assert_eq!(i, next);
            assert!(body.iter().all(|&b| b == (i % 251) as u8));
            next += 1;
        }
        p.kill().unwrap();
        let _ = p.join();
        // Whatever was fully written is intact; then the queue is empty and usable.
        while let Ok((i, body)) = q.get_timeout(Duration::from_millis(200)) {
            assert_eq!(i, next);
            assert_eq!(body.len(), 300);
            next += 1;
        }
        q.put((7, vec![1])).unwrap();
        assert_eq!(q.get_timeout(PATIENCE).unwrap(), (7, vec![1]));
    }
}

each_method! {
    // SimpleQueue between processes, both ways.
    fn test_simple_queue(method: StartMethod) {
        fn echo((inbox, outbox): (SimpleQueue<String>, SimpleQueue<String>)) {
            while let Ok(s) = inbox.get() {
                if s.is_empty() {
                    break;
                }
                outbox.put(s.to_uppercase()).unwrap();
            }
        }
        let (inbox, outbox) = (SimpleQueue::new().unwrap(), SimpleQueue::new().unwrap());
        let p = get_context(method).process(echo, (inbox.clone(), outbox.clone()));
        p.start().unwrap();
        for word in ["a", "bc", "def"] {
            inbox.put(word.to_string()).unwrap();
        }
        inbox.put(String::new()).unwrap();
        let got: BTreeSet<String> = (0..3).map(|_| outbox.get_timeout(PATIENCE).unwrap()).collect();
        assert_eq!(got, ["A", "BC", "DEF"].map(String::from).into());
        p.join().unwrap();
    }
}

#[test]
fn oversized_item_and_closed_queue() {
    let q = Queue::<Vec<u8>>::with_buffer(0, 1024).unwrap();
    assert!(matches!(
        q.put(vec![0; 2000]),
        Err(ProcessError::InvalidArgument(_))
    ));
    assert_eq!(q.qsize(), 0, "a refused item is not counted");
    q.close();
    assert_eq!(q.put(vec![1]), Err(ProcessError::Closed("queue")));
    assert!(matches!(
        Queue::<u8>::with_buffer(0, 10),
        Err(ProcessError::InvalidArgument(_))
    ));
}

#[test]
fn timeouts_are_honoured() {
    let q = Queue::<u8>::new(0).unwrap();
    let t = Instant::now();
    assert_eq!(
        q.get_timeout(Duration::from_millis(100)),
        Err(ProcessError::Empty)
    );
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(90), "{waited:?}");
    assert!(waited < PATIENCE);
}

#[test]
fn threads_share_a_queue() {
    let q = Queue::<u32>::new(0).unwrap();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    q.put(t * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    let mut got: Vec<u32> = (0..2000)
        .map(|_| q.get_timeout(PATIENCE).unwrap())
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    got.sort_unstable();
    let want: Vec<u32> = (0..4)
        .flat_map(|t| (0..500).map(move |i| t * 1000 + i))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_fork_child_can_put_while_a_parent_thread_flushes() {
    // Review regression: `join_thread` used to hold the queue's feeder slot while it
    // waited for readers, so a fork child inherited it locked and hung on `put`.
    let q = Queue::<u32>::with_buffer(0, 64).unwrap();
    for i in 0..20 {
        q.put(i).unwrap(); // most wait in the feeder: the buffer holds a few
    }
    std::thread::scope(|s| {
        let flusher = s.spawn(|| q.join_thread()); // blocks until someone reads
        std::thread::sleep(Duration::from_millis(100));
        let child = get_context(conc_process::StartMethod::Fork)
            .process(|q: Queue<u32>| q.put(999).is_ok(), q.clone());
        child.start().unwrap();
        let mut got = Vec::new();
        while got.len() < 21 {
            got.push(q.get_timeout(PATIENCE).unwrap());
        }
        assert!(child.result().unwrap());
        flusher.join().unwrap();
        got.sort_unstable();
        assert_eq!(got.last(), Some(&999));
    });
}

#[test]
fn put_nowait_on_an_unbounded_queue_is_never_full() {
    let q = Queue::<Vec<u8>>::new(0).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                q.put(vec![0u8; 256 * 1024]).unwrap();
                q.get().unwrap();
            }
        });
        for _ in 0..2000 {
            q.put_nowait(vec![1u8]).unwrap();
            q.get_timeout(PATIENCE).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}
