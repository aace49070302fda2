//! `gevent.spawn`, `sleep` and `join`, and monkey patching made explicit (seed 002).
//!
//! Ports seed 002: `work1` and `work2` print `work1:i` / `work2:i` five times each,
//! calling `gevent.sleep(0.1)` in between (here 10 ms), and the main greenlet joins
//! both: their lines interleave. Then the seed's monkey-patching lesson: `time.sleep`
//! does not switch unless `monkey.patch_all()` replaced it. In Rust nothing is patched:
//! `std::thread::sleep` blocks the whole thread (every greenlet waits), and
//! `conc_coro::sleep` parks only the calling greenlet. The same holds for sockets: a
//! function written against `impl Read + Write` is cooperative when handed a green
//! `TcpStream`, blocking when handed a `std` one.
//!
//! How Rust differs: no global patching (which the seed warns breaks with threads); the
//! choice is in the types.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conc_coro::{sleep, spawn};

fn worker(
    name: &'static str,
    step: Duration,
    log: Rc<RefCell<Vec<String>>>,
    green: bool,
) -> impl FnOnce() {
    move || {
        for i in 0..5 {
            let _busy = examples::timeline::span(format!("greenlet {name}"), format!("step {i}"));
            println!("{name}:{i}");
            log.borrow_mut().push(format!("{name}:{i}"));
            if green {
                sleep(step).expect("a green sleep");
            } else {
                std::thread::sleep(step); // blocks the thread: no other greenlet runs
            }
        }
    }
}

/// work1 and work2 together, stepping every `steps.0` and `steps.1` ms, with green or
/// blocking sleeps; the log is cleared first. Returns how long both took.
fn pair(log: &Rc<RefCell<Vec<String>>>, green: bool, steps: (u64, u64)) -> Duration {
    log.borrow_mut().clear();
    let start = Instant::now();
    let g1 = spawn(worker(
        "work1",
        Duration::from_millis(steps.0),
        log.clone(),
        green,
    ));
    let g2 = spawn(worker(
        "work2",
        Duration::from_millis(steps.1),
        log.clone(),
        green,
    ));
    // The seed's g1.join(); g2.join().
    g1.join(None).expect("work1 ends");
    g2.join(None).expect("work2 ends");
    start.elapsed()
}

fn main() {
    examples::heading("gevent.spawn / sleep / join: interleaving (seed 002)");
    let log = Rc::new(RefCell::new(Vec::new()));
    pair(&log, true, (10, 10));
    let interleaved = log.borrow().iter().take(2).cloned().collect::<Vec<_>>();
    assert_eq!(
        interleaved,
        ["work1:0", "work2:0"],
        "the greenlets took turns"
    );

    examples::heading("time.sleep without monkey patching: std::thread::sleep blocks the hub");
    let blocking = pair(&log, false, (10, 40));
    println!(
        "blocking sleeps: {} (5 x 10 ms + 5 x 40 ms, one after the other)",
        examples::ms(blocking)
    );
    assert_eq!(
        log.borrow()[..5]
            .iter()
            .filter(|l| l.starts_with("work1"))
            .count(),
        5,
        "work1 ran alone first"
    );
    let green = pair(&log, true, (10, 40));
    println!(
        "green sleeps: {} (the two overlap: about 5 x 40 ms)",
        examples::ms(green)
    );
}
