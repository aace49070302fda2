//! Starting processes, and what `join` does to their order.
//!
//! Ports seed 001 §3.1–3.2: `for i in range(10): Process(target=run, args=('msc%s' % i,))
//! .start()` prints all ten "hello mscN" at once after the 2 s sleep, while adding
//! `p.join()` right after each `start()` runs them one after another.
//!
//! What it shows: `Process::new(run, arg)` + `start()` is `Process(target=run,
//! args=(arg,)).start()`; `join()` waits; the ten concurrent children finish in about
//! one sleep, the joined-in-turn ones in ten.
//!
//! How Rust differs:
//! - `conc_process::init()` is the first line of `main`: it is Rust's
//!   `if __name__ == '__main__':` guard. With the default start method (`forkserver`,
//!   as in Python 3.14) it forks the server that forks each child, and in `spawn`
//!   children it runs the child's function instead of the rest of `main`.
//! - The target is a named `fn(A) -> R`; its argument crosses to the child with serde.
//! - The seed sleeps 2 s; here 200 ms.

use std::time::{Duration, Instant};

use conc_process::Process;

const NAP: Duration = Duration::from_millis(200);

fn run(name: String) {
    let _busy = examples::timeline::process_span(format!("{name} sleeps"));
    std::thread::sleep(NAP);
    println!("hello {name} (pid {})", std::process::id());
}

fn main() {
    conc_process::init();

    examples::heading("ten processes started together, then joined");
    let start = Instant::now();
    let procs: Vec<Process<()>> = (0..10)
        .map(|i| Process::new(run, format!("msc{i}")))
        .collect();
    for p in &procs {
        p.start().expect("start");
    }
    for p in &procs {
        p.join().expect("join");
    }
    let together = start.elapsed();
    println!("all ten done in {}", examples::ms(together));

    examples::heading("start + join in turn: one after another");
    let start = Instant::now();
    for i in 0..10 {
        let p = Process::new(run, format!("msc{i}"));
        p.start().expect("start");
        p.join().expect("join");
    }
    let in_turn = start.elapsed();
    println!("ten in turn took {}", examples::ms(in_turn));

    // Ten concurrent sleeps overlap; ten joined in turn add up.
    assert!(in_turn >= NAP * 10, "joined in turn must take ten naps");
    assert!(together < in_turn, "concurrent children must overlap");
}
