//! The `test1`/`test2` ping-pong of seed 002: two greenlets print 0..5 in turn.
//!
//! Ports seed 002's greenlet example: `test1` prints `i` and switches to `g2`; `test2`
//! prints `i` and switches back to `g1`; each sleeps 0.1 s per step (scaled down here to
//! 10 ms). Output `0 0 1 1 2 2 3 3 4 4`.
//!
//! What it shows: cooperative multitasking with explicit switches, and how cheap a
//! switch is: after the tour's version, 100,000 round trips are timed.
//!
//! How Rust differs: values can travel with the switch (here the step number), typed at
//! the receiving end.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use conc_coro::Greenlet;

fn main() {
    examples::heading("greenlet ping-pong: test1 / test2 (seed 002)");
    let start = Instant::now();
    let out = Rc::new(RefCell::new(Vec::new()));
    let g1_cell: Rc<OnceCell<Greenlet>> = Rc::default();
    let g2_cell: Rc<OnceCell<Greenlet>> = Rc::default();
    let player = |name: &'static str, other: Rc<OnceCell<Greenlet>>| {
        let out = out.clone();
        Greenlet::new(move |_: ()| {
            for i in 0..5 {
                let busy =
                    examples::timeline::span(format!("greenlet {name}"), format!("step {i}"));
                println!("{name}: {i}");
                out.borrow_mut().push(i);
                std::thread::sleep(Duration::from_millis(10));
                drop(busy); // it stops running here: the other greenlet takes the thread
                other
                    .get()
                    .expect("wired")
                    .switch(())
                    .expect("the other greenlet runs");
            }
        })
    };
    let g1 = player("test1", g2_cell.clone());
    let g2 = player("test2", g1_cell.clone());
    let _ = g1_cell.set(g1.clone());
    let _ = g2_cell.set(g2.clone());
    g1.switch(()).expect("test1 runs to completion");
    assert_eq!(*out.borrow(), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    println!("-> {:?} in {:.1?}", out.borrow(), start.elapsed());
    g2.kill().expect("test2 dies"); // test2 waits in its last switch; end it cleanly

    // How cheap is a switch? A greenlet bouncing a counter back to main.
    let rounds = 100_000_u64;
    let main = conc_coro::getcurrent();
    let echo = Greenlet::new(move |mut n: u64| {
        loop {
            n = main
                .switch(n + 1)
                .expect("main resumes us")
                .downcast()
                .expect("a u64");
        }
    });
    let timer = Instant::now();
    let mut n = 0_u64;
    for _ in 0..rounds {
        n = echo.switch_as(n).expect("echo answers");
    }
    let elapsed = timer.elapsed();
    assert_eq!(n, rounds);
    println!(
        "-> {rounds} round trips (2 switches each) in {elapsed:.1?}: {:.0} ns per switch",
        elapsed.as_nanos() as f64 / (2 * rounds) as f64
    );
}
