//! `multiprocessing.Manager`: a dict and a list filled by ten processes, a queue shared
//! by pool workers, a value, a lock.
//!
//! Ports seed 001 §3.5 (`f(d, l)`: ten processes put their pid into `manager.dict()`
//! and append it to `manager.list(range(5))`), seed 002's pool-worker queue (a
//! `writer` task puts the letters of "helloword" into `Manager().Queue()`, a `reader`
//! task takes them), and seed 004's manager of shared objects (a `Value` next to them).
//!
//! What it shows: the proxies cross to children and to pool workers as arguments, and
//! every process sees the same objects; each call is one round trip to the manager's
//! server process.
//!
//! How Rust differs: the proxies are typed (`DictProxy<u32, u32>`, `ListProxy<u32>`),
//! methods return `Result` (a manager that died is an error, not a hang), and a lock
//! whose holder died is released instead of staying locked.

use std::time::Duration;

use conc_process::{DictProxy, ListProxy, Manager, Pool, Process, QueueProxy};

fn f((d, l): (DictProxy<u32, u32>, ListProxy<u32>)) {
    let pid = std::process::id();
    d.insert(&pid, &pid).expect("insert");
    l.append(&pid).expect("append");
    println!("  {:?}", l.to_vec().expect("list"));
}

fn writer(q: QueueProxy<char>) {
    for c in "helloword".chars() {
        q.put(&c).expect("put");
    }
}

fn reader(q: QueueProxy<char>) -> String {
    let mut got = String::new();
    for _ in 0..q.qsize().expect("qsize") {
        let c = q.get().expect("get");
        println!("  reader got from the queue: {c}");
        got.push(c);
    }
    got
}

fn main() {
    conc_process::init();
    let manager = Manager::new().expect("manager");

    examples::heading("seed 001: ten processes fill a manager dict and list");
    let d = manager.dict::<u32, u32>().expect("dict");
    let l = manager.list(0..5).expect("list");
    let kids: Vec<_> = (0..10)
        .map(|_| {
            let p = Process::new(f, (d.clone(), l.clone()));
            p.start().expect("start");
            p
        })
        .collect();
    for k in &kids {
        k.join().expect("join");
    }
    println!("d = {:?}", d.items().expect("items"));
    println!("l = {:?}", l.to_vec().expect("list"));
    assert_eq!(d.len().expect("len"), 10);
    assert_eq!(l.len().expect("len"), 15);

    examples::heading("seed 002: pool workers share Manager().Queue()");
    let q = manager.queue::<char>(0).expect("queue");
    let pool = Pool::new(2).expect("pool");
    pool.apply(writer, q.clone()).expect("writer");
    let read = pool.apply_async(reader, q.clone());
    pool.close();
    pool.join().expect("join");
    let read = read.get(None).expect("reader");
    println!("({}) End: the reader got {read:?}", std::process::id());
    assert_eq!(read, "helloword");

    examples::heading("seed 004: a Value and a Lock in the manager");
    let counter = manager.value(0u32).expect("value");
    let lock = manager.lock().expect("lock");
    {
        let _held = lock.lock().expect("lock");
        counter
            .set(&(counter.get().expect("get") + 1))
            .expect("set");
    }
    println!("counter = {}", counter.get().expect("get"));
    println!(
        "a 10 ms wait for an event nobody sets: {:?}",
        manager
            .event()
            .expect("event")
            .wait(Some(Duration::from_millis(10)))
    );
    manager.shutdown().expect("shutdown");
    println!("after shutdown, d.len() = {:?}", d.len());
}
