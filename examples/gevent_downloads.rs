//! Concurrent downloads with `spawn` + `joinall` (seed 001's gevent example).
//!
//! Ports seed 001: `gevent.joinall([gevent.spawn(f, url) for url in ...])` where `f`
//! prints `GET: url`, fetches the page and prints `N bytes received from url.`. The three
//! sites are served by a local `StreamServer` on this same thread's hub, each answer
//! taking 200 ms (a slow network); the pages are fetched once one by one, then all at
//! once.
//!
//! What it shows: while one greenlet waits on its socket the others run, so three
//! 200 ms downloads take about 200 ms together instead of 600 ms, on one thread.
//!
//! How Rust differs: nothing is monkey-patched: the green `TcpStream` is what makes the
//! download cooperative, and its type says so.

use std::time::{Duration, Instant};

use conc_coro::{joinall, spawn};
use examples::green_http::{GreenSite, green_get};

const LATENCY: Duration = Duration::from_millis(200);
const SITES: [(&str, usize); 3] = [
    ("/python.org", 48_868),
    ("/yahoo.com", 484_789),
    ("/github.com", 59_564),
];

fn main() {
    examples::heading("gevent: spawn + joinall of concurrent downloads (seed 001)");
    let site = GreenSite::start(LATENCY, |path| {
        SITES
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, size)| *size)
    })
    .expect("a local site");
    let addr = site.addr();

    println!("-- one by one --");
    let start = Instant::now();
    for (path, _) in SITES {
        println!("GET: {path}");
        let body = green_get(addr, path).expect("the page");
        println!("{} bytes received from {path}.", body.len());
    }
    let serial = start.elapsed();
    println!("serial: {}", examples::ms(serial));

    println!("-- spawn + joinall --");
    let start = Instant::now();
    let tasks: Vec<_> = SITES
        .iter()
        .map(|&(path, size)| {
            spawn(move || {
                let _busy = examples::timeline::span(format!("greenlet {path}"), "download");
                println!("GET: {path}");
                let body = green_get(addr, path).expect("the page");
                println!("{} bytes received from {path}.", body.len());
                assert_eq!(body.len(), size);
                body.len()
            })
        })
        .collect();
    joinall(&tasks, None).expect("every download ends");
    let concurrent = start.elapsed();
    println!("concurrent: {}", examples::ms(concurrent));
    let total: usize = tasks.iter().map(|t| t.get(None).expect("a size")).sum();
    println!(
        "{total} bytes in all; concurrent took {:.1}x less time",
        serial.as_secs_f64() / concurrent.as_secs_f64()
    );
    assert!(concurrent < serial, "the downloads overlapped");
    site.stop();
}
