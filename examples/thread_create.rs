//! Creating threads: by target function and by "subclass".
//!
//! Ports seed 001 §2.1 (`threading.Thread(target=testRun, args=("T1",))` and
//! `class MyThread(threading.Thread)` overriding `run`, both printing "2s / 1s / 0s"
//! a second apart) and seed 004's `MyThreading(func, arg)` whose `run` calls
//! `func(arg)` and then prints "`<name>` say hello" while the main thread prints first.
//!
//! What it shows: `conc_thread::spawn` and `Builder::new().name(..).spawn(..)` are
//! `Thread(target=...).start()`; a struct with a `run(self)` method plus a `start`
//! that spawns it is the Rust shape of subclassing `Thread`; `join` waits.
//!
//! How Rust differs:
//! - There is no `Thread` base class to inherit from. The "subclass" is a plain struct
//!   that *moves into* its thread: `start(self)` consumes it, so the compiler guarantees
//!   nobody else touches its fields while it runs (Python relies on convention).
//! - Arguments are captured by the closure instead of `args=(...)`.
//! - Python waits for non-daemon threads before the interpreter exits; a Rust program
//!   ends when `main` returns, so the example joins every thread (see `thread_daemon`
//!   for `ExitGuard`, which restores Python's behaviour).
//! - The seed sleeps 1 s per step; here a step is 100 ms so the demo stays short.

use std::time::Duration;

use conc_thread::{Builder, JoinHandle, current_thread};

/// One "second" of the seed, scaled down.
const STEP: Duration = Duration::from_millis(100);

/// Seed 001, method 1: the target function.
fn test_run(n: &str) {
    println!("Thread Task {n}");
    std::thread::sleep(STEP);
    println!("{n}: 2s");
    std::thread::sleep(STEP);
    println!("{n}: 1s");
    std::thread::sleep(STEP);
    println!("{n}: 0s");
}

/// Seed 001, method 2: `class MyThread(threading.Thread)` with `__init__(self, n)` and
/// `run(self)`.
struct MyThread {
    n: String,
}

impl MyThread {
    fn new(n: &str) -> Self {
        MyThread { n: n.to_owned() }
    }

    /// The body, as Python's overridden `run`.
    fn run(self) -> String {
        println!("task {} (running in {})", self.n, current_thread().name());
        std::thread::sleep(STEP);
        println!("{}: 2s", self.n);
        std::thread::sleep(STEP);
        println!("{}: 1s", self.n);
        std::thread::sleep(STEP);
        println!("{}: 0s", self.n);
        self.n
    }

    /// `Thread.start()`: runs `run` on a new thread named after the task. The struct
    /// moves into the thread; `join` gives back whatever `run` returns.
    fn start(self) -> JoinHandle<String> {
        Builder::new()
            .name(format!("MyThread-{}", self.n))
            .spawn(move || self.run())
            .expect("the OS should start a thread")
    }
}

/// Seed 004: `MyThreading(func, arg)`, a "subclass" that stores a function and its
/// argument, generic over both.
struct MyThreading<F, A> {
    func: F,
    arg: A,
}

impl<F, A> MyThreading<F, A>
where
    F: FnOnce(A) + Send + 'static,
    A: Send + 'static,
{
    fn start(self) -> JoinHandle<()> {
        conc_thread::spawn(move || {
            (self.func)(self.arg);
            println!("{} say hello", current_thread().name());
        })
    }
}

fn main() {
    examples::heading("Seed 001, method 1: Thread(target=testRun, args=(\"T1\",))");
    let t1 = conc_thread::spawn(|| test_run("T1"));
    let t2 = conc_thread::spawn(|| test_run("T2"));
    println!(
        "started {} (ident {}) and {} (ident {}); both alive: {}",
        t1.name(),
        t1.ident(),
        t2.name(),
        t2.ident(),
        t1.is_alive() && t2.is_alive()
    );
    t1.join().expect("T1 finished without panicking");
    t2.join().expect("T2 finished without panicking");
    println!("-> the two threads ran side by side: their 2s/1s/0s lines interleave");

    examples::heading("Seed 001, method 2: class MyThread(threading.Thread) with run()");
    let handles = [MyThread::new("t1").start(), MyThread::new("t2").start()];
    let mut finished = Vec::new();
    for handle in handles {
        let name = handle.name().to_owned();
        let n = handle.join().expect("MyThread::run does not panic");
        println!("joined {name}, run() returned {n:?}");
        finished.push(n);
    }
    assert_eq!(finished, ["t1", "t2"]);

    examples::heading("Seed 004: MyThreading(f1, 123) calls func(arg), then says hello");
    let obj = MyThreading {
        func: |args: i32| println!("{args}"),
        arg: 123,
    };
    let handle = obj.start();
    // The seed prints '主线程' ("main thread") right after start(): the main thread does
    // not wait for the child unless it joins.
    println!("main thread: {}", current_thread().name());
    handle.join().expect("MyThreading finished");
    println!("-> joined; every thread finished before main returns");
}
