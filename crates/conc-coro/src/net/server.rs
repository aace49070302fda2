//! `StreamServer` (gevent's `gevent.server.StreamServer`): accepts connections and
//! handles each in its own greenlet.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use super::tcp::{TcpListener, TcpStream};
use crate::{Event, HubError, Semaphore, Task, joinall, sleep, spawn};

/// How long the accept loop pauses when accepting fails for lack of descriptors
/// (`EMFILE`), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

type Handler = dyn Fn(TcpStream, SocketAddr);

/// A TCP server handling each connection in its own greenlet (gevent's
/// `StreamServer`): [`start`](StreamServer::start) accepts in the background,
/// [`serve_forever`](StreamServer::serve_forever) until [`stop`](StreamServer::stop).
/// [`max_connections`](StreamServer::max_connections) bounds the connections handled
/// at once (gevent's `spawn=Pool(n)`): further ones wait in the listen backlog.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use conc_coro::{StreamServer, TcpStream};
///
/// let server = StreamServer::bind("127.0.0.1:0", |mut conn, _peer| {
///     let mut buf = [0; 4];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// })
/// .unwrap();
/// server.start();
/// let mut client = TcpStream::connect(server.address()).unwrap();
/// client.write_all(b"ping").unwrap();
/// let mut back = [0; 4];
/// client.read_exact(&mut back).unwrap();
/// assert_eq!(&back, b"ping");
/// server.stop(None);
/// ```
///
/// Clones are handles to the same server: a handler that should stop it (a "quit"
/// command) captures a clone through a shared cell set after `bind`:
///
/// ```
/// use std::cell::OnceCell;
/// use std::io::Read;
/// use std::rc::Rc;
/// use conc_coro::{StreamServer, TcpStream};
///
/// let me: Rc<OnceCell<StreamServer>> = Rc::default();
/// let handle = me.clone();
/// let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _| {
///     let mut command = String::new();
///     conn.read_to_string(&mut command).unwrap();
///     if command == "quit" {
///         handle.get().unwrap().stop(None);
///     }
/// })
/// .unwrap();
/// me.set(server.clone()).unwrap();
/// let addr = server.address();
/// conc_coro::spawn(move || {
///     let mut conn = TcpStream::connect(addr).unwrap();
///     std::io::Write::write_all(&mut conn, b"quit").unwrap();
/// });
/// server.serve_forever().unwrap(); // returns once the handler stopped it
/// ```
#[derive(Clone)]
pub struct StreamServer {
    inner: Rc<Inner>,
}

struct Inner {
    /// Closed by `stop`.
    listener: RefCell<Option<Rc<TcpListener>>>,
    address: SocketAddr,
    handler: Rc<Handler>,
    limit: RefCell<Option<Semaphore>>,
    connections: RefCell<HashMap<u64, Task<()>>>,
    next_id: std::cell::Cell<u64>,
    acceptor: RefCell<Option<Task<()>>>,
    stopped: Event,
}

impl std::fmt::Debug for StreamServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamServer")
            .field("address", &self.inner.address)
            .field("connections", &self.inner.connections.borrow().len())
            .finish()
    }
}

impl StreamServer {
    /// A server listening on `addr` (not yet accepting) that calls `handler` for each
    /// connection, in a greenlet of its own.
    ///
    /// # Errors
    ///
    /// The bind's error.
    pub fn bind<A: ToSocketAddrs + Send + 'static>(
        addr: A,
        handler: impl Fn(TcpStream, SocketAddr) + 'static,
    ) -> io::Result<StreamServer> {
        StreamServer::from_listener(TcpListener::bind(addr)?, handler)
    }

    /// A server on an existing listener.
    ///
    /// # Errors
    ///
    /// If the listener has no local address.
    pub fn from_listener(
        listener: TcpListener,
        handler: impl Fn(TcpStream, SocketAddr) + 'static,
    ) -> io::Result<StreamServer> {
        let address = listener.local_addr()?;
        Ok(StreamServer {
            inner: Rc::new(Inner {
                listener: RefCell::new(Some(Rc::new(listener))),
                address,
                handler: Rc::new(handler),
                limit: RefCell::new(None),
                connections: RefCell::new(HashMap::new()),
                next_id: std::cell::Cell::new(0),
                acceptor: RefCell::new(None),
                stopped: Event::new(),
            }),
        })
    }

    /// Handles at most `n` connections at once.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    #[must_use]
    pub fn max_connections(self, n: usize) -> StreamServer {
        assert!(n > 0, "max_connections must be at least 1");
        *self.inner.limit.borrow_mut() = Some(Semaphore::new(n));
        self
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.inner.address
    }

    /// The connections being handled now.
    pub fn connections(&self) -> usize {
        self.inner.connections.borrow().len()
    }

    /// Starts accepting in a background greenlet (it runs once the caller waits on
    /// anything). Calling it again, or after [`stop`](StreamServer::stop), does
    /// nothing.
    pub fn start(&self) {
        if self.inner.acceptor.borrow().is_some() {
            return;
        }
        let Some(listener) = self.inner.listener.borrow().clone() else {
            return;
        };
        let inner = self.inner.clone();
        *self.inner.acceptor.borrow_mut() = Some(spawn(move || accept_loop(&inner, &listener)));
    }

    /// Starts if needed and waits until [`stop`](StreamServer::stop) is called (from a
    /// handler or another greenlet).
    ///
    /// # Errors
    ///
    /// The hub's errors ([`HubError::InHub`]).
    pub fn serve_forever(&self) -> Result<(), HubError> {
        self.start();
        self.inner.stopped.wait(None)
    }

    /// Stops accepting and closes the listening socket (as gevent's does); waits at
    /// most `grace` (`None`: not at all) for the connections being handled to finish,
    /// then kills those left. A handler may call it: it then neither waits for nor
    /// kills itself.
    pub fn stop(&self, grace: Option<Duration>) {
        let acceptor = self.inner.acceptor.borrow_mut().take();
        if let Some(acceptor) = acceptor {
            let _ = acceptor.kill(true, None);
        }
        drop(self.inner.listener.borrow_mut().take());
        // `serve_forever` returns now, even if a handler calls this.
        self.inner.stopped.set();
        // A handler stopping its own server does not wait for, or kill, itself.
        let me = crate::getcurrent();
        let live: Vec<Task<()>> = self
            .inner
            .connections
            .borrow()
            .values()
            .filter(|t| *t.greenlet() != me)
            .cloned()
            .collect();
        if let Some(grace) = grace {
            let _ = joinall(&live, Some(grace));
        }
        for task in &live {
            let _ = task.kill(true, None);
        }
    }
}

/// Removes a finished connection from the server's list, and gives its permit back.
struct Finished {
    inner: Rc<Inner>,
    id: u64,
    permit: Option<Semaphore>,
}

impl Drop for Finished {
    fn drop(&mut self) {
        if let Ok(mut connections) = self.inner.connections.try_borrow_mut() {
            connections.remove(&self.id);
        }
        if let Some(permit) = &self.permit {
            permit.release();
        }
    }
}

fn accept_loop(inner: &Rc<Inner>, listener: &TcpListener) {
    loop {
        let limit = inner.limit.borrow().clone();
        if let Some(limit) = &limit
            && limit.acquire(None).is_err()
        {
            return;
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                let id = inner.next_id.get() + 1;
                inner.next_id.set(id);
                let finished = Finished {
                    inner: inner.clone(),
                    id,
                    permit: limit,
                };
                let handler = inner.handler.clone();
                let task = spawn(move || {
                    let _finished = finished;
                    handler(stream, peer);
                });
                if !task.ready() {
                    inner.connections.borrow_mut().insert(id, task);
                }
            }
            Err(e) => {
                if let Some(limit) = &limit {
                    limit.release();
                }
                log::warn!("StreamServer on {}: accept failed: {e}", inner.address);
                if sleep(ACCEPT_BACKOFF).is_err() {
                    return;
                }
            }
        }
    }
}
