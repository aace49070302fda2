//! `Event`: the traffic light.
//!
//! Ports seed 001 §2.10 ("事件"): a `lighter` thread sets the event (green), and on a
//! one-second tick counts `count`: green while `count <= 5`, `event.clear()` and red
//! while `5 < count <= 10`, then `event.set()` and `count = 0`. A `car("MINI")` thread
//! loops: if `event.is_set()` it prints `[MINI] running...`, otherwise
//! `[MINI] sees red light,waiting...`, blocks in `event.wait()`, and prints
//! `[MINI] green light is on,start going...` when the light turns green. Seed 004
//! describes `threading.Event()` the same way.
//!
//! What it shows: `Event::set`, `clear`, `is_set` and `wait` coordinating two threads:
//! the car blocks (using no CPU) exactly while the light is red.
//!
//! How Rust differs: the API is Python's. The seed's threads loop forever (the program
//! never ends); this port runs the light through two full cycles and then stops both
//! threads: a second event, `closed`, tells the car to go home, and the light turns
//! green one last time so a car waiting at red wakes up to see it. The 1 s tick is
//! 40 ms, so the demo takes about one second. (The seed's ANSI colour codes are left
//! out so the output stays readable when piped.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conc_thread::{Builder, Event};

const TICK: Duration = Duration::from_millis(40);
const CYCLES: usize = 2;

fn main() {
    examples::heading("Seed 001 §2.10: the traffic light");
    let event = Arc::new(Event::new()); // green when set
    let closed = Arc::new(Event::new()); // the port's addition: time to stop
    let start = Instant::now();
    let red_stops = Arc::new(AtomicUsize::new(0));

    let light = {
        let (event, closed) = (event.clone(), closed.clone());
        Builder::new()
            .name("lighter")
            .spawn(move || {
                let mut count = 0;
                let mut cycles = 0;
                event.set(); // starts green
                while cycles < CYCLES {
                    if 5 < count && count <= 10 {
                        event.clear(); // red: clear the flag
                        println!("{} red light is on...", examples::stamp(start));
                    } else if count > 10 {
                        event.set(); // green again: set the flag
                        count = 0;
                        cycles += 1;
                    } else {
                        println!("{} green light is on...", examples::stamp(start));
                    }
                    std::thread::sleep(TICK);
                    count += 1;
                }
                // Not in the seed: close the road and wake a car waiting at red.
                closed.set();
                event.set();
                cycles
            })
            .expect("the OS should start a thread")
    };

    let car = {
        let (event, closed, red_stops) = (event.clone(), closed.clone(), red_stops.clone());
        let name = "MINI";
        Builder::new()
            .name(format!("car-{name}"))
            .spawn(move || {
                let mut ticks_driven = 0;
                while !closed.is_set() {
                    if event.is_set() {
                        println!("{} [{name}] running...", examples::stamp(start));
                        ticks_driven += 1;
                        std::thread::sleep(TICK);
                    } else {
                        println!(
                            "{} [{name}] sees red light, waiting...",
                            examples::stamp(start)
                        );
                        red_stops.fetch_add(1, Ordering::SeqCst);
                        event.wait(); // blocks until the light calls set()
                        println!(
                            "{} [{name}] green light is on, start going...",
                            examples::stamp(start)
                        );
                    }
                }
                ticks_driven
            })
            .expect("the OS should start a thread")
    };

    let cycles = light.join().expect("the light does not panic");
    let ticks_driven = car.join().expect("the car does not panic");
    let red_stops = red_stops.load(Ordering::SeqCst);
    println!(
        "the light went through {cycles} green/red cycles; the car drove {ticks_driven} ticks \
         and stopped at red {red_stops} times, in {}",
        examples::ms(start.elapsed())
    );
    assert_eq!(cycles, CYCLES);
    assert!(event.is_set() && closed.is_set());
}
