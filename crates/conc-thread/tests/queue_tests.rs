//! Ports of CPython's `Lib/test/test_queue.py` (`BaseQueueTestMixin`, the 3.13
//! shutdown tests, `FailingQueueTest`'s invariants where they apply, and
//! `BaseSimpleQueueTest`). Each test names the CPython test it ports.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Bunch, PATIENCE, pause, wait_until};
use conc_thread::{
    GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue, TaskDoneError,
};

const QUEUE_SIZE: usize = 5;

/// The operations the CPython mixin exercises, over the three task-tracking queues.
trait AnyQueue: Send + Sync + 'static {
    fn make(maxsize: usize) -> Self;
    fn put(&self, v: i32) -> Result<(), PutError<i32>>;
    fn put_nowait(&self, v: i32) -> Result<(), PutError<i32>>;
    fn put_timeout(&self, v: i32, t: Duration) -> Result<(), PutError<i32>>;
    fn get(&self) -> Result<i32, GetError>;
    fn get_nowait(&self) -> Result<i32, GetError>;
    fn get_timeout(&self, t: Duration) -> Result<i32, GetError>;
    fn qsize(&self) -> usize;
    fn empty(&self) -> bool;
    fn full(&self) -> bool;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn join(&self);
    fn shutdown(&self, immediate: bool);
    fn is_shutdown(&self) -> bool;
    fn unfinished_tasks(&self) -> usize;
}

macro_rules! any_queue {
    ($Q:ident) => {
        impl AnyQueue for $Q<i32> {
            fn make(maxsize: usize) -> Self {
                $Q::new(maxsize)
            }
            fn put(&self, v: i32) -> Result<(), PutError<i32>> {
                $Q::put(self, v)
            }
            fn put_nowait(&self, v: i32) -> Result<(), PutError<i32>> {
                $Q::put_nowait(self, v)
            }
            fn put_timeout(&self, v: i32, t: Duration) -> Result<(), PutError<i32>> {
                $Q::put_timeout(self, v, t)
            }
            fn get(&self) -> Result<i32, GetError> {
                $Q::get(self)
            }
            fn get_nowait(&self) -> Result<i32, GetError> {
                $Q::get_nowait(self)
            }
            fn get_timeout(&self, t: Duration) -> Result<i32, GetError> {
                $Q::get_timeout(self, t)
            }
            fn qsize(&self) -> usize {
                $Q::qsize(self)
            }
            fn empty(&self) -> bool {
                $Q::empty(self)
            }
            fn full(&self) -> bool {
                $Q::full(self)
            }
            fn task_done(&self) -> Result<(), TaskDoneError> {
                $Q::task_done(self)
            }
            fn join(&self) {
                $Q::join(self)
            }
            fn shutdown(&self, immediate: bool) {
                $Q::shutdown(self, immediate)
            }
            fn is_shutdown(&self) -> bool {
                $Q::is_shutdown(self)
            }
            fn unfinished_tasks(&self) -> usize {
                $Q::unfinished_tasks(self)
            }
        }
    };
}
any_queue!(Queue);
any_queue!(LifoQueue);
any_queue!(PriorityQueue);

/// Runs a generic test body for each queue type, as CPython's mixin subclasses do.
macro_rules! for_each_queue {
    ($($name:ident => $body:ident;)*) => {
        $(
            mod $name {
                use super::*;
                #[test] fn fifo() { $body::<Queue<i32>>(); }
                #[test] fn lifo() { $body::<LifoQueue<i32>>(); }
                #[test] fn priority() { $body::<PriorityQueue<i32>>(); }
            }
        )*
    };
}

for_each_queue! {
    basic => simple_queue_test;
    task_done_join => queue_join_test;
    task_done_too_many => task_done_too_many;
    nowait => nowait_test;
    timeouts => timeout_test;
    blocking_put_woken_by_get => blocking_put_test;
    blocking_get_woken_by_put => blocking_get_test;
    shutdown_empty => shutdown_empty;
    shutdown_nonempty => shutdown_nonempty;
    shutdown_immediate => shutdown_immediate;
    shutdown_wakes_blocked_getters => shutdown_wakes_getters;
    shutdown_wakes_blocked_putters => shutdown_wakes_putters;
    shutdown_transitions => shutdown_transitions;
    shutdown_get_task_done_join => shutdown_get_task_done_join;
    many_producers_consumers => many_threads_test;
}

// BaseQueueTestMixin.simple_queue_test: order per type, sizes, full/empty.
fn simple_queue_test<Q: AnyQueue>() {
    let q = Q::make(QUEUE_SIZE);
    assert!(q.empty());
    assert!(!q.full());
    for v in [111, 333, 222] {
        q.put(v).unwrap();
    }
    let got: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, [111, 222, 333]);
    let type_name = std::any::type_name::<Q>();
    if type_name.contains("PriorityQueue") {
        assert_eq!(got, [111, 222, 333], "smallest first");
    } else if type_name.contains("LifoQueue") {
        assert_eq!(got, [222, 333, 111], "newest first");
    } else {
        assert_eq!(got, [111, 333, 222], "oldest first");
    }
    for i in 0..QUEUE_SIZE - 1 {
        q.put(i as i32).unwrap();
        assert!(!q.empty());
    }
    assert!(!q.full());
    q.put(999).unwrap();
    assert!(q.full());
    assert_eq!(q.qsize(), QUEUE_SIZE);
    assert_eq!(q.put_nowait(888), Err(PutError::Full(888)));
    assert_eq!(
        q.put_timeout(888, Duration::from_millis(10)),
        Err(PutError::Full(888))
    );
    for _ in 0..QUEUE_SIZE {
        q.get().unwrap();
    }
    assert!(q.empty());
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    assert_eq!(
        q.get_timeout(Duration::from_millis(10)),
        Err(GetError::Empty)
    );
}

// BaseQueueTestMixin.queue_join_test / test_queue_task_done: workers sum items,
// join returns once every item is done.
fn queue_join_test<Q: AnyQueue>() {
    let q = Arc::new(Q::make(0));
    let cum = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, cum) = (q.clone(), cum.clone());
            conc_thread::spawn(move || {
                loop {
                    let x = q.get().unwrap();
                    if x < 0 {
                        q.task_done().unwrap();
                        return;
                    }
                    cum.fetch_add(x as usize, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    q.join();
    assert_eq!(cum.load(Ordering::SeqCst), (0..100).sum::<usize>());
    for _ in 0..2 {
        q.put(-1).unwrap();
    }
    q.join();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 0);
}

// BaseQueueTestMixin.test_queue_task_done: "Did queue.task_done() fail?"
fn task_done_too_many<Q: AnyQueue>() {
    let q = Q::make(0);
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.put(1).unwrap();
    q.get().unwrap();
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.join(); // nothing unfinished: returns at once
}

// BaseQueueTestMixin.test_nowait
fn nowait_test<Q: AnyQueue>() {
    let q = Q::make(QUEUE_SIZE);
    for i in 0..QUEUE_SIZE {
        q.put_nowait(i as i32).unwrap();
    }
    assert!(matches!(q.put_nowait(99), Err(PutError::Full(99))));
    for _ in 0..QUEUE_SIZE {
        q.get_nowait().unwrap();
    }
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
}

// test_negative_timeout_raises_exception has no Rust form (Duration is unsigned);
// what remains is that timed calls wait at least their timeout.
fn timeout_test<Q: AnyQueue>() {
    let q = Q::make(1);
    let start = Instant::now();
    assert_eq!(
        q.get_timeout(Duration::from_millis(30)),
        Err(GetError::Empty)
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    q.put(1).unwrap();
    let start = Instant::now();
    assert_eq!(
        q.put_timeout(2, Duration::from_millis(30)),
        Err(PutError::Full(2))
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "a failed put does not count as a task"
    );
}

// BaseQueueTestMixin.do_blocking_test(q.put, ...): a put on a full queue blocks until
// a get makes room.
fn blocking_put_test<Q: AnyQueue>() {
    let q = Arc::new(Q::make(1));
    q.put(1).unwrap();
    let q2 = q.clone();
    let mut putter = conc_thread::spawn(move || q2.put(2));
    pause();
    assert!(putter.is_alive(), "put returned on a full queue");
    assert_eq!(q.get(), Ok(1));
    assert_eq!(putter.join_timeout(PATIENCE), Ok(Ok(())));
    assert_eq!(q.get(), Ok(2));
}

// BaseQueueTestMixin.do_blocking_test(q.get, ...)
fn blocking_get_test<Q: AnyQueue>() {
    let q = Arc::new(Q::make(0));
    let q2 = q.clone();
    let mut getter = conc_thread::spawn(move || q2.get());
    pause();
    assert!(getter.is_alive(), "get returned on an empty queue");
    q.put(7).unwrap();
    assert_eq!(getter.join_timeout(PATIENCE), Ok(Ok(7)));
}

// test_shutdown_empty
fn shutdown_empty<Q: AnyQueue>() {
    let q = Q::make(0);
    q.shutdown(false);
    assert!(q.is_shutdown());
    assert_eq!(q.put(1), Err(PutError::ShutDown(1)));
    assert_eq!(q.get(), Err(GetError::ShutDown));
    assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
}

// test_shutdown_nonempty
fn shutdown_nonempty<Q: AnyQueue>() {
    let q = Q::make(0);
    q.put(1).unwrap();
    q.shutdown(false);
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get(), Err(GetError::ShutDown));
}

// test_shutdown_immediate
fn shutdown_immediate<Q: AnyQueue>() {
    let q = Q::make(0);
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.shutdown(true);
    assert_eq!(q.get(), Err(GetError::ShutDown));
    assert_eq!(q.qsize(), 0);
    assert_eq!(q.unfinished_tasks(), 0, "discarded items count as done");
    q.join();
}

// _shutdown_all_methods_in_many_threads (getters): blocked get wakes with ShutDown.
fn shutdown_wakes_getters<Q: AnyQueue>() {
    for immediate in [false, true] {
        let q = Arc::new(Q::make(0));
        let q2 = q.clone();
        let bunch = Bunch::new(3, move || assert_eq!(q2.get(), Err(GetError::ShutDown)));
        bunch.wait_for_started();
        pause();
        q.shutdown(immediate);
        bunch.wait_for_finished();
    }
}

// _shutdown_all_methods_in_many_threads (putters): blocked put wakes with ShutDown.
fn shutdown_wakes_putters<Q: AnyQueue>() {
    for immediate in [false, true] {
        let q = Arc::new(Q::make(1));
        q.put(0).unwrap();
        let q2 = q.clone();
        let bunch = Bunch::new(3, move || {
            assert_eq!(q2.put(5), Err(PutError::ShutDown(5)));
        });
        bunch.wait_for_started();
        pause();
        q.shutdown(immediate);
        bunch.wait_for_finished();
    }
}

// test_shutdown_allowed_transitions: shutdown → immediate is allowed, never back.
fn shutdown_transitions<Q: AnyQueue>() {
    let q = Q::make(0);
    q.put(1).unwrap();
    assert!(!q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());
    q.shutdown(true);
    assert!(q.is_shutdown());
    assert_eq!(q.get(), Err(GetError::ShutDown));
    q.shutdown(false);
    assert_eq!(
        q.get(),
        Err(GetError::ShutDown),
        "immediate is never undone"
    );
}

// test_shutdown_get_task_done_join: join waits for items taken before a non-immediate
// shutdown, and returns after immediate shutdown discards the rest.
fn shutdown_get_task_done_join<Q: AnyQueue>() {
    let q = Arc::new(Q::make(0));
    for i in 0..4 {
        q.put(i).unwrap();
    }
    q.shutdown(false);
    q.get().unwrap();
    let q2 = q.clone();
    let mut joiner = conc_thread::spawn(move || q2.join());
    pause();
    assert!(joiner.is_alive());
    q.task_done().unwrap();
    q.shutdown(true); // discards the three others
    assert_eq!(joiner.join_timeout(PATIENCE), Ok(()));
}

// BaseQueueTestMixin.test_many_threads style: producers and consumers under load.
fn many_threads_test<Q: AnyQueue>() {
    let q = Arc::new(Q::make(8));
    let total = Arc::new(AtomicUsize::new(0));
    let n_items = 2_000;
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let q = q.clone();
            conc_thread::spawn(move || {
                for i in 0..n_items {
                    q.put(p * n_items + i).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let (q, total) = (q.clone(), total.clone());
            conc_thread::spawn(move || {
                let mut count = 0;
                while let Ok(v) = q.get() {
                    total.fetch_add(v as usize, Ordering::SeqCst);
                    q.task_done().unwrap();
                    count += 1;
                }
                count
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.join();
    q.shutdown(false);
    let received: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    let expected_n = (4 * n_items) as usize;
    assert_eq!(received, expected_n);
    assert_eq!(total.load(Ordering::SeqCst), (0..expected_n).sum::<usize>());
}

// Immediate shutdown racing with puts: every item is either received or discarded,
// and join never hangs on an item stranded behind the shutdown.
#[test]
fn fifo_immediate_shutdown_races_with_puts() {
    for _ in 0..50 {
        let q = Arc::new(Queue::new(0));
        let q2 = q.clone();
        let producer = conc_thread::spawn(move || {
            let mut i = 0;
            while q2.put(i).is_ok() {
                i += 1;
            }
        });
        wait_until(|| q.qsize() > 10);
        q.shutdown(true);
        producer.join().unwrap();
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
        assert!(
            q.join_timeout(PATIENCE),
            "an item outlived the immediate shutdown"
        );
        assert_eq!(q.qsize(), 0);
    }
}

// Items need not be Clone, Debug or Default: a queue moves them.
#[test]
fn queue_moves_non_clone_items() {
    struct Token(Box<u32>);
    let q = Queue::new(1);
    q.put(Token(Box::new(5))).unwrap();
    let err = q.put_nowait(Token(Box::new(6))).unwrap_err();
    assert_eq!(*err.into_inner().0, 6);
    assert_eq!(*q.get().unwrap().0, 5);
}

// PriorityQueue with (priority, data) tuples, as the seeds use it.
#[test]
fn priority_queue_tuples() {
    let q = PriorityQueue::new(0);
    for (p, name) in [(3, "c"), (1, "a"), (2, "b"), (1, "aa")] {
        q.put((p, name)).unwrap();
    }
    let order: Vec<_> = (0..4).map(|_| q.get().unwrap()).collect();
    assert_eq!(order, [(1, "a"), (1, "aa"), (2, "b"), (3, "c")]);
}

// ---------------------------------------------------------------- SimpleQueue

// BaseSimpleQueueTest.test_basic / test_order
#[test]
fn simple_queue_order() {
    let q = SimpleQueue::new();
    for i in 0..10 {
        q.put(i);
    }
    assert_eq!(q.qsize(), 10);
    let got: Vec<i32> = (0..10).map(|_| q.get()).collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(q.empty());
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    let start = Instant::now();
    assert_eq!(
        q.get_timeout(Duration::from_millis(20)),
        Err(GetError::Empty)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
}

// BaseSimpleQueueTest.test_many_threads
#[test]
fn simple_queue_many_threads() {
    let q = Arc::new(SimpleQueue::new());
    let n = 5_000;
    let producers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            conc_thread::spawn(move || {
                for i in 0..n {
                    q.put(i);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            conc_thread::spawn(move || (0..n).map(|_| q.get() as u64).sum::<u64>())
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 3 * (0..n as u64).sum::<u64>());
}

// Queue.maxsize, as given (0 means unbounded).
#[test]
fn maxsize_is_as_given() {
    assert_eq!(Queue::<i32>::new(0).maxsize(), 0);
    assert_eq!(Queue::<i32>::new(QUEUE_SIZE).maxsize(), QUEUE_SIZE);
    assert_eq!(LifoQueue::<i32>::new(3).maxsize(), 3);
    assert_eq!(PriorityQueue::<i32>::new(7).maxsize(), 7);
    let q = Queue::new(2);
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.maxsize(), 2, "maxsize is not the fill level");
    assert!(q.full());
}
