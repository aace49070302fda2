//! 2 greenlets x 100 HTTP requests, timed; and `Pool(5)` (seed 002).
//!
//! Ports seed 002: `work1(url)` and `work2(url)` each send 100 requests with
//! `requests.get(url)` and `gevent.sleep(0.01)` in between, timed by a `usetime`
//! decorator; here against a local `StreamServer` answering each request after 5 ms,
//! and compared with the same 200 requests one by one. The fetch function is written
//! against `impl Read + Write` (the monkey-patching lesson): given green sockets it is
//! cooperative. Then seed 002's `Pool(5)` with `apply_async`, `close`, `join`, with a
//! pool of greenlets: `spawn` waits for a free slot, `join` waits for all.
//!
//! How Rust differs: `Pool::new(5)` is gevent's `Pool(5)`; there is no `close`, since
//! a pool of greenlets takes work until it is dropped; `join` is the same.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conc_coro::{Pool, TcpStream, joinall, sleep, spawn};
use examples::green_http::{GreenSite, exchange};

const REQUESTS: usize = 100;

fn work(name: &'static str, addr: std::net::SocketAddr) -> usize {
    let mut bytes = 0;
    for i in 0..REQUESTS {
        let _busy = examples::timeline::span(format!("greenlet {name}"), format!("request {i}"));
        let conn = TcpStream::connect(addr).expect("connect");
        bytes += exchange(&conn, "/").expect("a page").len();
        sleep(Duration::from_millis(1)).expect("a green sleep");
        if i % 25 == 24 {
            println!("{name} sent request {}", i + 1);
        }
    }
    bytes
}

fn main() {
    examples::heading("2 greenlets x 100 HTTP requests (seed 002)");
    let site = GreenSite::start(Duration::from_millis(5), |_| Some(1024)).expect("a local site");
    let addr = site.addr();

    let start = Instant::now();
    let serial = work("one-by-one", addr) + work("one-by-one", addr);
    let serial_time = start.elapsed();
    println!(
        "one by one: {} requests in {}",
        2 * REQUESTS,
        examples::ms(serial_time)
    );

    let start = Instant::now();
    let g1 = spawn(move || work("work1", addr));
    let g2 = spawn(move || work("work2", addr));
    joinall([&g1, &g2], None).expect("both end");
    let together = start.elapsed();
    println!(
        "2 greenlets: {} requests in {} ({:.1}x faster)",
        2 * REQUESTS,
        examples::ms(together),
        serial_time.as_secs_f64() / together.as_secs_f64()
    );
    assert_eq!(
        g1.get(None).expect("bytes") + g2.get(None).expect("bytes"),
        serial
    );

    examples::heading("Pool(5): at most five greenlets at a time (seed 002)");
    let pool = Pool::new(5);
    let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    for task in 0..12 {
        let (now, peak) = (now.clone(), peak.clone());
        pool.spawn(move || {
            now.set(now.get() + 1);
            peak.set(peak.get().max(now.get()));
            let conn = TcpStream::connect(addr).expect("connect");
            exchange(&conn, "/").expect("a page");
            println!("task {task} done ({} running)", now.get());
            now.set(now.get() - 1);
        })
        .expect("a slot");
    }
    pool.join(None).expect("the pool drains");
    println!("at most {} ran at once", peak.get());
    assert_eq!(peak.get(), 5);
    site.stop();
}
