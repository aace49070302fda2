//! `std::future::Future` interop, tested with tokio: no lost wake-ups, dropping the
//! awaiting side does not cancel, and the asyncio patterns of the seeds
//! (`run_in_executor`, `gather`) work.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conc_futures::{Executor, Future, FutureError, ThreadPoolExecutor, gather, run_in_executor};
use conc_thread::Event;

fn pool() -> Arc<ThreadPoolExecutor> {
    Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(2)
            .build()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_from_multi_thread_runtime() {
    let pool = pool();
    let f = pool.submit(|| 40 + 2).unwrap();
    assert_eq!(f.await, Ok(42));
}

#[tokio::test]
async fn await_errors() {
    let pool = pool();
    let f = pool.submit(|| -> u8 { panic!("in task") }).unwrap();
    assert_eq!(
        f.await,
        Err(FutureError::Panicked {
            message: "in task".into()
        })
    );
    let c = Future::<u8>::new();
    c.cancel();
    assert_eq!(c.await, Err(FutureError::Cancelled));
}

// No lost wake-ups: many tasks awaiting futures completed from pool threads at
// arbitrary moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_awaits() {
    let pool = pool();
    let mut tasks = Vec::new();
    for i in 0..1_000_u64 {
        let f = pool
            .submit(move || {
                if i % 10 == 0 {
                    std::thread::yield_now();
                }
                i
            })
            .unwrap();
        tasks.push(tokio::spawn(async move { f.await.unwrap() }));
    }
    let mut total = 0;
    for t in tasks {
        total += tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a wake-up was lost")
            .unwrap();
    }
    assert_eq!(total, (0..1_000).sum::<u64>());
}

// Dropping the awaiting side (a timeout here) does not cancel the task.
#[tokio::test]
async fn dropping_the_await_does_not_cancel() {
    let pool = pool();
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let f = pool
        .submit(move || {
            g.wait();
            r.fetch_add(1, Ordering::SeqCst);
            5
        })
        .unwrap();
    let timed_out = tokio::time::timeout(Duration::from_millis(20), f.clone()).await;
    assert!(timed_out.is_err());
    assert!(!f.cancelled());
    gate.set();
    assert_eq!(f.await, Ok(5));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

// Seed 000: coroutines offload blocking work with run_in_executor and share a list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_in_executor_and_gather() {
    let pool = pool();
    let shared = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..4 {
        let (pool, shared) = (pool.clone(), shared.clone());
        handles.push(tokio::spawn(async move {
            let v = run_in_executor(&*pool, move || {
                std::thread::sleep(Duration::from_millis(10));
                i * i
            })
            .await
            .unwrap();
            shared.lock().unwrap().push(v);
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut got = shared.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, [0, 1, 4, 9]);

    let fs: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    assert_eq!(gather(fs).await, [Ok(0), Ok(1), Ok(2)]);
}

// A future completed before the first poll is ready at once; one awaited from two
// runtimes' tasks is taken by exactly one.
#[tokio::test]
async fn ready_before_poll_and_single_take() {
    let f = Future::new();
    f.set_result(String::from("x")).unwrap();
    let g = f.clone();
    assert_eq!(f.await, Ok(String::from("x")));
    assert!(matches!(g.await, Err(FutureError::InvalidState(_))));
}

// Interop without tokio: a minimal hand-written block_on (thread park) awaits too.
#[test]
fn await_with_a_hand_written_executor() {
    use std::pin::pin;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }
    let pool = ThreadPoolExecutor::new();
    let f = pool
        .submit(|| {
            std::thread::sleep(Duration::from_millis(10));
            "parked"
        })
        .unwrap();
    assert_eq!(block_on(async { f.await }), Ok("parked"));
}

// asyncio.wait over pool futures (seed 000): FIRST_COMPLETED wakes on the first
// completion, ALL_COMPLETED on the last, and no value is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_async_first_and_all() {
    use conc_futures::{ReturnWhen, wait_async};
    let pool = pool();
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let quick = pool.submit(|| 1).unwrap();
    let slow = pool
        .submit(move || {
            g.wait();
            2
        })
        .unwrap();
    let fs = [quick.clone(), slow.clone()];
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        wait_async(&fs, ReturnWhen::FirstCompleted),
    )
    .await
    .expect("first completion was not noticed");
    assert_eq!(
        (r.done, r.not_done),
        (vec![quick.clone()], vec![slow.clone()])
    );
    gate.set();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        wait_async(&fs, ReturnWhen::AllCompleted),
    )
    .await
    .expect("a completion was not noticed");
    assert_eq!(r.done.len(), 2);
    assert_eq!((quick.result(), slow.result()), (Ok(1), Ok(2)));
    // Cancellation wakes it too.
    let pending = Future::<u8>::new();
    let p = pending.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        p.cancel();
    });
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        wait_async([&pending], ReturnWhen::AllCompleted),
    )
    .await
    .expect("a cancellation was not noticed");
    assert_eq!(r.done, [pending]);
}

/// Counts its wake-ups.
struct Counting(AtomicUsize);

impl std::task::Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics when woken.
struct Refusing;

impl std::task::Wake for Refusing {
    fn wake(self: Arc<Self>) {
        panic!("this waker refuses");
    }
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F, waker: &std::task::Waker) -> bool {
    let mut cx = std::task::Context::from_waker(waker);
    std::pin::Pin::new(f).poll(&mut cx).is_ready()
}

/// A waker that panics when its future completes neither keeps the other listeners
/// from being told nor takes the completing worker away from its pool.
#[test]
fn a_panicking_waker_harms_nobody() {
    use std::future::IntoFuture;
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let f = pool
        .submit(move || {
            g.wait();
            5
        })
        .unwrap();
    let mut awaiting = f.clone().into_future();
    assert!(!poll_once(&mut awaiting, &Arc::new(Refusing).into()));
    let told = Arc::new(AtomicUsize::new(0));
    let t = told.clone();
    f.add_done_callback(move |_| {
        t.fetch_add(1, Ordering::SeqCst);
    });
    gate.set();
    assert_eq!(f.result_timeout(Duration::from_secs(20)), Ok(5));
    let start = std::time::Instant::now();
    while told.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        told.load(Ordering::SeqCst),
        1,
        "the callback after the waker ran"
    );
    // The one worker is still there.
    let next = pool.submit(|| 6).unwrap();
    assert_eq!(next.result_timeout(Duration::from_secs(20)), Ok(6));
    assert_eq!(pool.threads_started(), 1);
}

/// An `.await` or a `wait_async` dropped before the end takes its waker back; an
/// `ALL_COMPLETED` wait holds the waker of only the first unfinished future.
#[test]
fn abandoned_waits_take_their_wakers_back() {
    use std::future::IntoFuture;
    let counting = Arc::new(Counting(AtomicUsize::new(0)));
    let waker: std::task::Waker = counting.clone().into();

    let f = Future::<u8>::new();
    let mut awaiting = f.clone().into_future();
    assert!(!poll_once(&mut awaiting, &waker));
    drop(awaiting);
    f.set_result(1).unwrap();
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        0,
        "the dropped .await was woken"
    );

    let fs: Vec<Future<u8>> = (0..3).map(|_| Future::new()).collect();
    let mut all = conc_futures::wait_async(&fs, conc_futures::ReturnWhen::AllCompleted);
    assert!(!poll_once(&mut all, &waker));
    fs[2].set_result(2).unwrap();
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        0,
        "only the first unfinished one holds it"
    );
    fs[0].set_result(0).unwrap();
    assert_eq!(counting.0.load(Ordering::SeqCst), 1);
    assert!(!poll_once(&mut all, &waker));
    fs[1].set_result(1).unwrap();
    assert!(poll_once(&mut all, &waker));

    let gs: Vec<Future<u8>> = (0..3).map(|_| Future::new()).collect();
    let mut first = conc_futures::wait_async(&gs, conc_futures::ReturnWhen::FirstCompleted);
    let before = counting.0.load(Ordering::SeqCst);
    assert!(!poll_once(&mut first, &waker));
    drop(first);
    gs[1].set_result(1).unwrap();
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        before,
        "the dropped wait was woken"
    );
}
