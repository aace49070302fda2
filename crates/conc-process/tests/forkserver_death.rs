//! The fork server killed under a running program: its children die with it (the
//! server's death signal), their handles report the kill instead of waiting forever,
//! and every later `forkserver` start fails with a clear error. Its own test binary,
//! since the server it kills is the program's only one.

mod common;

use std::time::Instant;

use common::{PATIENCE, eventually, pid_alive};
use conc_process::{ProcessError, StartMethod, get_context};

conc_process::test_support!();

fn sleep_secs(secs: u64) {
    std::thread::sleep(std::time::Duration::from_secs(secs));
}

/// The parent pid of `pid`, from `/proc` (field 4 of its stat line).
fn parent_of(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_dead_fork_server_fails_its_children_and_later_starts() {
    let ctx = get_context(StartMethod::Forkserver);
    let p = ctx.process(sleep_secs, 120);
    p.start().unwrap();
    let served = p.pid().unwrap();
    let server = parent_of(served);
    assert_ne!(
        server,
        std::process::id() as i32,
        "a served child is the server's"
    );
    // SAFETY: kill has no memory-safety preconditions; `server` is our own child,
    // unreaped (nothing in the program waits for it while it runs).
    assert_eq!(unsafe { libc::kill(server, libc::SIGKILL) }, 0);

    let started = Instant::now();
    assert!(matches!(
        p.join_timeout(PATIENCE),
        Err(ProcessError::Died { exitcode, .. }) if exitcode == -libc::SIGKILL
    ));
    assert!(
        started.elapsed() < PATIENCE,
        "the served child's handle hung"
    );
    assert_eq!(p.exitcode(), Some(-libc::SIGKILL));
    assert!(matches!(p.result(), Err(ProcessError::Died { .. })));
    assert!(
        eventually(PATIENCE, || !pid_alive(served)),
        "the served child outlived its server"
    );

    let q = ctx.process(sleep_secs, 0);
    match q.start() {
        Err(ProcessError::StartFailed { reason, .. }) => {
            assert!(reason.contains("fork server has died"), "{reason}");
        }
        other => panic!("a start without a server: {other:?}"),
    }
    // The other start methods do not depend on the server.
    let r = get_context(StartMethod::Spawn).process(sleep_secs, 0);
    r.start().unwrap();
    r.join().unwrap();
    assert_eq!(r.exitcode(), Some(0));
}
