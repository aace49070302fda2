//! A program started with stdin closed (`prog <&-`): its first socket must not land on
//! fd 0, which every child replaces with /dev/null. It did, and a pipe given to a
//! child that started a grandchild read end of file at once.

use std::time::Duration;

use conc_process::{Connection, Process, StartMethod, get_context, pipe};

conc_process::test_support!();

fn grandchild_reports((report, n): (Connection<u32>, u32)) {
    let inner = Process::new(|x: u32| x + 1, n).start_method(StartMethod::Fork);
    inner.start().unwrap();
    report.send(inner.result().unwrap()).unwrap();
}

#[test]
fn a_closed_stdin_does_not_lend_fd_0_to_a_socket() {
    // SAFETY: this binary holds this one test; nothing else uses fd 0.
    unsafe { libc::close(0) };
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let (rx, tx) = pipe::<u32>(false).unwrap();
        let p = get_context(method).process(grandchild_reports, (tx, 41));
        p.start().unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(30)),
            Ok(42),
            "{method:?}"
        );
        p.join().unwrap();
    }
    // SAFETY: F_GETFD only asks whether fd 0 is open.
    let fd0 = unsafe { libc::fcntl(0, libc::F_GETFD) };
    assert_ne!(fd0, -1, "fd 0 holds /dev/null now");
}
