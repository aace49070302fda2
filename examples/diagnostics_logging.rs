//! What the libraries report on their own, through the `log` facade: set up any logger
//! (here `env_logger`) and the messages appear; set none and they cost nothing.
//!
//! Not a seed scenario: Python prints these as warnings or "Exception ignored" lines on
//! stderr. Shown here:
//! - conc-process warns once when the `fork` start method is used while other threads
//!   run (Python 3.12's `DeprecationWarning`), since a lock held by another thread at
//!   the fork stays locked in the child;
//! - conc-coro reports what a destructor cannot return: a greenlet that keeps catching
//!   its kill is abandoned (its stack leaked) and says so, and a greenlet that panics
//!   when killed by a drop has the panic reported instead of lost.
//!
//! Run with `RUST_LOG=debug` for more, or `RUST_LOG=off` for nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};

use conc_coro::{Greenlet, getcurrent};
use conc_process::{StartMethod, get_context};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .init();
    conc_process::init();

    examples::heading("fork with another thread running: a warning, once");
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let busy = std::thread::spawn(move || stop_rx.recv());
    for n in 0..2 {
        let p = get_context(StartMethod::Fork).process(|x: u32| x * 2, n);
        p.start().expect("start");
        println!("  child {n} returned {}", p.result().expect("result"));
    }
    drop(stop_tx);
    let _ = busy.join();

    examples::heading("a greenlet that refuses to die is abandoned, and the log says so");
    let stubborn = Greenlet::new(|_: ()| {
        loop {
            let parent = getcurrent().parent().expect("not main");
            let _ = catch_unwind(AssertUnwindSafe(|| parent.switch(())));
        }
    });
    stubborn.switch(()).expect("it starts and waits");
    drop(stubborn); // the kill is caught again and again: abandoned, logged

    examples::heading("a greenlet that answers its kill with a panic: reported, not lost");
    std::panic::set_hook(Box::new(|_| {})); // the log line is the report here
    let fragile = Greenlet::new(|_: ()| {
        let parent = getcurrent().parent().expect("not main");
        if catch_unwind(AssertUnwindSafe(|| parent.switch(()))).is_err() {
            panic!("cleanup failed"); // instead of letting GreenletExit through
        }
    });
    fragile.switch(()).expect("it starts and waits");
    drop(fragile); // a drop cannot return the panic: it is logged
    let _ = std::panic::take_hook();
    println!("-> every message above came through log; nothing was printed by the libraries");
}
