//! Helpers shared by the example programs: a heading printer, a stopwatch format, a
//! one-line panic report, and a tiny page server standing in for the web sites the seed
//! tutorials crawl.
//!
//! The seeds fetch real sites (`requests.get("https://www.cnblogs.com/#p1")`); the
//! examples must run without internet, so [`PageServer`] serves look-alike blog pages on
//! `127.0.0.1` (port chosen by the OS), [`http_get`] fetches one with a plain HTTP/1.0
//! request over `std::net::TcpStream`, and [`parse_titles`] plays BeautifulSoup's
//! `soup.find_all('a', class_='post-item-title')`.
//!
//! The server's own threads are plain `std::thread`s, deliberately: it is "the
//! internet", not part of the demo, so it never shows up in
//! `conc_thread::active_count()` or `conc_thread::enumerate()`.

pub mod green_http;
pub mod primes;
pub mod timeline;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Prints a section heading, so the output of each example reads as a short tour.
///
/// # Examples
///
/// ```
/// examples::heading("1. Thread by target");
/// ```
pub fn heading(title: &str) {
    println!();
    println!("== {title} ==");
}

/// Formats the time elapsed since `start` as `[  0.123s]`, for time-stamped log lines.
///
/// # Examples
///
/// ```
/// let start = std::time::Instant::now();
/// assert!(examples::stamp(start).starts_with("[  0."));
/// ```
pub fn stamp(start: Instant) -> String {
    format!("[{:7.3}s]", start.elapsed().as_secs_f64())
}

/// Formats a duration in milliseconds with one decimal, e.g. `312.4 ms`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(examples::ms(Duration::from_micros(1500)), "1.5 ms");
/// ```
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Replaces Rust's default panic report (several lines, with a backtrace hint) by one
/// line on stderr, `(panic in ThreadPoolExecutor-0_0: division by zero)`, for examples
/// that panic on purpose to show how the panic comes back as an error. Python prints
/// nothing when a pool task raises; the exception waits in the future.
///
/// # Examples
///
/// ```
/// examples::one_line_panic_reports();
/// let caught = std::panic::catch_unwind(|| panic!("on purpose"));
/// assert!(caught.is_err());
/// ```
pub fn one_line_panic_reports() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        eprintln!(
            "(panic in {}: {})",
            thread.name().unwrap_or("an unnamed thread"),
            panic_payload_message(info.payload())
        );
    }));
}

fn panic_payload_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

/// Topics used to make the blog post titles look like the seed's (a Chinese blog about
/// Python concurrency).
const TOPICS: [&str; 10] = [
    "threads vs processes",
    "what the GIL really locks",
    "Lock, RLock and deadlocks",
    "producer-consumer with queue.Queue",
    "Semaphore limits a crawler",
    "Event as a traffic light",
    "ThreadPoolExecutor in practice",
    "multiprocessing.Pool map",
    "asyncio tasks and gather",
    "when to use which",
];

/// A tiny HTTP/1.0 server on `127.0.0.1` serving `pages` blog-list pages at `/p1` ...
/// `/p{pages}`, each listing `posts_per_page` post links in the shape the seed's parser
/// looks for: `<a class="post-item-title" href="...">title</a>`.
///
/// Every response waits `latency` first, to stand in for the network: that wait is what
/// makes threads pay off for I/O-bound work. Each connection gets its own OS thread, so
/// concurrent clients are served concurrently. The server stops when dropped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use examples::{PageServer, http_get, parse_titles};
///
/// let server = PageServer::start(3, 2, Duration::ZERO).unwrap();
/// let html = http_get(&server.url(2)).unwrap();
/// let posts = parse_titles(&html);
/// assert_eq!(posts.len(), 2);
/// assert!(posts[0].1.starts_with("Post 2.1"));
/// assert!(http_get(&format!("{}/missing", server.base_url())).is_err());
/// assert_eq!(server.requests_served(), 1); // the 404 does not count
/// ```
#[derive(Debug)]
pub struct PageServer {
    addr: SocketAddr,
    pages: usize,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    /// Binds `127.0.0.1:0` (the OS picks a free port) and starts serving.
    ///
    /// # Errors
    ///
    /// Any error binding the socket or starting the accept thread.
    pub fn start(pages: usize, posts_per_page: usize, latency: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::Builder::new()
                .name("page-server".into())
                .spawn(move || {
                    accept_loop(listener, addr, pages, posts_per_page, latency, stop, served)
                })?
        };
        Ok(PageServer {
            addr,
            pages,
            stop,
            served,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of page `n` (1-based), `http://127.0.0.1:PORT/p{n}`.
    pub fn url(&self, n: usize) -> String {
        format!("{}/p{n}", self.base_url())
    }

    /// The URLs of every page, in order: the seed's
    /// `urls = [f'https://www.cnblogs.com/#p{i}' for i in range(1, 50)]`.
    pub fn urls(&self) -> Vec<String> {
        (1..=self.pages).map(|n| self.url(n)).collect()
    }

    /// How many page requests (status 200) were answered so far; a request is counted
    /// before its response is sent.
    pub fn requests_served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking `accept` with one last connection; it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    pages: usize,
    posts_per_page: usize,
    latency: Duration,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let served = served.clone();
        // One short-lived thread per connection; if the OS refuses one, drop the
        // connection and the client sees an error, as with a real overloaded server.
        let _ = std::thread::Builder::new()
            .name("page-server-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _ = serve(stream, addr, pages, posts_per_page, latency, &served);
            });
    }
}

/// Answers one request, counting it in `served` if it is a page (status 200). The count
/// is taken before the response is written, so a client holding a full response can
/// rely on having been counted.
fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    pages: usize,
    posts_per_page: usize,
    latency: Duration,
    served: &AtomicUsize,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers up to the blank line.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    std::thread::sleep(latency);

    let page = request_line
        .strip_prefix("GET /p")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=pages).contains(n));
    let (status, body) = match page {
        Some(n) => {
            served.fetch_add(1, Ordering::SeqCst);
            ("200 OK", render_page(addr, n, posts_per_page))
        }
        None => (
            "404 Not Found",
            "<html><body>not found</body></html>\n".to_owned(),
        ),
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn render_page(addr: SocketAddr, n: usize, posts_per_page: usize) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Blog list, page {n}</title></head>\n<body>\n"
    );
    for k in 1..=posts_per_page {
        let topic = TOPICS[(n * posts_per_page + k) % TOPICS.len()];
        html.push_str(&format!(
            "<div class=\"post-item\"><a class=\"post-item-title\" href=\"http://{addr}/p{n}/post-{k}\" target=\"_blank\">Post {n}.{k}: {topic}</a>\
             <a class=\"post-meta-item\" href=\"http://{addr}/user/{k}\">author {k}</a></div>\n"
        ));
    }
    html.push_str("</body></html>\n");
    html
}

/// Fetches `url` (`http://host:port/path`) with a plain HTTP/1.0 `GET` and returns the
/// body: the seed's `requests.get(url).text`, reduced to what a local demo needs.
///
/// # Errors
///
/// A connection or I/O error, a malformed URL or response, or a status other than 200
/// (reported as `io::ErrorKind::Other` with the status line).
///
/// # Examples
///
/// ```
/// assert!(examples::http_get("ftp://example.org/").is_err());
/// ```
pub fn http_get(url: &str) -> io::Result<String> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are supported"))?;
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid("response without a header/body separator"))?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(io::Error::other(format!("GET {url}: {status_line}")));
    }
    Ok(body.to_owned())
}

/// Extracts `(href, title)` of every `<a class="post-item-title" ...>` link, in page
/// order: the seed's
/// `[(link.get('href'), link.get_text()) for link in soup.find_all('a', class_='post-item-title')]`.
///
/// A deliberately small scanner for the pages [`PageServer`] writes, not an HTML parser.
///
/// # Examples
///
/// ```
/// let html = r#"<a class="post-item-title" href="/a">First</a><a href="/x">x</a>"#;
/// assert_eq!(
///     examples::parse_titles(html),
///     [("/a".to_owned(), "First".to_owned())]
/// );
/// ```
pub fn parse_titles(html: &str) -> Vec<(String, String)> {
    const START: &str = "<a class=\"post-item-title\" href=\"";
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(START) {
        rest = &rest[at + START.len()..];
        let Some(href_end) = rest.find('"') else {
            break;
        };
        let href = &rest[..href_end];
        let Some(text_start) = rest.find('>') else {
            break;
        };
        let Some(text_len) = rest[text_start + 1..].find("</a>") else {
            break;
        };
        let title = &rest[text_start + 1..text_start + 1 + text_len];
        found.push((href.to_owned(), title.to_owned()));
        rest = &rest[text_start + 1 + text_len..];
    }
    found
}

/// A `ThreadPoolExecutor` with `max_workers` threads (Python:
/// `ThreadPoolExecutor(max_workers=n)`), the pool every futures example starts from.
///
/// # Panics
///
/// If `max_workers` is 0, which Python rejects with `ValueError` too.
///
/// # Examples
///
/// ```
/// use conc_futures::Executor;
///
/// let pool = examples::pool(2);
/// assert_eq!(pool.submit(|| 1 + 1).unwrap().result(), Ok(2));
/// ```
#[track_caller]
pub fn pool(max_workers: usize) -> conc_futures::ThreadPoolExecutor {
    match conc_futures::ThreadPoolExecutor::builder()
        .max_workers(max_workers)
        .build()
    {
        Ok(pool) => pool,
        Err(error) => panic!("ThreadPoolExecutor({max_workers}): {error}"),
    }
}

/// docs/python-to-rust.md's programs, compiled and run as doc tests so the guide cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/python-to-rust.md")]
pub struct PythonToRustGuide;
