//! Issue 22, part 2: a blocking send notices that its peer is gone. For messages of
//! 8 bytes, 1 MiB and 64 MiB, under every start method: the sender keeps sending until
//! the socket is full and a send blocks; then the peer is killed (or exits by itself),
//! and the blocked send must return an error well within the bound.

mod common;

use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{Connection, ProcessError, StartMethod, get_context, pipe};

conc_process::test_support!();

/// Never reads; lingers (to be killed) or exits after `linger_ms`.
fn never_reads((conn, ready, linger_ms): (Connection<Vec<u8>>, Connection<()>, u64)) {
    ready.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(linger_ms));
    drop(conn);
}

/// Sends `size`-byte messages until one fails; returns the error and how long the
/// failing send took to fail after `gone` was set.
fn send_until_error(
    conn: Connection<Vec<u8>>,
    size: usize,
) -> std::thread::JoinHandle<ProcessError> {
    std::thread::spawn(move || {
        let message = vec![7_u8; size];
        loop {
            if let Err(e) = conn.send(message.clone()) {
                return e;
            }
        }
    })
}

fn check(method: StartMethod, size: usize, killed: bool) {
    let (mine, theirs) = pipe::<Vec<u8>>(true).unwrap();
    let (ready_rx, ready_tx) = pipe::<()>(true).unwrap();
    let linger_ms = if killed { 60_000 } else { 300 };
    let p = get_context(method).process(never_reads, (theirs, ready_tx, linger_ms));
    p.start().unwrap();
    ready_rx.recv_timeout(PATIENCE).unwrap();
    let sender = send_until_error(mine, size);
    let started = Instant::now();
    if killed {
        std::thread::sleep(Duration::from_millis(300)); // the sends fill the socket and block
        p.kill().unwrap();
    }
    let _ = p.join();
    let deadline = started + PATIENCE;
    while !sender.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{method:?}, {size} bytes: the send outlived its {} peer",
            if killed { "killed" } else { "exited" }
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let error = sender.join().unwrap();
    assert_eq!(error, ProcessError::BrokenPipe, "{method:?}, {size} bytes");
    assert!(
        error.to_string().contains("Broken pipe"),
        "Python's spelling: {error}"
    );
}

each_method! {
    fn sends_to_a_killed_peer_fail(method: StartMethod) {
        for size in [8, 1 << 20, 64 << 20] {
            check(method, size, true);
        }
    }
}

each_method! {
    fn sends_to_a_peer_that_exited_fail(method: StartMethod) {
        check(method, 8, false);
    }
}
