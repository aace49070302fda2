//! `Pipe()`: pairs of send/recv, the recv that would block, both directions.
//!
//! Ports seed 001 §3.4 examples 2 and 6–9 and seed 004's `Pipe(duplex=False)`:
//! - the child sends `[42, None, 'hello']`, the parent receives it;
//! - the child sends twice, the parent receives once (the second message waits);
//! - sends and receives pair up: two sends, two receives;
//! - a third `recv()` with nothing left blocks forever in the seed ("程序卡主了");
//! - the parent answers, the child receives: a pipe works both ways;
//! - `Pipe(duplex=False)` gives a receive-only and a send-only end.
//!
//! What it shows: `conc_process::pipe::<T>(duplex)` is `Pipe(duplex)`; a `Connection`
//! moves into the child as its argument; `poll(timeout)` answers "is there anything?"
//! without blocking; when the child has exited and closed its end, `recv` returns
//! `Err(Eof)` (Python's `EOFError`) instead of hanging.
//!
//! How Rust differs: a connection is typed (`Connection<Msg>`): the seed's
//! `[42, None, 'hello']` list becomes a tuple `(i32, Option<()>, String)`, checked by
//! the compiler on both ends.

use std::time::Duration;

use conc_process::{Connection, Process, ProcessError, pipe};

type Msg = (i32, Option<()>, String);

fn send_one(conn: Connection<Msg>) {
    conn.send((42, None, "hello".into())).expect("send");
    conn.close();
}

fn send_two(conn: Connection<Msg>) {
    send_two_on(&conn);
}

/// Sends two messages, then stays alive a while with its end open, as the seed's child
/// is while the parent's third `recv()` hangs.
fn send_two_and_linger(conn: Connection<Msg>) {
    send_two_on(&conn);
    std::thread::sleep(Duration::from_millis(400));
}

fn send_two_then_listen(conn: Connection<Msg>) -> String {
    send_two_on(&conn);
    let (_, _, reply) = conn.recv().expect("the parent's reply");
    println!("  child got: {reply:?}");
    reply
}

fn send_two_on(conn: &Connection<Msg>) {
    conn.send((66, None, "hello from child1".into()))
        .expect("send");
    conn.send((66, None, "hello from child2".into()))
        .expect("send");
}

fn main() {
    conc_process::init();

    examples::heading("example 2: the child sends [42, None, 'hello']");
    let (parent_conn, child_conn) = pipe::<Msg>(true).expect("pipe");
    let p = Process::new(send_one, child_conn);
    p.start().expect("start");
    let got = parent_conn.recv().expect("recv");
    println!("{got:?}");
    assert_eq!(got, (42, None, "hello".to_string()));
    p.join().expect("join");

    examples::heading("example 6: two sends, one recv");
    let (parent_conn, child_conn) = pipe::<Msg>(true).expect("pipe");
    let p = Process::new(send_two, child_conn);
    p.start().expect("start");
    println!("{:?}", parent_conn.recv().expect("recv"));
    p.join().expect("join");
    // The second message is still waiting in the pipe.
    assert!(parent_conn.poll(Some(Duration::ZERO)).expect("poll"));

    examples::heading("examples 7 and 8: two recvs, then a third that would block");
    let (parent_conn, child_conn) = pipe::<Msg>(true).expect("pipe");
    let p = Process::new(send_two_and_linger, child_conn);
    p.start().expect("start");
    println!("{:?}", parent_conn.recv().expect("recv"));
    println!("{:?}", parent_conn.recv().expect("recv"));
    // The seed's third recv() hangs while the child lives. Ask first instead:
    let ready = parent_conn
        .poll(Some(Duration::from_millis(100)))
        .expect("poll");
    println!("anything more within 100 ms? {ready}");
    assert!(!ready, "nothing more was sent");
    p.join().expect("join");
    // Once the child has exited, its end is closed: recv reports end of file.
    match parent_conn.recv() {
        Err(ProcessError::Eof) => println!("third recv after the child exited: EOF, no hang"),
        other => panic!("expected EOF, got {other:?}"),
    }

    examples::heading("example 9: both directions");
    let (parent_conn, child_conn) = pipe::<Msg>(true).expect("pipe");
    let p = Process::new(send_two_then_listen, child_conn);
    p.start().expect("start");
    println!("{:?}", parent_conn.recv().expect("recv"));
    println!("{:?}", parent_conn.recv().expect("recv"));
    parent_conn
        .send((0, None, "data from parent_conn".into()))
        .expect("send");
    assert_eq!(p.result().expect("child"), "data from parent_conn");

    examples::heading("seed 004: Pipe(duplex=False)");
    let (reader, writer) = pipe::<String>(false).expect("pipe");
    let p = Process::new(
        |w: Connection<String>| {
            for word in ["one", "way", "only"] {
                w.send(word.to_string()).expect("send");
            }
        },
        writer,
    );
    p.start().expect("start");
    let mut words = Vec::new();
    while let Ok(word) = reader.recv() {
        words.push(word);
    }
    p.join().expect("join");
    println!("received {words:?}, then EOF");
    assert_eq!(words, ["one", "way", "only"]);
    assert!(
        matches!(
            reader.send("back".into()),
            Err(ProcessError::InvalidState(_))
        ),
        "the reading end of a one-way pipe cannot send"
    );
}
