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
