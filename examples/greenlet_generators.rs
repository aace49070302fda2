//! Generator-style coroutines of seed 002: `work1` and `work2` take turns.
//!
//! Ports seed 002's first example: two generator functions each `yield i` ten times;
//! `main` calls `next(g1)`, `next(g2)` in a loop, so the prints alternate
//! `work1 0, work2 0, work1 1, …`. (The seed's loop never ends: it swallows
//! `StopIteration` inside `while True`. This port stops when both are exhausted.)
//!
//! What it shows: a generator is a greenlet whose "yield" is a switch to its parent,
//! wrapped here as a Rust `Iterator`.
//!
//! How Rust differs: Rust has iterators (and, unstably, generators) for this; greenlets
//! make it possible to yield from any depth of nested calls, which iterators cannot.

use std::time::Instant;

use conc_coro::{Greenlet, getcurrent};

/// A generator on a greenlet: `next` switches in; the body yields with [`yield_`].
struct Generator {
    greenlet: Greenlet,
}

impl Generator {
    fn new(body: impl FnOnce() + 'static) -> Generator {
        Generator {
            greenlet: Greenlet::new(move |_: ()| body()),
        }
    }
}

/// Python's `yield value` inside a greenlet-based generator: switch the value to the
/// consumer (the parent) and wait to be resumed.
fn yield_(value: u32) {
    let consumer = getcurrent().parent().expect("a generator has a consumer");
    consumer.switch(value).expect("the consumer resumes us");
}

impl Iterator for Generator {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.greenlet.dead() {
            return None;
        }
        // Whoever calls next is the consumer the body yields to.
        self.greenlet
            .set_parent(&getcurrent())
            .expect("a consumer is never the generator's descendant");
        // A yielded u32, or the body's `()` when it finishes.
        self.greenlet
            .switch(())
            .expect("the body does not panic")
            .downcast::<u32>()
            .ok()
    }
}

fn work(name: &'static str) -> Generator {
    Generator::new(move || {
        for i in 0..10 {
            println!("---{name} 获取数据 (got data) {i}");
            yield_(i);
        }
    })
}

fn main() {
    examples::heading("generator-style work1 / work2 on greenlets (seed 002)");
    let start = Instant::now();
    let (mut g1, mut g2) = (work("work1"), work("work2"));
    let mut seen = Vec::new();
    loop {
        let (a, b) = (g1.next(), g2.next());
        if a.is_none() && b.is_none() {
            break;
        }
        seen.extend(a);
        seen.extend(b);
    }
    let expected: Vec<u32> = (0..10).flat_map(|i| [i, i]).collect();
    assert_eq!(seen, expected);
    println!("-> 20 values, alternating, in {:.1?}", start.elapsed());
}
