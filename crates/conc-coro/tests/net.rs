//! Green sockets and `StreamServer`: gevent's `test__socket.py` and `test__server.py`
//! where they apply, on 127.0.0.1.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conc_coro::{
    HubError, StreamServer, TcpListener, TcpStream, UdpSocket, UnixStream, joinall, sleep, spawn,
    wait_readable,
};

const PATIENCE: Duration = Duration::from_secs(20);

/// Code written against `impl Read + Write`, unaware of greenlets.
fn ask(mut conn: impl Read + Write, question: &str) -> io::Result<String> {
    conn.write_all(question.as_bytes())?;
    conn.write_all(b"\n")?;
    let mut reply = String::new();
    BufReader::new(conn).read_line(&mut reply)?;
    Ok(reply)
}

fn echo_server() -> StreamServer {
    StreamServer::bind("127.0.0.1:0", |conn, _| {
        let mut reader = BufReader::new(&conn);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if (&conn).write_all(line.as_bytes()).is_err() {
                break;
            }
            line.clear();
        }
    })
    .unwrap()
}

#[test]
fn generic_read_write_code_runs_cooperatively() {
    let server = echo_server();
    server.start();
    let addr = server.address();
    let clients: Vec<_> = (0..20)
        .map(|i| spawn(move || ask(TcpStream::connect(addr)?, &format!("hello {i}"))))
        .collect();
    joinall(&clients, Some(PATIENCE)).unwrap();
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.take(None).unwrap().unwrap(), format!("hello {i}\n"));
    }
    server.stop(Some(PATIENCE));
    assert_eq!(server.connections(), 0);
}

#[test]
fn connect_refused_and_timeouts_are_clear_errors() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = TcpStream::connect(closed).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        sleep(Duration::from_secs(3600)).unwrap();
        drop(conn);
    });
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(Duration::from_millis(20)));
    let started = Instant::now();
    let err = (&client).read(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("TCP read"), "{err}");
    assert!(started.elapsed() < PATIENCE);
    silent.kill(true, None).unwrap();
    // The peer's end is gone: end of file.
    client.set_read_timeout(Some(PATIENCE));
    assert_eq!((&client).read(&mut [0; 8]).unwrap(), 0);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = listener
        .accept_timeout(Some(Duration::from_millis(10)))
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

struct Flag(Rc<Cell<bool>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Killing a greenlet blocked in a read unwinds it (destructors run) and leaves the
/// hub and the socket's registration in order.
#[test]
fn killing_a_reader_unwinds_it() {
    let (a, b) = UnixStream::pair().unwrap();
    let b = Rc::new(b);
    let dropped = Rc::new(Cell::new(false));
    let (d, reader_end) = (dropped.clone(), b.clone());
    let reader = spawn(move || {
        let _flag = Flag(d);
        let mut buf = [0; 4];
        (&*reader_end).read_exact(&mut buf).map(|()| buf)
    });
    sleep(Duration::from_millis(5)).unwrap();
    reader.kill(true, Some(PATIENCE)).unwrap();
    assert!(dropped.get());
    // Another greenlet reads from the same socket afterwards.
    let again = {
        let b = b.clone();
        spawn(move || {
            let mut buf = [0; 4];
            (&*b).read_exact(&mut buf).map(|()| buf)
        })
    };
    (&a).write_all(b"data").unwrap();
    assert_eq!(again.take(Some(PATIENCE)).unwrap().unwrap(), *b"data");
}

#[test]
fn udp_and_raw_descriptors() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let responder = spawn(move || {
        let mut buf = [0; 32];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        b.send_to(&buf[..n], from).unwrap();
    });
    a.send_to(b"marco", to_b).unwrap();
    let mut buf = [0; 32];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"marco"[..], to_b));
    responder.join(Some(PATIENCE)).unwrap();
    a.set_read_timeout(Some(Duration::from_millis(10)));
    assert_eq!(
        a.recv_from(&mut buf).unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
    let _ = to_a;

    // A pipe, as to a child process.
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
    let err = wait_readable(&reader, Some(Duration::from_millis(10))).unwrap_err();
    assert!(matches!(err, HubError::Timeout { .. }), "{err}");
    writer.write_all(b"!").unwrap();
    wait_readable(&reader, Some(PATIENCE)).unwrap();
}

/// Names are resolved off the hub's thread: other greenlets keep running.
#[test]
fn names_resolve_without_blocking_the_hub() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = spawn(move || listener.accept().map(|_| ()));
    let stream = TcpStream::connect(format!("localhost:{port}"));
    // `localhost` may resolve to ::1 first, where nothing listens: then 127.0.0.1.
    let stream = stream.unwrap();
    assert!(stream.peer_addr().unwrap().ip().is_loopback());
    acceptor.take(Some(PATIENCE)).unwrap().unwrap();
}

#[test]
fn a_server_bounds_its_connections_and_stops_with_grace() {
    let active = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let (a, p) = (active.clone(), peak.clone());
    let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _| {
        a.set(a.get() + 1);
        p.set(p.get().max(a.get()));
        sleep(Duration::from_millis(5)).unwrap();
        let _ = conn.write_all(b"ok");
        a.set(a.get() - 1);
    })
    .unwrap()
    .max_connections(3);
    server.start();
    let addr: SocketAddr = server.address();
    let clients: Vec<_> = (0..12)
        .map(|_| {
            spawn(move || {
                let mut conn = TcpStream::connect(addr)?;
                let mut reply = String::new();
                conn.read_to_string(&mut reply)?;
                Ok::<_, io::Error>(reply)
            })
        })
        .collect();
    joinall(&clients, Some(PATIENCE)).unwrap();
    assert!(
        clients
            .iter()
            .all(|c| c.take(None).unwrap().unwrap() == "ok")
    );
    assert_eq!(peak.get(), 3);

    // stop: a handler still running past the grace is killed.
    let killed = Rc::new(RefCell::new(false));
    let k = killed.clone();
    let slow = StreamServer::bind("127.0.0.1:0", move |_conn, _| {
        let _flag = FlagRef(k.clone());
        sleep(Duration::from_secs(3600)).unwrap();
    })
    .unwrap();
    slow.start();
    let _client = TcpStream::connect(slow.address()).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while slow.connections() == 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).unwrap();
    }
    slow.stop(Some(Duration::from_millis(10)));
    assert!(*killed.borrow());
    assert_eq!(slow.connections(), 0);
    // The listening socket is closed.
    assert_eq!(
        TcpStream::connect(slow.address()).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

struct FlagRef(Rc<RefCell<bool>>);
impl Drop for FlagRef {
    fn drop(&mut self) {
        *self.0.borrow_mut() = true;
    }
}

/// Raises the soft descriptor limit as far as the hard one allows (up to `want`);
/// returns the limit in force.
fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit`/`setrlimit` on a valid struct; no other memory involved.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

/// The load: a `StreamServer` holding 5,000 concurrent connections on one hub,
/// every byte echoed back (fewer where the descriptor limit cannot be raised: each
/// connection costs two descriptors here, the client's and the server's).
#[test]
fn five_thousand_concurrent_connections_echo() {
    let limit = raise_fd_limit(12_000);
    let n = 5000.min((limit.saturating_sub(200) / 2) as usize);
    assert!(
        n >= 500,
        "descriptor limit {limit} is too low for the load test"
    );
    let server = echo_server();
    server.start();
    let addr = server.address();
    let connected = Rc::new(Cell::new(0));
    let all_connected = conc_coro::Event::new();
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let (connected, all) = (connected.clone(), all_connected.clone());
            spawn(move || {
                let conn = TcpStream::connect(addr)?;
                connected.set(connected.get() + 1);
                if connected.get() == n {
                    all.set();
                }
                // Every connection is open before anyone talks.
                all.wait(Some(PATIENCE))?;
                ask(&conn, &format!("client {i}"))
            })
        })
        .collect();
    joinall(&clients, Some(Duration::from_secs(120))).unwrap();
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.take(None).unwrap().unwrap(), format!("client {i}\n"));
    }
    assert_eq!(connected.get(), n);
    server.stop(Some(PATIENCE));
}
