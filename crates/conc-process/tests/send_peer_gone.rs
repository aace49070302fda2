//! Issue 22, part 2: a blocking send notices that its peer is gone.

mod common;

use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{Connection, ProcessError, get_context, pipe};

conc_process::test_support!();

fn never_reads((conn, ready): (Connection<Vec<u8>>, Connection<()>)) {
    ready.send(()).unwrap();
    std::thread::sleep(Duration::from_secs(60));
    drop(conn);
}

each_method! {
    fn a_large_send_to_a_killed_peer_fails(method: StartMethod) {
        let (mine, theirs) = pipe::<Vec<u8>>(true).unwrap();
        let (ready_rx, ready_tx) = pipe::<()>(true).unwrap();
        let p = get_context(method).process(never_reads, (theirs, ready_tx));
        p.start().unwrap();
        ready_rx.recv_timeout(PATIENCE).unwrap();
        let pid = p.pid().unwrap();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: signals our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        });
        let start = Instant::now();
        let sent = mine.send(vec![7_u8; 64 << 20]);
        let took = start.elapsed();
        killer.join().unwrap();
        let _ = p.join();
        assert!(
            matches!(sent, Err(ProcessError::Eof | ProcessError::Os { .. })),
            "a 64 MiB send to a killed peer: {sent:?}"
        );
        assert!(took < PATIENCE, "the send outlived its peer by {took:?}");
    }
}
