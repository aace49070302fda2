//! `pipe`/`Connection` between processes under every start method: ports of CPython's
//! `_TestConnection` (Lib/test/_test_multiprocessing.py: test_connection,
//! test_duplex_false, test_spawn_close, test_sendbytes-style large messages, test_fd
//! transfer of a connection over a connection).

mod common;

use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{Connection, ProcessError, get_context, pipe};

conc_process::test_support!();

/// `_TestConnection._echo`: sends back everything until the sentinel (`None`). Not
/// until end of file: a `fork` child holds a copy of the parent's end too, so it would
/// never see one (the same holds in Python, whose test uses a sentinel as well).
fn echo(conn: Connection<Option<Vec<u8>>>) -> usize {
    let mut n = 0;
    while let Ok(Some(msg)) = conn.recv() {
        conn.send(Some(msg)).unwrap();
        n += 1;
    }
    n
}

each_method! {
    // test_connection: send/recv, poll before and after, many sizes, EOF at the end.
    fn test_connection(method: StartMethod) {
        let (conn, child_conn) = pipe::<Option<Vec<u8>>>(true).unwrap();
        let p = get_context(method).process(echo, child_conn);
        p.start().unwrap();
        assert!(!conn.poll(Some(Duration::ZERO)).unwrap());
        for size in [0, 1, 100, 10_000, 1 << 20] {
            let msg: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            conn.send(Some(msg.clone())).unwrap();
            assert!(conn.poll(Some(PATIENCE)).unwrap());
            assert_eq!(conn.recv().unwrap(), Some(msg));
        }
        // Poll with a timeout really waits, then says no.
        let t = Instant::now();
        assert!(!conn.poll(Some(Duration::from_millis(100))).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(90));
        conn.send(None).unwrap();
        assert_eq!(p.result().unwrap(), 5);
    }
}

each_method! {
    // test_duplex_false: one way only, both ends refuse the wrong direction.
    fn test_duplex_false(method: StartMethod) {
        fn write_three(w: Connection<u32>) {
            assert!(matches!(w.recv(), Err(ProcessError::InvalidState(_))));
            for i in 0..3 {
                w.send(i).unwrap();
            }
        }
        let (reader, writer) = pipe::<u32>(false).unwrap();
        assert!(reader.readable() && !reader.writable());
        assert!(writer.writable() && !writer.readable());
        let p = get_context(method).process(write_three, writer);
        p.start().unwrap();
        let got: Vec<u32> = (0..3).map(|_| reader.recv_timeout(PATIENCE).unwrap()).collect();
        assert_eq!(got, [0, 1, 2]);
        p.join().unwrap();
        assert_eq!(reader.recv_timeout(PATIENCE), Err(ProcessError::Eof));
        assert!(matches!(reader.send(9), Err(ProcessError::InvalidState(_))));
    }
}

each_method! {
    // A child that dies without closing anything: the parent's recv ends with EOF.
    fn test_eof_when_the_child_dies(method: StartMethod) {
        fn die(c: Connection<u8>) {
            c.send(1).unwrap();
            std::process::exit(7);
        }
        let (mine, theirs) = pipe::<u8>(true).unwrap();
        let p = get_context(method).process(die, theirs);
        p.start().unwrap();
        assert_eq!(mine.recv_timeout(PATIENCE).unwrap(), 1);
        assert_eq!(mine.recv_timeout(PATIENCE), Err(ProcessError::Eof));
        assert!(mine.poll(Some(Duration::ZERO)).unwrap(), "poll reports EOF as readable");
        let _ = p.join();
        assert_eq!(p.exitcode(), Some(7));
        assert_eq!(mine.send(2), Err(ProcessError::BrokenPipe), "Python: BrokenPipeError");
    }
}

each_method! {
    // A connection sent over a connection (file descriptor passing).
    fn test_connection_over_connection(method: StartMethod) {
        fn relay(courier: Connection<Connection<String>>) {
            let inner = courier.recv().unwrap();
            inner.send("through the passed end".to_string()).unwrap();
        }
        let (courier, child_courier) = pipe::<Connection<String>>(true).unwrap();
        let p = get_context(method).process(relay, child_courier);
        p.start().unwrap();
        let (mine, theirs) = pipe::<String>(true).unwrap();
        courier.send(theirs).unwrap();
        assert_eq!(mine.recv_timeout(PATIENCE).unwrap(), "through the passed end");
        p.join().unwrap();
    }
}

each_method! {
    // Many small messages both ways keep their order.
    fn test_many_messages(method: StartMethod) {
        fn count_back(c: Connection<u64>) {
            while let Ok(v) = c.recv() {
                if v == u64::MAX {
                    break;
                }
                c.send(v * 2).unwrap();
            }
        }
        let (mine, theirs) = pipe::<u64>(true).unwrap();
        let p = get_context(method).process(count_back, theirs);
        p.start().unwrap();
        for i in 0..2000 {
            mine.send(i).unwrap();
            assert_eq!(mine.recv_timeout(PATIENCE).unwrap(), i * 2);
        }
        mine.send(u64::MAX).unwrap();
        p.join().unwrap();
    }
}

// End of file needs every copy of the writing end gone. Under spawn and forkserver the
// child holds only what it was given, so dropping ours is enough; under fork it also
// inherited our end (as in Python), so it must be told another way (a sentinel).
#[test]
fn eof_reaches_spawn_and_forkserver_children() {
    fn drain(c: Connection<u8>) -> usize {
        let mut n = 0;
        while c.recv().is_ok() {
            n += 1;
        }
        n
    }
    for method in [
        conc_process::StartMethod::Spawn,
        conc_process::StartMethod::Forkserver,
    ] {
        let (mine, theirs) = pipe::<u8>(true).unwrap();
        let p = get_context(method).process(drain, theirs);
        p.start().unwrap();
        for i in 0..3 {
            mine.send(i).unwrap();
        }
        drop(mine);
        p.join_timeout(PATIENCE).unwrap();
        assert_eq!(p.result().unwrap(), 3, "{method}");
    }
}

#[test]
fn closed_connection_errors() {
    let (a, b) = pipe::<u8>(true).unwrap();
    a.close();
    assert!(a.is_closed());
    assert_eq!(a.recv(), Err(ProcessError::Closed("connection")));
    assert_eq!(
        a.poll(Some(Duration::ZERO)),
        Err(ProcessError::Closed("connection"))
    );
    // The other end sees end of file once `a` is dropped.
    drop(a);
    assert_eq!(b.recv_timeout(PATIENCE), Err(ProcessError::Eof));
}

/// Python's `send_bytes`/`recv_bytes` between processes: a child echoes each message
/// of bytes reversed until it receives an empty one.
fn reverse_bytes(conn: Connection<Vec<u8>>) -> usize {
    let mut n = 0;
    loop {
        let bytes = conn.recv_bytes().unwrap();
        if bytes.is_empty() {
            return n;
        }
        let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
        conn.send_bytes(&reversed).unwrap();
        n += 1;
    }
}

each_method! {
    fn send_bytes_and_recv_bytes_cross_processes(method: StartMethod) {
        let (here, there) = pipe::<Vec<u8>>(true).unwrap();
        let p = get_context(method).process(reverse_bytes, there);
        p.start().unwrap();
        let big: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        here.send_bytes(b"abc").unwrap();
        assert_eq!(here.recv_bytes().unwrap(), b"cba");
        here.send_bytes(&big[1..]).unwrap();
        let back = here.recv_bytes_max(big.len()).unwrap();
        assert_eq!(back.len(), big.len() - 1);
        assert!(back.iter().rev().eq(big[1..].iter()));
        here.send_bytes(&[1, 2, 3, 4, 5]).unwrap();
        let err = here.recv_bytes_max(2).unwrap_err();
        assert!(err.to_string().contains("bad message length"), "{err}");
        here.send_bytes(&[]).unwrap();
        assert_eq!(p.result(), Ok(3));
    }
}
