//! `as_completed`: futures in the order they finish, with a timeout, and a crawler on a
//! thread pool.
//!
//! Ports seed 004 ("as_completed"): `spider(page)` for pages 1..4 on
//! `ThreadPoolExecutor(max_workers=20)`, then `for future in as_completed(obj_list):
//! print(f"main: {future.result()}")` ("先完成的任务会先返回给主线程"; it blocks until one
//! is done "除非设置了 timeout"); and seed 003's `ThreadPoolExecutor` section, where
//! `submit` plus `as_completed` returns results "按任务完成顺序" (in completion order)
//! while `map` keeps input order, applied to its crawler (`craw(url)` =
//! `requests.get(url).text` over the blog's 49 list pages) in the dictionary style of
//! seed 000: `futures = {executor.submit(craw, url): url for url in urls}`, then
//! `url = futures[f]` for each `f in as_completed(futures)`.
//!
//! What it shows: the seed's spiders coming back 1, 2, 3, 4, and the same when they are
//! submitted as 4, 3, 2, 1; a deterministic proof that `as_completed` follows
//! completion, not submission (four tasks released one by one in the order 3, 1, 4, 2
//! come out 3, 1, 4, 2); `timeout` ending the iteration with "1 (of 3) futures
//! unfinished"; and 49 pages fetched by 10 workers from a local server, handled as they
//! arrive, several times faster than one by one.
//!
//! How Rust differs:
//! - `as_completed(&futures, timeout)` takes a slice and yields
//!   `Result<Future<T>, FutureError>`: `Ok(future)` for each completed one, then
//!   `Err(FutureError::Unfinished { .. })` once if the timeout expires (Python raises
//!   `TimeoutError` from the loop).
//! - A `Future` is `Eq + Hash` (by identity), so the seed's `{future: url}` dictionary
//!   is a `HashMap<Future<String>, String>`; `as_completed` wants a slice, so the keys
//!   are collected into a `Vec` first.
//! - No internet: `examples::PageServer` serves the pages on 127.0.0.1 with 10 ms of
//!   latency each, fetched with a blocking HTTP/1.0 GET.
//! - Seconds are scaled to 50 ms.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conc_futures::{Executor, Future, FutureError, ThreadPoolExecutor, as_completed};
use conc_thread::Event;
use examples::{PageServer, http_get, parse_titles};

/// One "second" of the seeds.
const UNIT: Duration = Duration::from_millis(50);

const PAGES: usize = 49;
const POSTS_PER_PAGE: usize = 10;
const LATENCY: Duration = Duration::from_millis(10);

/// Seed 004's `spider(page)`.
fn spider(page: u32, start: Instant) -> u32 {
    std::thread::sleep(page * UNIT);
    println!("{} crawl task{page} finished", examples::stamp(start));
    page
}

fn main() {
    spiders(&[1, 2, 3, 4]);
    spiders(&[4, 3, 2, 1]);
    completion_order_proof();
    timeout();
    crawler();
}

fn spiders(pages: &[u32]) {
    examples::heading(&format!(
        "Seed 004: submit spider(page) for pages {pages:?}, then as_completed"
    ));
    let start = Instant::now();
    let t = examples::pool(20);
    let obj_list: Vec<_> = pages
        .iter()
        .map(|&page| {
            t.submit(move || spider(page, start))
                .expect("the pool is open")
        })
        .collect();
    let mut order = Vec::new();
    for future in as_completed(&obj_list, None) {
        let data = future
            .expect("no timeout was given")
            .result()
            .expect("spider does not panic");
        println!("{} main: {data}", examples::stamp(start));
        order.push(data);
    }
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3, 4], "each future is yielded exactly once");
    assert!(start.elapsed() >= 4 * UNIT);
}

fn completion_order_proof() {
    examples::heading("Completion order, not submission order: release tasks 3, 1, 4, 2");
    let pool = examples::pool(4);
    let gates: Vec<Arc<Event>> = (0..4).map(|_| Arc::new(Event::new())).collect();
    let futures: Vec<Future<usize>> = (0..4)
        .map(|i| {
            let gate = gates[i].clone();
            pool.submit(move || {
                // At most 5 s, so a broken library fails instead of hanging.
                assert!(gate.wait_timeout(Duration::from_secs(5)), "released");
                i + 1
            })
            .expect("the pool is open")
        })
        .collect();
    let mut completed = as_completed(&futures, None);
    for task in [3, 1, 4, 2] {
        // Only task `task` can finish now, so it must be the next one yielded.
        gates[task - 1].set();
        let next = completed
            .next()
            .expect("one future left at least")
            .expect("no timeout was given");
        println!(
            "released task {task} -> as_completed yields task {}",
            next.result().expect("released")
        );
        assert_eq!(next, futures[task - 1]);
    }
    assert!(completed.next().is_none(), "four futures, four yields");
}

fn timeout() {
    examples::heading(
        "as_completed(fs, timeout=0.25 s) with one task that will not finish in time",
    );
    let start = Instant::now();
    let pool = examples::pool(3);
    let release = Arc::new(Event::new());
    let futures: Vec<Future<&str>> = ["quick", "quicker", "stuck"]
        .into_iter()
        .map(|name| {
            let gate = release.clone();
            pool.submit(move || {
                if name == "stuck" {
                    gate.wait_timeout(Duration::from_secs(5));
                }
                name
            })
            .expect("the pool is open")
        })
        .collect();
    let mut yielded = 0;
    let mut error = None;
    for item in as_completed(&futures, Some(Duration::from_millis(250))) {
        match item {
            Ok(f) => {
                println!(
                    "{} done: {}",
                    examples::stamp(start),
                    f.result().expect("no panic")
                );
                yielded += 1;
            }
            Err(e) => {
                println!("{} TimeoutError: {e}", examples::stamp(start));
                error = Some(e);
            }
        }
    }
    release.set();
    let Some(FutureError::Unfinished { unfinished, total }) = error else {
        panic!("the stuck task must make the iteration time out, got {error:?}");
    };
    assert_eq!(total, 3);
    assert!(unfinished >= 1, "the stuck task is unfinished");
    assert_eq!(yielded + unfinished, 3);
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert_eq!(futures[2].result(), Ok("stuck"));
}

/// Seed 003's `craw(url)`: `requests.get(url).text`.
fn craw(url: &str) -> String {
    http_get(url).unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
}

fn crawler() {
    examples::heading("Seed 003/000: crawler, {executor.submit(craw, url): url} + as_completed");
    let server = PageServer::start(PAGES, POSTS_PER_PAGE, LATENCY).expect("bind 127.0.0.1:0");
    let urls = server.urls();
    println!(
        "serving {PAGES} pages on {} ({} of latency each)",
        server.base_url(),
        examples::ms(LATENCY)
    );

    let start = Instant::now();
    let serial_posts: usize = urls.iter().map(|url| parse_titles(&craw(url)).len()).sum();
    let serial = start.elapsed();
    println!(
        "one by one: {serial_posts} posts in {}",
        examples::ms(serial)
    );

    let start = Instant::now();
    let executor = ThreadPoolExecutor::builder()
        .max_workers(10)
        .thread_name_prefix("craw")
        .build()
        .expect("10 workers is a valid size");
    // A `Future` hashes by identity (which task), never by its changing state, so
    // clippy's `mutable_key_type` warning does not apply.
    #[allow(clippy::mutable_key_type)]
    let futures: HashMap<Future<String>, String> = urls
        .iter()
        .map(|url| {
            let u = url.clone();
            let f = executor.submit(move || craw(&u)).expect("the pool is open");
            (f, url.clone())
        })
        .collect();
    let keys: Vec<Future<String>> = futures.keys().cloned().collect();
    let mut arrival = Vec::new();
    let mut posts = 0;
    for f in as_completed(&keys, None) {
        let f = f.expect("no timeout was given");
        let url = &futures[&f];
        let html = f.take().expect("craw does not panic");
        let titles = parse_titles(&html);
        if arrival.len() < 5 {
            println!(
                "{} {url} {} bytes, first post: {}",
                examples::stamp(start),
                html.len(),
                titles[0].1
            );
        }
        posts += titles.len();
        arrival.push(url.rsplit("/p").next().unwrap_or_default().to_owned());
    }
    let pooled = start.elapsed();
    println!("... {} more pages", arrival.len() - 5);
    println!("pages in arrival order: {}", arrival.join(" "));
    println!(
        "10 workers: {posts} posts in {} vs {} one by one ({:.1}x faster)",
        examples::ms(pooled),
        examples::ms(serial),
        serial.as_secs_f64() / pooled.as_secs_f64()
    );

    let mut pages: Vec<usize> = arrival
        .iter()
        .map(|p| p.parse().expect("a page number"))
        .collect();
    pages.sort_unstable();
    assert_eq!(
        pages,
        (1..=PAGES).collect::<Vec<_>>(),
        "every page exactly once"
    );
    assert_eq!(posts, PAGES * POSTS_PER_PAGE);
    assert_eq!(serial_posts, PAGES * POSTS_PER_PAGE);
    assert_eq!(server.requests_served(), 2 * PAGES);
    // 49 pages of 10 ms each need at least 490 ms one by one and at least 50 ms (5
    // rounds) on 10 workers: the pool wins by far on any machine.
    assert!(pooled < serial, "{pooled:?} vs {serial:?}");
}
