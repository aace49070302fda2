//! Issue 12, part 3: a `Connection` never hangs on bad bytes. Garbage, a huge length
//! prefix and a cut message are written straight into the socket (through the other
//! end's `fileno()`, as a misbehaving peer would); every read stays bounded by its
//! deadline and a malformed message is a typed error that closes the connection.
//! Also `send_timeout` (issue 22).

mod common;

use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{Connection, ProcessError, pipe};

conc_process::test_support!();

/// Writes `bytes` into the socket of `conn` (they arrive at its peer), bypassing the
/// framing.
fn write_raw<T>(conn: &Connection<T>, bytes: &[u8]) {
    let fd = conn.fileno().unwrap();
    // SAFETY: `fd` is `conn`'s open socket, which outlives this borrow; ManuallyDrop
    // keeps the `File` from closing it.
    let mut file = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    file.write_all(bytes).unwrap();
}

/// A frame header as conc-process writes it: magic, descriptor count, payload length.
fn header(descriptors: u32, len: u64) -> Vec<u8> {
    let mut h = b"cnc\x01".to_vec();
    h.extend(descriptors.to_le_bytes());
    h.extend(len.to_le_bytes());
    h
}

fn assert_bad_and_closed<T: serde::Serialize + serde::de::DeserializeOwned>(
    conn: &Connection<T>,
    result: Result<T, ProcessError>,
    took: Duration,
) {
    let err = result.err().expect("a malformed message must be an error");
    assert!(matches!(err, ProcessError::BadMessage(_)), "{err:?}");
    assert!(took < Duration::from_secs(2), "reported after {took:?}");
    assert!(
        conn.is_closed(),
        "the connection is closed after a bad message"
    );
    assert_eq!(
        conn.recv_timeout(Duration::from_millis(10)).err(),
        Some(ProcessError::Closed("connection"))
    );
}

#[test]
fn garbage_is_a_bad_message_at_once() {
    let (a, b) = pipe::<String>(true).unwrap();
    write_raw(&b, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    let started = Instant::now();
    let result = a.recv_timeout(Duration::from_secs(2));
    assert_bad_and_closed(&a, result, started.elapsed());
    // The other end learns that the stream is gone too.
    assert_eq!(b.recv_timeout(PATIENCE), Err(ProcessError::Eof));
}

#[test]
fn a_huge_length_prefix_is_refused_before_anything_is_allocated() {
    for (descriptors, len) in [(0, u64::MAX), (0, (4 << 30) + 1), (10_000, 1)] {
        let (a, b) = pipe::<Vec<u8>>(true).unwrap();
        write_raw(&b, &header(descriptors, len));
        let started = Instant::now();
        let result = a.recv_timeout(Duration::from_secs(2));
        assert_bad_and_closed(&a, result, started.elapsed());
    }
}

#[test]
fn a_stalled_message_times_out_at_the_deadline_and_is_kept() {
    let (a, b) = pipe::<Vec<u8>>(true).unwrap();
    // A whole message: a one-element Vec<u8> is [1, 42] in postcard.
    let mut bytes = header(0, 2);
    bytes.extend([1, 42]);
    // Then the first half of a second message.
    bytes.extend(header(0, 2));
    bytes.push(1);
    write_raw(&b, &bytes);
    assert_eq!(a.recv_timeout(PATIENCE), Ok(vec![42]));
    let started = Instant::now();
    assert!(
        matches!(
            a.recv_timeout(Duration::from_millis(200)),
            Err(ProcessError::Timeout { .. })
        ),
        "the deadline bounds every read of the message, not only the first"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "timed out after {took:?}");
    assert!(!a.poll(Some(Duration::from_millis(10))).unwrap());
    // The rest arrives: the message completes from what was kept.
    write_raw(&b, &[7]);
    assert_eq!(a.recv_timeout(PATIENCE), Ok(vec![7]));
}

#[test]
fn a_message_cut_by_the_peer_closing_is_a_bad_message() {
    let (a, b) = pipe::<Vec<u8>>(true).unwrap();
    let mut bytes = header(0, 1000);
    bytes.extend([0; 10]);
    write_raw(&b, &bytes);
    drop(b);
    let started = Instant::now();
    let result = a.recv_timeout(PATIENCE);
    assert_bad_and_closed(&a, result, started.elapsed());
}

#[test]
fn a_well_framed_payload_of_the_wrong_type_keeps_the_connection() {
    let (a, b) = pipe::<String>(true).unwrap();
    // A string said to be 5 bytes long with 1 byte there: a whole frame, a bad value.
    let mut bytes = header(0, 2);
    bytes.extend([5, 0xff]);
    write_raw(&b, &bytes);
    assert!(matches!(
        a.recv_timeout(PATIENCE),
        Err(ProcessError::Serialization(_))
    ));
    assert!(!a.is_closed());
    b.send("still fine".to_string()).unwrap();
    assert_eq!(a.recv_timeout(PATIENCE).unwrap(), "still fine");
}

#[test]
fn descriptors_the_header_does_not_announce_are_refused() {
    let (a, b) = pipe::<u8>(true).unwrap();
    // A frame that announces a descriptor none came with.
    let mut bytes = header(1, 1);
    bytes.push(3);
    write_raw(&b, &bytes);
    let started = Instant::now();
    let result = a.recv_timeout(Duration::from_secs(2));
    assert_bad_and_closed(&a, result, started.elapsed());
}

#[test]
fn send_timeout_bounds_a_send_to_a_peer_that_does_not_read() {
    let (a, b) = pipe::<Vec<u8>>(true).unwrap();
    // Small messages fill the socket buffer; then a send times out cleanly (nothing
    // of it written) and the connection stays usable.
    let started = Instant::now();
    let err = loop {
        if let Err(e) = a.send_timeout(vec![1; 100], Duration::from_millis(50)) {
            break e;
        }
        assert!(started.elapsed() < PATIENCE, "the buffer never filled");
    };
    assert!(matches!(err, ProcessError::Timeout { .. }));
    assert_eq!(b.recv_timeout(PATIENCE), Ok(vec![1; 100]));
    // A message bigger than the buffer is cut at the deadline: the reader is told,
    // and the sender cannot send on a stream with half a message in it.
    let (c, d) = pipe::<Vec<u8>>(true).unwrap();
    assert!(matches!(
        c.send_timeout(vec![2; 16 << 20], Duration::from_millis(100)),
        Err(ProcessError::Timeout { .. })
    ));
    assert_eq!(c.send(vec![3]), Err(ProcessError::BrokenPipe));
    assert!(matches!(
        d.recv_timeout(PATIENCE),
        Err(ProcessError::BadMessage(_))
    ));
}
