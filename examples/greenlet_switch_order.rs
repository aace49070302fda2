//! The greenlet switch order of seed 001: `12 56 34 78`.
//!
//! Ports seed 001's greenlet section: `test1` prints 12, switches to `gr2`, which prints
//! 56 and switches back to `gr1`; `gr1` prints 34 and switches to `gr2` again, which
//! prints 78 and returns, ending in the parent (the main greenlet).
//!
//! What it shows: explicit, symmetric switching between two functions on their own
//! stacks, on one thread, with no scheduler.
//!
//! How Rust differs: the greenlets refer to each other, so they are created first and
//! wired up through shared cells; a greenlet's handle is `!Send`, so the compiler keeps
//! both on this thread.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use conc_coro::Greenlet;

fn main() {
    examples::heading("greenlet switch order: 12 56 34 78 (seed 001)");
    let start = Instant::now();
    let printed = Rc::new(RefCell::new(Vec::new()));
    let gr1_cell: Rc<OnceCell<Greenlet>> = Rc::default();
    let gr2_cell: Rc<OnceCell<Greenlet>> = Rc::default();

    let gr1 = {
        let (printed, gr2) = (printed.clone(), gr2_cell.clone());
        Greenlet::new(move |_: ()| {
            println!("12");
            printed.borrow_mut().push(12);
            gr2.get().expect("wired").switch(()).expect("gr2 runs");
            println!("34");
            printed.borrow_mut().push(34);
            gr2.get().expect("wired").switch(()).expect("gr2 runs");
        })
    };
    let gr2 = {
        let (printed, gr1) = (printed.clone(), gr1_cell.clone());
        Greenlet::new(move |_: ()| {
            println!("56");
            printed.borrow_mut().push(56);
            gr1.get().expect("wired").switch(()).expect("gr1 runs");
            println!("78");
            printed.borrow_mut().push(78);
        })
    };
    let _ = gr1_cell.set(gr1.clone());
    let _ = gr2_cell.set(gr2.clone());

    gr1.switch(()).expect("both greenlets run to completion");
    assert_eq!(*printed.borrow(), [12, 56, 34, 78]);
    println!(
        "-> {:?} in {:.1?}; gr2 finished (dead: {}), gr1 is suspended in its last switch (dead: {})",
        printed.borrow(),
        start.elapsed(),
        gr2.dead(),
        gr1.dead()
    );
    assert!(gr2.dead() && !gr1.dead());
    // gr1 and gr2 refer to each other through the cells; break the cycle so the
    // suspended gr1 is unwound rather than leaked.
    gr1.kill().expect("gr1 dies");
}
