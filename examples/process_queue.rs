//! `multiprocessing.Queue`: a child puts, the parent gets.
//!
//! Ports seed 001 §3.4 example 1 (`def f(q): q.put([42, None, 'hello'])`, the parent
//! prints `q.get()`), its examples 3–5 (a *thread* `queue.Queue` handed to a child:
//! Python fails, or the child fills a copy), and seed 004's "results come back through
//! a Queue", with several children putting into one queue.
//!
//! What it shows: `conc_process::Queue` crosses to children as their argument and is
//! shared by every process holding it; `get` waits for the next item; one queue serves
//! many producers.
//!
//! How Rust differs: the seed's failing example cannot even be written — a
//! `conc_thread::Queue` is not `Serialize`, so passing it to a `Process` is a compile
//! error rather than Python's runtime `TypeError: can't pickle _thread.lock objects`.

use std::collections::BTreeMap;

use conc_process::{Process, Queue, current_process};

type Item = (i32, Option<()>, String);

fn f(q: Queue<Item>) {
    q.put((42, None, "hello".to_string())).expect("put");
}

fn worker((q, n): (Queue<(String, u64)>, u64)) {
    q.put((current_process().name().to_owned(), n * n))
        .expect("put");
}

fn main() {
    conc_process::init();

    examples::heading("seed 001: q.put([42, None, 'hello']) in the child");
    let q = Queue::new(0).expect("queue");
    let p = Process::new(f, q.clone());
    p.start().expect("start");
    let item = q.get().expect("get");
    println!("{item:?}");
    assert_eq!(item, (42, None, "hello".to_string()));
    p.join().expect("join");

    examples::heading("seed 004: results from five processes through one queue");
    let results = Queue::new(0).expect("queue");
    let procs: Vec<_> = (1..=5)
        .map(|n| {
            let p = Process::new(worker, (results.clone(), n)).name(format!("squarer-{n}"));
            p.start().expect("start");
            p
        })
        .collect();
    let mut got = BTreeMap::new();
    for _ in &procs {
        let (name, square) = results.get().expect("get");
        println!("{name} says {square}");
        got.insert(name, square);
    }
    for p in &procs {
        p.join().expect("join");
    }
    assert_eq!(got.values().copied().collect::<Vec<_>>(), [1, 4, 9, 16, 25]);
    assert!(results.empty());
}
