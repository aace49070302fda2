//! Every way a greenlet ends, including the hostile ones: a body that keeps catching
//! its kill, cleanup code that kills, greenlets left suspended when their thread exits
//! (whichever thread-local goes first), typed errors crossing switches, and greenlets
//! that are created but never run. Each test names the failure it guards against.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use conc_coro::{Greenlet, GreenletError, WeakGreenlet, getcurrent};

/// Counts its drops in a shared counter (usable from another thread's destructors).
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A body that catches every `GreenletExit` and switches back to its parent.
fn stubborn(tries: Rc<Cell<u32>>) -> Greenlet {
    Greenlet::new(move |_: ()| {
        loop {
            let parent = getcurrent().parent().expect("not main");
            let caught = catch_unwind(AssertUnwindSafe(|| parent.switch(())));
            drop(parent);
            if caught.is_err() {
                tries.set(tries.get() + 1);
            }
        }
    })
}

// Issue 10, failure 1: dropping a greenlet that catches its kill never returned.
#[test]
fn a_greenlet_that_catches_its_kill_is_abandoned_not_waited_for() {
    let tries = Rc::new(Cell::new(0));
    let g = stubborn(tries.clone());
    g.switch(()).unwrap();
    assert_eq!(g.kill(), Err(GreenletError::Unkillable));
    assert!(g.dead(), "abandoned counts as dead");
    assert!(tries.get() >= 1, "the body did catch the kill");
    // Dropping one returns too.
    let g = stubborn(Rc::new(Cell::new(0)));
    g.switch(()).unwrap();
    let weak = g.downgrade();
    drop(g);
    assert!(weak.upgrade().is_none());
    // And the thread goes on switching normally.
    let ok = Greenlet::new(|x: u8| x + 1);
    assert_eq!(ok.switch_as::<u8, _>(1_u8), Ok(2));
}

/// Kills the greenlet it names when dropped.
struct KillOnDrop(WeakGreenlet, Rc<RefCell<Vec<Result<(), GreenletError>>>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(g) = self.0.upgrade() {
            self.1.borrow_mut().push(g.kill());
        }
    }
}

// Issue 10, failure 2: cleanup code killing its own greenlet aborted the process.
#[test]
fn cleanup_that_kills_its_own_greenlet_is_a_no_op() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let g = Greenlet::new(move |_: ()| {
        let _k = KillOnDrop(getcurrent().downgrade(), l);
        getcurrent().parent().unwrap().switch(()).unwrap();
    });
    g.switch(()).unwrap();
    assert_eq!(g.kill(), Ok(()));
    assert!(g.dead());
    assert_eq!(*log.borrow(), [Ok(())], "the inner kill was a no-op");
}

// Cleanup code killing *another* suspended greenlet: queued, done before kill returns.
#[test]
fn cleanup_that_kills_another_greenlet_is_done_before_kill_returns() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let victim = Greenlet::new(move |_: ()| {
        let _d = DropCount(d);
        getcurrent().parent().unwrap().switch(()).unwrap();
    });
    victim.switch(()).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l, w) = (log.clone(), victim.downgrade());
    let killer = Greenlet::new(move |_: ()| {
        let _k = KillOnDrop(w, l);
        getcurrent().parent().unwrap().switch(()).unwrap();
    });
    killer.switch(()).unwrap();
    assert_eq!(killer.kill(), Ok(()));
    assert!(victim.dead(), "the queued kill ran");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(*log.borrow(), [Ok(())]);
}

thread_local! {
    static HELD: RefCell<Option<Greenlet>> = const { RefCell::new(None) };
}

/// Starts a greenlet that suspends holding a `DropCount`, and parks its only handle
/// in the `HELD` thread-local.
fn park_suspended_greenlet(drops: Arc<AtomicUsize>) {
    let g = Greenlet::new(move |_: ()| {
        let _d = DropCount(drops);
        getcurrent().parent().unwrap().switch(()).unwrap();
    });
    g.switch(()).unwrap();
    HELD.with(|h| *h.borrow_mut() = Some(g));
}

// Issue 10, failure 3: a greenlet suspended at thread exit was unwound or leaked
// depending on which thread-local was created first. Both orders run its destructors.
#[test]
fn greenlets_suspended_at_thread_exit_are_unwound_in_either_order() {
    // The holder first, then the greenlet runtime.
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    std::thread::spawn(move || {
        HELD.with(|_| ());
        park_suspended_greenlet(d);
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "holder created first");

    // The runtime first, then the holder.
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    std::thread::spawn(move || {
        getcurrent();
        park_suspended_greenlet(d);
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "runtime created first");

    // With no handle left anywhere: killed at exit by the runtime alone.
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    std::thread::spawn(move || {
        let main = getcurrent();
        let g = Greenlet::new(move |_: ()| {
            let _d = DropCount(d);
            main.switch(()).unwrap();
        });
        g.switch(()).unwrap();
        std::mem::forget(g); // a leaked handle: only thread exit can end it
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "leaked handle");
}

// Issue 10, failure 4: throws carried only a String; a panic crossed only as text.
#[test]
fn thrown_errors_and_panics_arrive_typed() {
    #[derive(Debug, PartialEq)]
    struct Timeout {
        seconds: u32,
    }
    let g = Greenlet::new(|_: ()| {
        let parent = getcurrent().parent().unwrap();
        match parent.switch(()) {
            Err(GreenletError::Thrown(payload)) => payload.downcast::<Timeout>().ok(),
            _ => None,
        }
    });
    g.switch(()).unwrap();
    assert_eq!(
        g.throw(Timeout { seconds: 3 })
            .unwrap()
            .downcast::<Option<Timeout>>(),
        Ok(Some(Timeout { seconds: 3 }))
    );
    // A panic's own payload value reaches the parent, and can be resumed there.
    let g = Greenlet::new(|_: ()| -> () { std::panic::panic_any(Timeout { seconds: 9 }) });
    match g.switch(()) {
        Err(GreenletError::Panicked { payload, .. }) => {
            assert_eq!(
                payload.downcast_ref::<Timeout>(),
                Some(&Timeout { seconds: 9 })
            );
            let again = catch_unwind(AssertUnwindSafe(move || payload.resume_unwind()));
            assert!(again.unwrap_err().is::<Timeout>());
        }
        other => panic!("unexpected {other:?}"),
    }
}

// Issue 10, failure 5: a greenlet created but never started held a stack page.
#[test]
fn unstarted_greenlets_hold_no_stack() {
    const N: usize = 100_000;
    if std::env::var_os("CONC_CORO_UNSTARTED_CHILD").is_none() {
        // Measured in a process of its own: other tests' greenlets would add their
        // stacks to the resident memory.
        common::keep_child_statuses();
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "unstarted_greenlets_hold_no_stack",
                "--nocapture",
            ])
            .env("CONC_CORO_UNSTARTED_CHILD", "1")
            .output()
            .expect("the test binary runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "child failed: {text}");
        assert!(
            text.contains("unstarted greenlets:"),
            "the child did not measure: {text}"
        );
        return;
    }
    let maps = || std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    let (maps_before, rss_before) = (maps(), common::rss_kib());
    let spare: Vec<Greenlet> = (0..N)
        .map(|i| Greenlet::new(move |x: usize| x + i))
        .collect();
    let (maps_after, rss_after) = (maps(), common::rss_kib());
    let grown_kib = rss_after.saturating_sub(rss_before);
    println!(
        "{N} unstarted greenlets: +{grown_kib} KiB RSS, +{} mappings",
        maps_after.saturating_sub(maps_before)
    );
    // Started, each would hold at least one 4 KiB stack page: 400,000 KiB.
    assert!(
        grown_kib < 50 * 1024,
        "{N} unstarted greenlets cost {grown_kib} KiB"
    );
    assert!(
        maps_after <= maps_before + 8,
        "creating greenlets mapped stacks: {maps_before} -> {maps_after} mappings"
    );
    // They still run when switched to.
    assert_eq!(spare[7].switch_as::<usize, _>(1_usize), Ok(8));
}
