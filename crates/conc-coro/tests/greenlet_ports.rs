//! More of greenlet's own tests (`test_greenlet.py`, `test_leaks.py`), where they apply
//! to a Rust API; each names the Python test it ports. Those that test Python's
//! object model (`__getattribute__` tricks, `gr_frame`, subclassing) have no Rust
//! counterpart; the cross-thread ones (`test_throw_to_dead_thread_doesnt_crash`,
//! `test_switch_to_another_thread`) cannot be written, since `Greenlet` is not `Send`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use conc_coro::{Greenlet, GreenletError, GreenletExit, getcurrent, main_greenlet};

type Log<T> = Rc<RefCell<Vec<T>>>;

/// `fmain` of test_dealloc: waits in a switch to its parent and records what ended it.
fn fmain(seen: Log<&'static str>) -> Greenlet {
    Greenlet::new(move |_: ()| {
        let parent = getcurrent().parent().unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| parent.switch(())));
        drop(parent);
        if let Err(payload) = outcome {
            if payload.is::<GreenletExit>() {
                seen.borrow_mut().push("GreenletExit");
            }
            resume_unwind(payload);
        }
    })
}

// test_greenlet.TestGreenlet.test_dealloc
#[test]
fn dealloc() {
    let seen: Log<&'static str> = Rc::default();
    let g1 = fmain(seen.clone());
    let g2 = fmain(seen.clone());
    g1.switch(()).unwrap();
    g2.switch(()).unwrap();
    assert!(seen.borrow().is_empty());
    drop(g1);
    assert_eq!(*seen.borrow(), ["GreenletExit"]);
    drop(g2);
    assert_eq!(*seen.borrow(), ["GreenletExit", "GreenletExit"]);
}

// test_greenlet.TestGreenlet.test_dealloc_catches_GreenletExit_throws_other: the other
// error is reported (Python: the unraisable hook; here `kill`'s result, or the log on
// drop), and nothing aborts or hangs.
#[test]
fn dealloc_catches_greenlet_exit_throws_other() {
    #[derive(Debug)]
    struct SomeError;
    let make = || {
        Greenlet::new(|_: ()| {
            let parent = getcurrent().parent().unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| parent.switch(())));
            drop(parent);
            if let Err(payload) = outcome
                && payload.is::<GreenletExit>()
            {
                std::panic::panic_any(SomeError);
            }
        })
    };
    let g = make();
    g.switch(()).unwrap();
    match g.kill() {
        Err(GreenletError::Panicked { payload, .. }) => assert!(payload.is::<SomeError>()),
        other => panic!("expected SomeError, got {other:?}"),
    }
    assert!(g.dead());
    let g = make();
    g.switch(()).unwrap();
    drop(g); // logged, not lost silently and not propagated out of `drop`
    assert!(getcurrent().is_main());
}

// test_greenlet.TestGreenlet.test_parent_restored_on_kill, adapted: Python lets the
// dying greenlet switch back to its parent ("resurrect"); here a dying greenlet cannot
// switch, so its attempt is refused and it dies; its parent is unchanged throughout.
#[test]
fn parent_unchanged_on_kill_and_dying_greenlets_cannot_switch() {
    let hub = Greenlet::new(|_: ()| ());
    let main = getcurrent();
    let result: Log<(bool, bool)> = Rc::default();
    let (r, h, m) = (result.clone(), hub.clone(), main.clone());
    let g = Greenlet::new(move |_: ()| {
        let outcome = catch_unwind(AssertUnwindSafe(|| m.switch(())));
        if let Err(payload) = outcome {
            let me = getcurrent();
            r.borrow_mut()
                .push((me.parent() == Some(h.clone()), me.is_main()));
            drop(me);
            // The "resurrection" Python allows: refused here, the kill goes on.
            let _ = catch_unwind(AssertUnwindSafe(|| h.switch(())));
            resume_unwind(payload);
        }
    });
    g.set_parent(&hub).unwrap();
    g.switch(()).unwrap();
    let weak = g.downgrade();
    drop(g);
    assert!(weak.upgrade().is_none());
    assert_eq!(
        *result.borrow(),
        [(true, false)],
        "during the kill, current is the victim"
    );
    assert!(!hub.dead(), "the refused switch did not run the hub");
}

// test_greenlet.TestGreenlet.test_parent_return_failure: a child's return value that
// its (unstarted) parent cannot take comes back to us as an error.
#[test]
fn parent_return_failure() {
    let g1 = Greenlet::new(|x: u32| x);
    let g2 = Greenlet::new(|_: ()| ());
    g2.set_parent(&g1).unwrap();
    assert!(matches!(
        g2.switch(()),
        Err(GreenletError::WrongType { .. })
    ));
    assert!(g2.dead() && g1.dead());
}

// test_greenlet.TestGreenlet.test_falling_off_end_switches_to_unstarted_parent_works
#[test]
fn falling_off_end_starts_unstarted_parent() {
    let parent_never_started = Greenlet::new(|x: i32| (x, 24));
    let child = Greenlet::new(|_: ()| 42_i32);
    child.set_parent(&parent_never_started).unwrap();
    assert_eq!(child.switch_as::<(i32, i32), _>(()), Ok((42, 24)));
}

// test_greenlet.TestGreenlet.test_falling_off_end_switches_to_unstarted_parent_raises_error
#[test]
fn falling_off_end_into_parent_of_wrong_type_is_an_error() {
    let parent_never_started = Greenlet::new(|_: ()| 13);
    let child = Greenlet::new(|_: ()| 42_i32);
    child.set_parent(&parent_never_started).unwrap();
    match child.switch(()) {
        Err(GreenletError::WrongType { expected, found }) => {
            assert_eq!((expected, found), ("()", "i32"));
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
}

// test_greenlet.TestGreenlet.test_switch_to_dead_greenlet_reparent
#[test]
fn switch_to_dead_greenlet_after_reparenting_runs_the_new_parent() {
    let seen: Log<i32> = Rc::default();
    let s = seen.clone();
    let parent_never_started = Greenlet::new(move |_: ()| s.borrow_mut().push(24));
    let s = seen.clone();
    let child = Greenlet::new(move |_: ()| s.borrow_mut().push(42));
    child.switch(()).unwrap();
    assert_eq!(*seen.borrow(), [42]);
    child.set_parent(&parent_never_started).unwrap();
    // The same as switching to the parent.
    assert!(child.switch(()).unwrap().is::<()>());
    assert_eq!(*seen.borrow(), [42, 24]);
}

// test_greenlet.TestGreenlet.test_main_greenlet_parent_is_none / TestRepr.test_initial
// / test_dead
#[test]
fn main_greenlet_and_dead_state() {
    let main = main_greenlet();
    assert!(main.parent().is_none());
    assert!(main.is_main() && main.is_active() && !main.dead());
    let g = Greenlet::new(|_: ()| ());
    assert!(!g.dead() && !g.is_active());
    g.switch(()).unwrap();
    assert!(g.dead() && !g.is_active());
    // A greenlet cannot be its own parent (test_trivial_cycle).
    assert_eq!(g.set_parent(&g), Err(GreenletError::ParentCycle));
}

/// Counts drops of the values it is cloned from.
#[derive(Clone)]
struct Tracked(Rc<()>);

// test_leaks.TestLeaks (the refcount checks, as drop counts): greenlets in every state,
// dropped, release everything they held, and their stacks are reused.
#[test]
fn greenlets_in_every_state_release_what_they_hold() {
    let tracked = Tracked(Rc::new(()));
    let maps = || std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    let mut maps_after_first_round = 0;
    for round in 0..5 {
        let mut gs: Vec<Greenlet> = Vec::new();
        for i in 0..3_000 {
            let t = tracked.clone();
            let g = Greenlet::new(move |_: ()| {
                let _held = t;
                let parent = getcurrent().parent().unwrap();
                parent.switch(()).unwrap();
            });
            match i % 3 {
                0 => {}                                               // never started
                1 => g.switch(()).unwrap().downcast::<()>().unwrap(), // suspended
                _ => {
                    g.switch(()).unwrap();
                    g.switch(()).unwrap(); // finished
                }
            }
            gs.push(g);
        }
        assert_eq!(
            Rc::strong_count(&tracked.0),
            1 + 2_000,
            "unstarted and suspended hold"
        );
        drop(gs);
        assert_eq!(
            Rc::strong_count(&tracked.0),
            1,
            "round {round}: something leaked"
        );
        if round == 0 {
            maps_after_first_round = maps();
        }
    }
    // Without reuse, each later round would map about 8 new slabs (2,000 stacks, 256
    // per slab): 32 or more mappings. The slack covers other tests' threads coming
    // and going in this process meanwhile (their stacks are mappings too).
    assert!(
        maps() <= maps_after_first_round + 16,
        "stack slots were not reused: {maps_after_first_round} -> {} mappings",
        maps()
    );
}

// test_leaks: an error value thrown in and a panic payload are each dropped exactly
// once, whoever ends up holding them.
#[test]
fn thrown_and_panicked_values_are_dropped_once() {
    use std::sync::Arc;
    let g = Greenlet::new(|_: ()| {
        let parent = getcurrent().parent().unwrap();
        let got = parent.switch(());
        drop(parent);
        got.is_err() // the thrown value is dropped with `got`, here
    });
    g.switch(()).unwrap();
    let thrown = Arc::new(());
    assert_eq!(
        g.throw(thrown.clone()).unwrap().downcast::<bool>(),
        Ok(true)
    );
    assert_eq!(
        Arc::strong_count(&thrown),
        1,
        "the thrown value was dropped once"
    );

    let payload = Arc::new(());
    let p = {
        let payload = payload.clone();
        Greenlet::new(move |_: ()| -> () { std::panic::panic_any(payload) })
    };
    let err = p.switch(()).unwrap_err();
    assert_eq!(
        Arc::strong_count(&payload),
        2,
        "the error holds the payload"
    );
    drop(err);
    assert_eq!(
        Arc::strong_count(&payload),
        1,
        "dropped with the error, once"
    );
}
