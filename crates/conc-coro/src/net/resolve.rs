//! Name resolution that does not block the hub: addresses that are already socket
//! addresses are used at once; names go to a short-lived thread while the calling
//! greenlet waits on it ([`wait_future`](crate::wait_future)). gevent resolves on a
//! thread pool for the same reason: `getaddrinfo` blocks.

use std::any::Any;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// The addresses of `addr`, resolved off the hub's thread when it takes a lookup.
pub(crate) fn resolve<A: ToSocketAddrs + Send + 'static>(addr: A) -> io::Result<Vec<SocketAddr>> {
    if let Some(direct) = without_lookup(&addr) {
        return Ok(direct);
    }
    type Slot = Arc<Mutex<(Option<io::Result<Vec<SocketAddr>>>, Option<Waker>)>>;
    let slot: Slot = Arc::default();
    let worker = slot.clone();
    std::thread::Builder::new()
        .name("conc-coro-resolve".into())
        .spawn(move || {
            let found = addr.to_socket_addrs().map(Iterator::collect);
            let mut slot = worker.lock().unwrap_or_else(|e| e.into_inner());
            slot.0 = Some(found);
            if let Some(waker) = slot.1.take() {
                waker.wake();
            }
        })?;
    crate::wait_future(std::future::poll_fn(|cx| {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.0.take() {
            Some(found) => Poll::Ready(found),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }))?
}

/// The addresses of `addr` when it needs no lookup (a socket address, or text that
/// parses as one).
fn without_lookup(addr: &dyn Any) -> Option<Vec<SocketAddr>> {
    if let Some(a) = addr.downcast_ref::<SocketAddr>() {
        return Some(vec![*a]);
    }
    if let Some(a) = addr.downcast_ref::<std::net::SocketAddrV4>() {
        return Some(vec![SocketAddr::V4(*a)]);
    }
    if let Some(a) = addr.downcast_ref::<std::net::SocketAddrV6>() {
        return Some(vec![SocketAddr::V6(*a)]);
    }
    if let Some((ip, port)) = addr.downcast_ref::<(std::net::IpAddr, u16)>() {
        return Some(vec![SocketAddr::new(*ip, *port)]);
    }
    if let Some((ip, port)) = addr.downcast_ref::<(std::net::Ipv4Addr, u16)>() {
        return Some(vec![SocketAddr::new((*ip).into(), *port)]);
    }
    let text = addr
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| addr.downcast_ref::<String>().map(String::as_str));
    if let Some(parsed) = text.and_then(|t| t.parse::<SocketAddr>().ok()) {
        return Some(vec![parsed]);
    }
    if let Some((host, port)) = addr.downcast_ref::<(&str, u16)>() {
        return host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| vec![SocketAddr::new(ip, *port)]);
    }
    if let Some((host, port)) = addr.downcast_ref::<(String, u16)>() {
        return host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| vec![SocketAddr::new(ip, *port)]);
    }
    None
}

/// Tries `each` on every address in turn: the first success, or the last error.
pub(crate) fn first_success<T>(
    addrs: Vec<SocketAddr>,
    mut each: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to no socket address",
    );
    for addr in addrs {
        match each(addr) {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
    }
    Err(last)
}
