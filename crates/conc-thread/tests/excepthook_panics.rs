//! The excepthook is process-global, so this test has a process of its own: it replaces
//! the hook with one that panics, which would disturb other tests' hooks.

use std::time::Duration;

use conc_thread::Builder;

// A detached thread whose panic reaches a panicking excepthook still leaves the
// registry and wakes waiters (a hook must never make `join_non_daemon_threads` hang).
#[test]
fn panicking_excepthook_does_not_strand_the_thread() {
    // Only this test's thread names are hooked; others fall through to stderr.
    conc_thread::set_excepthook(|args: &conc_thread::ExceptHookArgs| {
        if args.thread_name() == "hook-panics" {
            panic!("hook failure");
        }
    });
    let h = Builder::new()
        .name("hook-panics")
        .spawn(|| panic!("body failure"))
        .unwrap();
    let t = h.thread().clone();
    drop(h);
    assert!(t.wait_finished(Some(Duration::from_secs(30))));
    assert!(!t.is_alive());
    assert!(!conc_thread::enumerate().contains(&t));
}
