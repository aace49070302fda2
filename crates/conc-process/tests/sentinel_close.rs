//! `Process::sentinel` (a descriptor readable once the child ended, for every start
//! method) and `Process::close` (Python's `close()`: refused while running, the handle
//! spent afterwards).

mod common;

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use common::PATIENCE;
use conc_process::{Event, Process, ProcessError, StartMethod};

conc_process::test_support!();

/// Whether `fd` is readable within `timeout`.
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n == 1 && pfd.revents & libc::POLLIN != 0
}

fn wait_then_return(ev: Event) -> u8 {
    assert!(ev.wait_timeout(PATIENCE), "the test never set the event");
    7
}

each_method! {
    fn sentinel_becomes_readable_when_the_child_ends(method: StartMethod) {
        let ev = Event::new();
        let p = Process::new(wait_then_return, ev.clone()).start_method(method);
        assert!(matches!(p.sentinel(), Err(ProcessError::InvalidState(_))), "not started");
        p.start().unwrap();
        let fd = p.sentinel().unwrap();
        assert!(!readable(fd, Duration::ZERO), "readable while the child runs");
        ev.set();
        assert!(readable(fd, PATIENCE), "not readable after the child ended");
        // It stays readable, and the same descriptor comes back.
        assert!(readable(p.sentinel().unwrap(), Duration::ZERO));
        assert_eq!(p.sentinel().unwrap().as_raw_fd(), fd.as_raw_fd());
        assert_eq!(p.result(), Ok(7));
        let handle = p.handle().unwrap();
        assert!(readable(handle.sentinel().unwrap(), Duration::ZERO));
    }
}

each_method! {
    fn close_is_refused_while_running_and_spends_the_handle(method: StartMethod) {
        let ev = Event::new();
        let p = Process::new(wait_then_return, ev.clone()).start_method(method);
        p.start().unwrap();
        assert!(matches!(p.close(), Err(ProcessError::InvalidState(_))));
        assert!(p.is_alive(), "a refused close leaves the process usable");
        ev.set();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
        p.close().unwrap();
        p.close().unwrap(); // twice is fine
        for result in [p.join(), p.result().map(drop), p.kill(), p.start()] {
            assert!(matches!(result, Err(ProcessError::InvalidState(_))), "{result:?}");
        }
        assert!(matches!(p.sentinel(), Err(ProcessError::InvalidState(_))));
        assert_eq!((p.pid(), p.exitcode(), p.is_alive()), (None, None, false));
        assert!(p.handle().is_none());
        assert!(format!("{p:?}").contains("closed"));
    }
}

#[test]
fn a_process_never_started_can_be_closed() {
    let p = Process::new(|x: u8| x, 1).start_method(StartMethod::Fork);
    p.close().unwrap();
    assert!(matches!(p.start(), Err(ProcessError::InvalidState(_))));
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Python's pattern `wait([p.sentinel for p in procs] + [conn])`: the children end one
/// after the other (held by events), each wait returns exactly what became ready.
#[test]
fn wait_returns_the_sentinels_and_connections_that_are_ready() {
    use conc_process::connection::{Waitable, wait};
    let events: Vec<Event> = (0..3).map(|_| Event::new()).collect();
    let procs: Vec<Process<u8>> = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ]
    .into_iter()
    .zip(&events)
    .map(|(method, ev)| {
        let p = Process::new(wait_then_return, ev.clone()).start_method(method);
        p.start().unwrap();
        p
    })
    .collect();
    let (conn, peer) = conc_process::pipe::<u8>(true).unwrap();
    let sentinels: Vec<_> = procs.iter().map(|p| p.sentinel().unwrap()).collect();
    let mut objects: Vec<&dyn Waitable> = sentinels.iter().map(|s| s as &dyn Waitable).collect();
    objects.push(&conn);
    assert!(
        wait(&objects, Some(Duration::from_millis(20)))
            .unwrap()
            .is_empty()
    );
    events[1].set();
    assert_eq!(wait(&objects, Some(PATIENCE)).unwrap(), [1]);
    peer.send(5).unwrap();
    assert_eq!(wait(&objects, Some(PATIENCE)).unwrap(), [1, 3]);
    assert_eq!(conn.recv(), Ok(5));
    events[0].set();
    events[2].set();
    for p in &procs {
        assert_eq!(p.result(), Ok(7));
    }
    assert_eq!(wait(&objects, None).unwrap(), [0, 1, 2]);
    // A sleeping child's sentinel ends a wait without a timeout.
    let p = Process::new(sleep_ms, 50).start_method(StartMethod::Fork);
    p.start().unwrap();
    let s = p.sentinel().unwrap();
    assert_eq!(wait(&[&s as &dyn Waitable], None).unwrap(), [0]);
    p.join().unwrap();
}
