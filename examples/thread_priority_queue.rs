//! Worker threads polling a shared queue under a lock until an exit flag is set; then
//! the same workers on a `PriorityQueue` of `(priority, name)` tuples.
//!
//! Ports seed 003 ("线程优先级队列实现"): globals `exitFlag = 0`,
//! `queueLock = threading.Lock()`, `workQueue = queue.Queue(10)`; three
//! `MyThread(threading.Thread)` workers (`Thread-1..3`) run `process_data`, which loops
//! `while not exitFlag:` taking `queueLock`, and if `not workQueue.empty()` does
//! `data = q.get()` and prints `Thread-N processing DATA`, then sleeps 1 s. The main
//! thread fills the queue with `ONE`..`FIVE` while holding `queueLock`, spins in
//! `while not workQueue.empty(): pass`, sets `exitFlag = 1` and joins the workers.
//!
//! What it shows: that program, line for line, with `conc_thread::Lock`, `Queue::new(10)`,
//! `empty()`/`get()` and an `AtomicBool` exit flag; then `PriorityQueue` handing out the
//! smallest `(priority, name)` first, on one thread and with the same three workers
//! (because the seed fills the queue under `queueLock` before any worker can `get`,
//! the gets come out in priority order); and finally the simpler design: blocking
//! `get()` ended by `shutdown()`, with no flag, no extra lock and no polling.
//!
//! How Rust differs: the exit flag must be an atomic (a plain `static mut` flag would
//! be a data race, which Rust rejects); the seed's two kinds of queue share no base
//! class, so a three-line trait lets one `process_data` drive both. Tuples compare
//! element by element as in Python, so `(1, "ONE") < (2, "TWO")`. The seed's busy loop
//! sleeps 1 ms per check here, and 1 s per poll is 40 ms.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use conc_thread::{Builder, JoinHandle, Lock, PriorityQueue, Queue};

const POLL: Duration = Duration::from_millis(40);

static EXIT_FLAG: AtomicBool = AtomicBool::new(false); // exitFlag = 0
static QUEUE_LOCK: Lock = Lock::new(); // queueLock = threading.Lock()
static WORK_QUEUE: LazyLock<Queue<&'static str>> = LazyLock::new(|| Queue::new(10));
static PRIORITY_QUEUE: LazyLock<PriorityQueue<(u32, &'static str)>> =
    LazyLock::new(|| PriorityQueue::new(10));
/// What the workers took, in the order they took it (recorded under `QUEUE_LOCK`).
static TAKEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What `process_data` needs from its queue, so the seed's `queue.Queue(10)` and a
/// `PriorityQueue(10)` can both be driven by it.
trait WorkQueue: Sync + 'static {
    type Item: Debug + Send;
    fn empty(&self) -> bool;
    fn get(&self) -> Self::Item;
}

impl<T: Debug + Send + 'static> WorkQueue for Queue<T> {
    type Item = T;
    fn empty(&self) -> bool {
        Queue::empty(self)
    }
    fn get(&self) -> T {
        Queue::get(self).expect("the queue is never shut down")
    }
}

impl<T: Ord + Debug + Send + 'static> WorkQueue for PriorityQueue<T> {
    type Item = T;
    fn empty(&self) -> bool {
        PriorityQueue::empty(self)
    }
    fn get(&self) -> T {
        PriorityQueue::get(self).expect("the queue is never shut down")
    }
}

/// `class MyThread(threading.Thread)` with `thread_id`, `name` and `q`.
struct MyThread<Q: WorkQueue> {
    thread_id: u32,
    name: String,
    q: &'static Q,
}

impl<Q: WorkQueue> MyThread<Q> {
    fn run(self) {
        println!("starting thread: {} (id {})", self.name, self.thread_id);
        process_data(&self.name, self.q);
        println!("exiting thread: {}", self.name);
    }

    fn start(self) -> JoinHandle<()> {
        Builder::new()
            .name(self.name.clone())
            .spawn(move || self.run())
            .expect("the OS should start a thread")
    }
}

/// The seed's `process_data(name, q)`.
fn process_data<Q: WorkQueue>(name: &str, q: &Q) {
    while !EXIT_FLAG.load(Ordering::SeqCst) {
        QUEUE_LOCK.acquire();
        if !q.empty() {
            let data = q.get();
            TAKEN
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("{data:?}"));
            QUEUE_LOCK.release().expect("this thread holds queueLock");
            println!("{name} processing {data:?}");
        } else {
            QUEUE_LOCK.release().expect("this thread holds queueLock");
        }
        std::thread::sleep(POLL);
    }
}

/// The seed's main program over `q`, filled with `items`; returns what was taken, in
/// order.
fn seed_main<Q: WorkQueue>(
    q: &'static Q,
    items: &[Q::Item],
    put: impl Fn(&Q, &Q::Item),
) -> Vec<String> {
    EXIT_FLAG.store(false, Ordering::SeqCst);
    TAKEN.lock().unwrap_or_else(PoisonError::into_inner).clear();
    let thread_list = ["Thread-1", "Thread-2", "Thread-3"];
    let mut threads = Vec::new();
    for (thread_id, tname) in (1..).zip(thread_list) {
        let thread = MyThread {
            thread_id,
            name: tname.to_owned(),
            q,
        };
        threads.push(thread.start());
    }

    // Fill the queue while holding queueLock: no worker can get() until all are in.
    QUEUE_LOCK.acquire();
    for item in items {
        put(q, item);
    }
    QUEUE_LOCK.release().expect("main holds queueLock");

    // Wait for the queue to empty (the seed spins with `pass`).
    while !q.empty() {
        std::thread::sleep(Duration::from_millis(1));
    }

    // Tell the threads it is time to exit.
    EXIT_FLAG.store(true, Ordering::SeqCst);

    for t in threads {
        t.join().expect("the worker does not panic");
    }
    println!("exiting the main thread");
    TAKEN.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn main() {
    examples::heading("Seed 003: exitFlag, queueLock, workQueue = queue.Queue(10), 3 workers");
    let name_list = ["ONE", "TWO", "THREE", "FOUR", "FIVE"];
    let taken = seed_main(&*WORK_QUEUE, &name_list, |q, name| {
        q.put(name).expect("the queue is open and has room");
    });
    println!("taken in order: {}", taken.join(", "));
    let expected: Vec<String> = name_list.iter().map(|n| format!("{n:?}")).collect();
    assert_eq!(
        taken, expected,
        "a FIFO queue hands the names out in the order put"
    );

    examples::heading("PriorityQueue: the smallest (priority, name) comes out first");
    let pq = PriorityQueue::new(0);
    for item in [
        (3, "THREE"),
        (1, "ONE"),
        (5, "FIVE"),
        (2, "TWO"),
        (4, "FOUR"),
    ] {
        pq.put(item).expect("the queue is open");
        println!("put {item:?}");
    }
    let mut order = Vec::new();
    while let Ok(item) = pq.get_nowait() {
        println!("get -> {item:?}");
        order.push(item);
    }
    assert_eq!(
        order,
        [
            (1, "ONE"),
            (2, "TWO"),
            (3, "THREE"),
            (4, "FOUR"),
            (5, "FIVE")
        ]
    );

    examples::heading("The seed's three workers on a PriorityQueue(10)");
    let jobs = [
        (3, "THREE"),
        (5, "FIVE"),
        (1, "ONE"),
        (4, "FOUR"),
        (2, "TWO"),
    ];
    println!("putting, in this order: {jobs:?}");
    let taken = seed_main(&*PRIORITY_QUEUE, &jobs, |q, job| {
        q.put(*job).expect("the queue is open and has room");
    });
    println!("taken in order: {}", taken.join(", "));
    let mut sorted = jobs;
    sorted.sort_unstable();
    let expected: Vec<String> = sorted.iter().map(|j| format!("{j:?}")).collect();
    assert_eq!(taken, expected, "every get took the smallest item left");

    examples::heading("Without exitFlag or queueLock: blocking get() ended by shutdown()");
    let queue = std::sync::Arc::new(PriorityQueue::new(10));
    let workers: Vec<_> = (1..=3)
        .map(|i| {
            let queue = queue.clone();
            Builder::new()
                .name(format!("Thread-{i}"))
                .spawn(move || {
                    let mut done = Vec::new();
                    // Blocks while empty; Err(ShutDown) once shut down and drained.
                    while let Ok((priority, name)) = queue.get() {
                        println!("Thread-{i} processing ({priority}, {name:?})");
                        done.push(name);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    done
                })
                .expect("the OS should start a thread")
        })
        .collect();
    for job in jobs {
        queue.put(job).expect("the queue is open");
    }
    queue.shutdown(false); // no more work: workers finish what is queued, then stop
    let mut all: Vec<&str> = Vec::new();
    for w in workers {
        all.extend(w.join().expect("the worker does not panic"));
    }
    all.sort_unstable();
    println!("processed: {all:?}");
    assert_eq!(all, ["FIVE", "FOUR", "ONE", "THREE", "TWO"]);
}
