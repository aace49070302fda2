//! Producer–consumer crawler: 3 crawl threads and 3 parse threads linked by two queues.
//!
//! Ports seed 003 ("生产者消费者模型"): `blog_spider.craw(url)` fetches a page with
//! `requests.get`, `blog_spider.parse(html)` pulls `(href, title)` out of every
//! `<a class="post-item-title">`; `do_crawl` threads loop `url_queue.get()` → craw →
//! `html_queue.put(html)`; `do_parse` threads loop `html_queue.get()` → parse → write
//! each result to `results.txt`; 49 URLs, threads named `crawl-0..2` and `parse-0..2`.
//! Seed 003 also times one `requests.get` in a thread first; the sequential crawl below
//! is that baseline.
//!
//! What it shows: two `conc_thread::Queue`s forming a pipeline; I/O-bound threads
//! overlapping their network waits (the crawl is several times faster than fetching
//! the pages one by one); a clean end with `Queue::shutdown`.
//!
//! How Rust differs:
//! - No internet: an `examples::PageServer` on `127.0.0.1` (OS-assigned port) serves 49
//!   look-alike pages, each answer delayed 15 ms to stand in for the network, and pages
//!   are fetched with a plain HTTP/1.0 GET over `std::net::TcpStream`.
//! - The seed's threads loop forever (`while True: url_queue.get()`) and the program
//!   never ends. Here the main thread calls `url_queue.shutdown(false)` after filling
//!   it: crawlers drain it and their `get()` then fails with `ShutDown`; once every
//!   crawler is joined, `html_queue.shutdown(false)` ends the parsers the same way.
//! - Three threads writing one file need the file behind a lock: it is a
//!   `Mutex<BufWriter<File>>` (the seed shares `fout` and relies on the GIL). The file
//!   goes to the temp directory and is removed at the end; a sample is printed.
//! - The parse step's `time.sleep(1)` is 5 ms.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_thread::{Builder, Queue};
use examples::{PageServer, http_get, parse_titles};

const PAGES: usize = 49;
const POSTS_PER_PAGE: usize = 10;
const LATENCY: Duration = Duration::from_millis(15);

/// `blog_spider.craw(url)`: `requests.get(url).text`.
fn craw(url: &str) -> String {
    http_get(url).unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
}

/// `do_crawl(url_queue, html_queue)`.
fn do_crawl(url_queue: &Queue<String>, html_queue: &Queue<String>) -> usize {
    let mut fetched = 0;
    while let Ok(url) = url_queue.get() {
        let html = craw(&url);
        html_queue
            .put(html)
            .expect("html_queue is shut down only after the crawlers end");
        fetched += 1;
    }
    fetched
}

/// `do_parse(html_queue, fout)`.
fn do_parse(html_queue: &Queue<String>, fout: &Mutex<BufWriter<File>>) -> usize {
    let mut parsed = 0;
    while let Ok(html) = html_queue.get() {
        let results = parse_titles(&html);
        let mut fout = fout.lock().expect("no thread panicked while writing");
        for (href, title) in &results {
            writeln!(fout, "('{href}', '{title}')").expect("the temp file is writable");
        }
        drop(fout);
        parsed += results.len();
        std::thread::sleep(Duration::from_millis(5)); // time.sleep(1), scaled
    }
    parsed
}

fn main() {
    let server = PageServer::start(PAGES, POSTS_PER_PAGE, LATENCY).expect("bind 127.0.0.1:0");
    let urls = server.urls();
    println!(
        "serving {PAGES} pages on {} ({} of latency each)",
        server.base_url(),
        examples::ms(LATENCY)
    );

    examples::heading("Baseline: fetch and parse the pages one by one");
    let start = Instant::now();
    let mut sequential_posts = 0;
    for url in &urls {
        sequential_posts += parse_titles(&craw(url)).len();
    }
    let sequential = start.elapsed();
    println!(
        "{sequential_posts} posts from {PAGES} pages in {}",
        examples::ms(sequential)
    );
    assert_eq!(sequential_posts, PAGES * POSTS_PER_PAGE);

    examples::heading("Seed 003: url_queue -> 3 crawl threads -> html_queue -> 3 parse threads");
    let path =
        std::env::temp_dir().join(format!("conc-crawler-results-{}.txt", std::process::id()));
    let fout = Arc::new(Mutex::new(BufWriter::new(
        File::create(&path).expect("the temp directory is writable"),
    )));
    let url_queue = Arc::new(Queue::new(0));
    let html_queue = Arc::new(Queue::new(0));
    let start = Instant::now();
    for url in &urls {
        url_queue.put(url.clone()).expect("url_queue is open");
    }
    url_queue.shutdown(false); // no more URLs: crawlers stop once it is drained

    let crawlers: Vec<_> = (0..3)
        .map(|i| {
            let (url_queue, html_queue) = (url_queue.clone(), html_queue.clone());
            Builder::new()
                .name(format!("crawl-{i}"))
                .spawn(move || do_crawl(&url_queue, &html_queue))
                .expect("the OS should start a thread")
        })
        .collect();
    let parsers: Vec<_> = (0..3)
        .map(|i| {
            let (html_queue, fout) = (html_queue.clone(), fout.clone());
            Builder::new()
                .name(format!("parse-{i}"))
                .spawn(move || do_parse(&html_queue, &fout))
                .expect("the OS should start a thread")
        })
        .collect();

    let mut pages_fetched = 0;
    for c in crawlers {
        let name = c.name().to_owned();
        let fetched = c.join().expect("the crawler does not panic");
        println!("{name} fetched {fetched} pages");
        pages_fetched += fetched;
    }
    html_queue.shutdown(false); // every page is in: parsers stop once it is drained
    let mut posts_parsed = 0;
    for p in parsers {
        let name = p.name().to_owned();
        let parsed = p.join().expect("the parser does not panic");
        println!("{name} parsed {parsed} posts");
        posts_parsed += parsed;
    }
    let threaded = start.elapsed();
    fout.lock()
        .expect("no thread panicked while writing")
        .flush()
        .expect("the temp file is writable");

    let lines: Vec<String> = BufReader::new(File::open(&path).expect("the file was just written"))
        .lines()
        .collect::<Result<_, _>>()
        .expect("the file is UTF-8 text");
    println!(
        "{} lines in {}; the first three:",
        lines.len(),
        path.display()
    );
    for line in lines.iter().take(3) {
        println!("  {line}");
    }
    std::fs::remove_file(&path).expect("the temp file can be removed");

    println!(
        "pipeline: {pages_fetched} pages, {posts_parsed} posts in {} vs {} one by one ({:.1}x faster)",
        examples::ms(threaded),
        examples::ms(sequential),
        sequential.as_secs_f64() / threaded.as_secs_f64()
    );
    assert_eq!(pages_fetched, PAGES);
    assert_eq!(posts_parsed, PAGES * POSTS_PER_PAGE);
    assert_eq!(lines.len(), PAGES * POSTS_PER_PAGE);
    assert!(url_queue.empty() && html_queue.empty());
    assert_eq!(server.requests_served(), 2 * PAGES);
}
