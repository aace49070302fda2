//! Shared memory: `Value` and `Array`.
//!
//! Ports seed 004 §4.4 ("共享内存: multiprocessing.Value(), multiprocessing.Array()"),
//! using the example of Python's documentation it refers to: `num = Value('d', 0.0)`,
//! `arr = Array('i', range(10))`, a child sets `num.value = 3.1415927` and negates every
//! element, and the parent then sees `3.1415927` and `[0, -1, ..., -9]`. Then four
//! children add to one counter, the classic lost-update demonstration, done right.
//!
//! What it shows: `Value<T>` and `Array<T>` live in real shared memory (no copying back
//! and forth); each has its lock, and `*value.lock()? += 1` is the safe increment.
//!
//! How Rust differs: typecodes like `'d'` and `'i'` become types (`f64`, `i32`); a
//! `Value` can only hold plain-old-data types, so nothing with pointers can be shared by
//! mistake.

use conc_process::{Array, Process, Value};

// The value is the Python documentation's literal, not an attempt at π.
#[allow(clippy::approx_constant)]
const NUM: f64 = 3.1415927;

fn f((num, arr): (Value<f64>, Array<i32>)) {
    num.set(NUM).expect("set");
    let mut a = arr.lock().expect("lock");
    for x in a.iter_mut() {
        *x = -*x;
    }
}

fn add_many((counter, n): (Value<u64>, u64)) {
    for _ in 0..n {
        *counter.lock().expect("lock") += 1;
    }
}

fn main() {
    conc_process::init();

    examples::heading("Value('d', 0.0) and Array('i', range(10))");
    let num = Value::new(0.0f64);
    let arr = Array::new(&(0..10).collect::<Vec<i32>>());
    let p = Process::new(f, (num.clone(), arr.clone()));
    p.start().expect("start");
    p.join().expect("join");
    let (n, a) = (num.get().expect("get"), arr.to_vec().expect("to_vec"));
    println!("{n}");
    println!("{a:?}");
    assert_eq!(n, NUM);
    assert_eq!(a, (0..10).map(|x| -x).collect::<Vec<_>>());

    examples::heading("four processes x 10,000 increments under the value's lock");
    let counter = Value::new(0u64);
    let procs: Vec<_> = (0..4)
        .map(|_| {
            let p = Process::new(add_many, (counter.clone(), 10_000));
            p.start().expect("start");
            p
        })
        .collect();
    for p in &procs {
        p.join().expect("join");
    }
    let total = counter.get().expect("get");
    println!("counter = {total}");
    assert_eq!(total, 40_000);
}
