//! HTTP on green sockets for the gevent examples: a [`GreenSite`] that serves pages
//! from a `conc_coro::StreamServer` on 127.0.0.1 (standing in for the web sites the
//! seeds fetch), and [`exchange`], one `GET` over any `Read + Write` connection, which
//! is how the seeds' monkey-patched `requests.get` becomes cooperative here: hand it a
//! green socket.
//!
//! Requests and responses are parsed with `httparse`, not by hand.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use conc_coro::{StreamServer, TcpStream};

/// The largest head either side accepts.
const MAX_HEAD: usize = 16 * 1024;

/// A local web site on one thread's hub: each request waits `latency` (greenly, as a
/// slow network would) and answers with a page of `size_of(path)` bytes.
#[derive(Debug)]
pub struct GreenSite {
    server: StreamServer,
}

impl GreenSite {
    /// Serves on `127.0.0.1:0`; the pages' sizes come from `size_of(path)` (`None`:
    /// 404).
    ///
    /// # Errors
    ///
    /// The bind's error.
    pub fn start(
        latency: Duration,
        size_of: impl Fn(&str) -> Option<usize> + 'static,
    ) -> io::Result<GreenSite> {
        let server = StreamServer::bind("127.0.0.1:0", move |conn, _peer| {
            let _ = serve_one(&conn, latency, &size_of);
        })?;
        server.start();
        Ok(GreenSite { server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.address()
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.server.stop(Some(Duration::from_secs(1)));
    }
}

fn serve_one(
    mut conn: &TcpStream,
    latency: Duration,
    size_of: &dyn Fn(&str) -> Option<usize>,
) -> io::Result<()> {
    let head = read_head(&mut conn)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let path = match request.parse(&head) {
        Ok(httparse::Status::Complete(_)) => request.path.unwrap_or("/").to_owned(),
        _ => return conn.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n"),
    };
    conc_coro::sleep(latency).map_err(io::Error::from)?;
    match size_of(&path) {
        Some(size) => {
            let body = page(&path, size);
            write!(
                conn,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            conn.write_all(body.as_bytes())
        }
        None => conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    }
}

/// A page of exactly `size` bytes naming its path.
fn page(path: &str, size: usize) -> String {
    let mut body = format!("<html><title>{path}</title><body>");
    while body.len() < size {
        body.push_str("lorem ipsum ");
    }
    body.truncate(size);
    body
}

/// Reads up to the end of an HTTP head (`\r\n\r\n`), keeping what was read.
fn read_head(conn: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        if conn.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// One `GET path` over `conn`: the body of a 200 response. Written against
/// `Read + Write` only, it blocks the whole thread on a `std` socket and parks only
/// its greenlet on a green one.
///
/// # Errors
///
/// I/O errors; `InvalidData` for a malformed response or a status other than 200.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use examples::green_http::{GreenSite, exchange};
///
/// let site = GreenSite::start(Duration::ZERO, |path| (path == "/a").then_some(10)).unwrap();
/// let conn = conc_coro::TcpStream::connect(site.addr()).unwrap();
/// assert_eq!(exchange(&conn, "/a").unwrap().len(), 10);
/// let conn = conc_coro::TcpStream::connect(site.addr()).unwrap();
/// assert!(exchange(&conn, "/missing").is_err());
/// site.stop();
/// ```
pub fn exchange(mut conn: impl Read + Write, path: &str) -> io::Result<String> {
    write!(conn, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let body_at = match parsed.parse(&response) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed response",
            ));
        }
    };
    if parsed.code != Some(200) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("GET {path}: status {:?}", parsed.code),
        ));
    }
    String::from_utf8(response[body_at..].to_vec())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `GET path` from `addr` over a new green connection.
///
/// # Errors
///
/// As [`exchange`], and the connect's.
pub fn green_get(addr: SocketAddr, path: &str) -> io::Result<String> {
    exchange(TcpStream::connect(addr)?, path)
}
