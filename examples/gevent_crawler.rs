//! The async crawler limited by `Semaphore(10)`, done with greenlets (seed 003).
//!
//! Ports seed 003's asyncio crawler, where `asyncio.Semaphore(10)` keeps at most ten
//! fetches in flight while 30 pages are requested: here 30 greenlets share one
//! `conc_coro::Semaphore(10)` and fetch from a local `StreamServer` that takes 50 ms per
//! page, all on one thread.
//!
//! What it shows: the limit holds (never more than 10 at once), and 30 pages take
//! about three rounds of 50 ms.
//!
//! How Rust differs: the crawler is plain blocking-looking code in greenlets; no
//! `async`/`await` colouring, and the fetch function is the same one a thread would use.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conc_coro::{Semaphore, joinall, spawn};
use examples::green_http::{GreenSite, green_get};

const PAGES: usize = 30;

fn main() {
    examples::heading("greenlet crawler with Semaphore(10) (seed 003)");
    let site = GreenSite::start(Duration::from_millis(50), |path| {
        path.strip_prefix("/page/")
            .and_then(|n| n.parse::<usize>().ok())
            .map(|n| 500 + n)
    })
    .expect("a local site");
    let addr = site.addr();
    let limit = Semaphore::new(10);
    let (in_flight, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let start = Instant::now();
    let crawlers: Vec<_> = (1..=PAGES)
        .map(|n| {
            let (limit, in_flight, peak) = (limit.clone(), in_flight.clone(), peak.clone());
            spawn(move || {
                limit.acquire(None).expect("a permit");
                in_flight.set(in_flight.get() + 1);
                peak.set(peak.get().max(in_flight.get()));
                let _busy = examples::timeline::span(format!("greenlet page {n}"), "fetch");
                let body = green_get(addr, &format!("/page/{n}"));
                in_flight.set(in_flight.get() - 1);
                limit.release();
                let len = body.expect("the page").len();
                println!("{} page {n}: {len} bytes", examples::stamp(start));
                len
            })
        })
        .collect();
    joinall(&crawlers, None).expect("the crawl ends");
    let bytes: usize = crawlers.iter().map(|c| c.get(None).expect("a size")).sum();
    println!(
        "{PAGES} pages, {bytes} bytes in {}; at most {} fetches at once",
        examples::ms(start.elapsed()),
        peak.get()
    );
    assert_eq!(peak.get(), 10);
    site.stop();
}
