//! Ports of greenlet's own test suite (`src/greenlet/tests/test_greenlet.py`,
//! `test_throw.py`, `test_generator.py`, `test_gc.py`, `test_tracing.py`), adapted to
//! Rust's types. Each test names the Python test it ports.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use conc_coro::{Greenlet, GreenletError, GreenletExit, TraceEvent, Value, getcurrent};

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// `greenlet.getcurrent().parent.switch()`. The current greenlet's handle is dropped
/// before switching: a greenlet holding its own handle while suspended keeps itself
/// alive, so dropping its other handles would not kill it.
fn parent_switch() -> Result<Value, GreenletError> {
    let parent = getcurrent().parent().expect("not main");
    parent.switch(())
}

// test_greenlet.TestGreenlet.test_simple
#[test]
fn simple() {
    let lst = log();
    let l = lst.clone();
    let g = Greenlet::new(move |_: ()| {
        l.borrow_mut().push(1);
        parent_switch().unwrap();
        l.borrow_mut().push(3);
    });
    lst.borrow_mut().push(0);
    g.switch(()).unwrap();
    lst.borrow_mut().push(2);
    g.switch(()).unwrap();
    lst.borrow_mut().push(4);
    assert_eq!(*lst.borrow(), [0, 1, 2, 3, 4]);
}

// test_greenlet.TestGreenlet.test_two_children
#[test]
fn two_children() {
    let lst = log();
    let make = || {
        let l = lst.clone();
        Greenlet::new(move |_: ()| {
            l.borrow_mut().push(1);
            parent_switch().unwrap();
            l.borrow_mut().extend([1, 1]);
        })
    };
    let (g, h) = (make(), make());
    g.switch(()).unwrap();
    assert_eq!(lst.borrow().len(), 1);
    h.switch(()).unwrap();
    assert_eq!(lst.borrow().len(), 2);
    h.switch(()).unwrap();
    assert_eq!(lst.borrow().len(), 4);
    assert!(h.dead());
    g.switch(()).unwrap();
    assert_eq!(lst.borrow().len(), 6);
    assert!(g.dead());
}

// test_greenlet.TestGreenlet.test_two_recursive_children
#[test]
fn two_recursive_children() {
    let lst = log();
    let l = lst.clone();
    let outer = Greenlet::new(move |_: ()| {
        l.borrow_mut().push('a');
        let l2 = l.clone();
        let inner = Greenlet::new(move |_: ()| {
            l2.borrow_mut().push('b');
            parent_switch().unwrap();
        });
        assert_eq!(inner.parent(), Some(getcurrent()), "parent is the creator");
        inner.switch(()).unwrap();
        l.borrow_mut().push('c');
    });
    outer.switch(()).unwrap();
    assert_eq!(*lst.borrow(), ['a', 'b', 'c']);
}

// test_greenlet.TestGreenlet.test_threads: each thread has its own main greenlet.
#[test]
fn threads() {
    let handles: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(|| {
                let main = getcurrent();
                assert!(main.is_main());
                let g = Greenlet::new(|x: u32| {
                    let y: u32 = parent_switch().unwrap().downcast().unwrap();
                    x + y
                });
                g.switch(1_u32).unwrap();
                g.switch_as::<u32, _>(2_u32).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 3);
    }
}

// test_greenlet.TestGreenlet.test_exception: a panic goes to the parent; switching to
// the dead greenlet afterwards comes straight back.
#[test]
fn exception_goes_to_parent() {
    let seen: Log<String> = log();
    let make = || {
        let seen = seen.clone();
        Greenlet::new(move |_: ()| match parent_switch() {
            Err(error) => {
                seen.borrow_mut().push(error.to_string());
                panic!("re-raised: {error}");
            }
            Ok(_) => panic!("SomeError"),
        })
    };
    let (g1, g2) = (make(), make());
    g1.switch(()).unwrap();
    g2.switch(()).unwrap();
    g2.set_parent(&g1).unwrap();
    assert!(seen.borrow().is_empty());
    let result = g2.switch(());
    assert_eq!(*seen.borrow(), ["greenlet panicked: SomeError"]);
    assert!(
        matches!(result, Err(GreenletError::Panicked { message, .. }) if message.contains("SomeError"))
    );
    assert!(g1.dead() && g2.dead());
    // Switching to a dead greenlet goes to its nearest live ancestor: here, us.
    assert_eq!(g2.switch(25_i32).unwrap().downcast::<i32>(), Ok(25));
}

// test_greenlet.TestGreenlet.test_send_exception / test_throw.test_val
#[test]
fn throw_into_suspended_greenlet() {
    let g = Greenlet::new(|_: ()| match parent_switch() {
        Err(GreenletError::Thrown(why)) => format!("caught {why}"),
        _ => String::from("nothing"),
    });
    g.switch(()).unwrap();
    assert_eq!(
        g.throw("ciao").unwrap().downcast::<String>(),
        Ok("caught ciao".into())
    );
    assert!(g.dead());
}

// test_throw.test_throw_goes_to_original_parent (unstarted case): throwing into a
// greenlet that never ran kills it and the error goes to its parent.
#[test]
fn throw_into_unstarted_goes_to_parent() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = Greenlet::new(move |_: ()| r.set(true));
    assert!(
        matches!(g.throw("early"), Err(GreenletError::Thrown(why)) if why.message() == Some("early"))
    );
    assert!(g.dead());
    assert!(!ran.get());
}

// test_throw.test_throw_goes_to_original_parent, all three cases: g2's parent is g1,
// which catches the error if it is suspended in a switch.
#[test]
fn throw_goes_to_original_parent() {
    #[derive(Debug)]
    struct IndexError;
    let main = getcurrent();
    let f1 =
        {
            let main = main.clone();
            move |_: ()| match main.switch("f1 ready to catch") {
                Err(
                    GreenletError::Thrown(error) | GreenletError::Panicked { payload: error, .. },
                ) if error.is::<IndexError>() => "caught",
                _ => "normal exit",
            }
        };
    // Python's f2 lets the exception fly out of its frame; here the body resumes
    // unwinding with the thrown value, which reaches g1 with its type intact.
    let f2 = {
        let main = main.clone();
        move |_: ()| {
            if let Err(GreenletError::Thrown(error)) = main.switch("from f2") {
                error.resume_unwind();
            }
        }
    };

    // Neither started: the error passes through the unstarted g1 to us, and g1 lives.
    let g1 = Greenlet::new(f1.clone());
    let g2 = Greenlet::new(f2.clone());
    g2.set_parent(&g1).unwrap();
    assert!(matches!(g2.throw(IndexError), Err(GreenletError::Thrown(e)) if e.is::<IndexError>()));
    assert!(g2.dead());
    assert!(!g1.dead() && !g1.started());

    // g1 waits in a switch: it catches the error thrown into the unstarted g2.
    let g1 = Greenlet::new(f1.clone());
    let g2 = Greenlet::new(f2.clone());
    g2.set_parent(&g1).unwrap();
    assert_eq!(g1.switch_as::<&str, _>(()), Ok("f1 ready to catch"));
    assert_eq!(
        g2.throw(IndexError).unwrap().downcast::<&str>(),
        Ok("caught")
    );
    assert!(g2.dead() && g1.dead());

    // Both suspended: the error thrown into g2 ends it and reaches g1.
    let g1 = Greenlet::new(f1);
    let g2 = Greenlet::new(f2);
    g2.set_parent(&g1).unwrap();
    assert_eq!(g1.switch_as::<&str, _>(()), Ok("f1 ready to catch"));
    assert_eq!(g2.switch_as::<&str, _>(()), Ok("from f2"));
    assert_eq!(
        g2.throw(IndexError).unwrap().downcast::<&str>(),
        Ok("caught")
    );
    assert!(g2.dead() && g1.dead());
}

// Greenlet::started / is_active / id / dead through a greenlet's life.
#[test]
fn life_cycle_getters() {
    let g = Greenlet::new(|_: ()| {
        let me = getcurrent();
        let inside = (me.started(), me.is_active(), me.dead(), me.id());
        drop(me);
        parent_switch().unwrap();
        inside
    });
    let id = g.id();
    assert_eq!(
        (g.started(), g.is_active(), g.dead()),
        (false, false, false)
    );
    g.switch(()).unwrap();
    assert_eq!((g.started(), g.is_active(), g.dead()), (true, true, false));
    let (started, active, dead, inner_id) = g.switch_as::<(bool, bool, bool, u64), _>(()).unwrap();
    assert_eq!((started, active, dead), (true, true, false));
    assert_eq!(inner_id, id, "the id seen inside is the handle's");
    assert_eq!((g.started(), g.is_active(), g.dead()), (true, false, true));
    assert_eq!(g.clone().id(), id, "clones share the id");
    let main = getcurrent();
    assert!(main.started() && main.is_active() && !main.dead());
    assert_ne!(main.id(), id);
    let ids: std::collections::HashSet<u64> =
        (0..100).map(|_| Greenlet::new(|_: ()| ()).id()).collect();
    assert_eq!(ids.len(), 100, "ids are unique");
    assert!(!ids.contains(&id) && !ids.contains(&main.id()));
}

// test_throw.test_kill
#[test]
fn kill() {
    let g = Greenlet::new(|_: ()| {
        parent_switch().unwrap();
        unreachable!("killed while suspended");
    });
    g.switch(()).unwrap();
    g.kill().unwrap();
    assert!(g.dead());
    g.kill().unwrap(); // killing a dead greenlet is harmless
    let unstarted = Greenlet::new(|_: ()| ());
    unstarted.kill().unwrap();
    assert!(unstarted.dead());
}

// test_greenlet.TestGreenlet.test_dealloc / test_gc: dropping the last handle of a
// suspended greenlet unwinds it, running destructors on its stack.
#[test]
fn dropping_suspended_greenlet_runs_destructors() {
    struct Guard(Log<&'static str>, &'static str);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.borrow_mut().push(self.1);
        }
    }
    let drops = log();
    let make = |name: &'static str| {
        let d = drops.clone();
        Greenlet::new(move |_: ()| {
            let _guard = Guard(d, name);
            parent_switch().unwrap();
        })
    };
    let (g1, g2) = (make("g1"), make("g2"));
    g1.switch(()).unwrap();
    g2.switch(()).unwrap();
    assert!(drops.borrow().is_empty());
    drop(g1);
    assert_eq!(*drops.borrow(), ["g1"]);
    drop(g2);
    assert_eq!(*drops.borrow(), ["g1", "g2"]);
}

// test_gc.test_inactive_ref: dropping an unstarted greenlet drops its closure.
#[test]
fn dropping_unstarted_greenlet_drops_closure() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let flag = Flag(dropped.clone());
    let g = Greenlet::new(move |_: ()| drop(flag));
    drop(g);
    assert!(dropped.get());
}

// test_greenlet.TestGreenlet.test_falling_off_end_switches_to_unstarted_parent_works
#[test]
fn return_value_starts_an_unstarted_parent() {
    let parent_never_started = Greenlet::new(|x: i32| (x, 24));
    let child = Greenlet::new(|_: ()| 42_i32);
    child.set_parent(&parent_never_started).unwrap();
    assert_eq!(child.switch_as::<(i32, i32), _>(()), Ok((42, 24)));
}

// TestGreenletSetParentErrors.test_trivial_cycle / test_deeper_cycle /
// test_main_greenlet_parent_is_none
#[test]
fn parent_cycles_are_rejected() {
    let a = Greenlet::new(|_: ()| ());
    assert_eq!(a.set_parent(&a), Err(GreenletError::ParentCycle));
    let b = Greenlet::new(|_: ()| ());
    let c = Greenlet::new(|_: ()| ());
    b.set_parent(&a).unwrap();
    c.set_parent(&b).unwrap();
    assert_eq!(a.set_parent(&c), Err(GreenletError::ParentCycle));
    assert_eq!(getcurrent().parent(), None);
    assert!(getcurrent().is_main());
}

// A greenlet that kills itself hands GreenletExit to its parent (greenlet: the
// GreenletExit instance is returned to the parent).
#[test]
fn self_kill_returns_greenlet_exit() {
    let g = Greenlet::new(|_: ()| {
        getcurrent().kill().unwrap();
        unreachable!("kill does not return in the killed greenlet");
    });
    assert!(g.switch(()).unwrap().is::<GreenletExit>());
    assert!(g.dead());
}

// test_generator.test_generator: greenlets as generators, yielding by switching to
// the parent; the body's and the consumer's steps interleave.
#[test]
fn generator() {
    /// A generator over a greenlet: `next` switches in, the body switches values out.
    struct Genlet {
        g: Greenlet,
    }
    impl Iterator for Genlet {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            self.g.set_parent(&getcurrent()).unwrap();
            let v = self.g.switch(()).unwrap();
            // A dead greenlet returned (ended): Python's `StopIteration`.
            (!self.g.dead()).then(|| v.downcast::<u32>().expect("yielded a u32"))
        }
    }
    /// `Yield(value)`: hands `value` to whoever called `next`.
    fn yield_(value: u32) {
        let parent = getcurrent().parent().expect("yield outside a genlet");
        parent.switch(value).unwrap();
    }
    let seen: Log<u32> = log();
    let generator = |n: u32| {
        let seen = seen.clone();
        Genlet {
            g: Greenlet::new(move |_: ()| {
                for i in 0..n {
                    seen.borrow_mut().push(i);
                    yield_(i);
                }
            }),
        }
    };
    for _ in 0..3 {
        for j in generator(5) {
            seen.borrow_mut().push(j);
        }
    }
    let once = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4];
    assert_eq!(*seen.borrow(), once.repeat(3));
}

// test_tracing.test_a_greenlet_tracing: a greenlet's end is traced as the switch (or,
// for a panic, the throw) back to its parent, as docs/coro-design.md says.
#[test]
fn tracing() {
    let events: Log<(TraceEvent, u64, u64)> = log();
    let e = events.clone();
    let previous = conc_coro::settrace(Some(Rc::new(
        move |event, from: &Greenlet, to: &Greenlet| {
            e.borrow_mut().push((event, from.id(), to.id()));
        },
    )));
    assert!(previous.is_none());
    let main = getcurrent().id();
    let g1 = Greenlet::new(|_: ()| ());
    g1.switch(()).unwrap();
    let g2 = Greenlet::new(|_: ()| -> () { panic!("SomeError") });
    assert!(matches!(g2.switch(()), Err(GreenletError::Panicked { .. })));
    conc_coro::settrace(None);
    assert_eq!(
        *events.borrow(),
        [
            (TraceEvent::Switch, main, g1.id()),
            (TraceEvent::Switch, g1.id(), main),
            (TraceEvent::Switch, main, g2.id()),
            (TraceEvent::Throw, g2.id(), main),
        ]
    );
}

// Throwing into a greenlet is traced as a throw.
#[test]
fn tracing_a_throw() {
    let events: Log<(TraceEvent, u64, u64)> = log();
    let e = events.clone();
    conc_coro::settrace(Some(Rc::new(
        move |event, from: &Greenlet, to: &Greenlet| {
            e.borrow_mut().push((event, from.id(), to.id()));
        },
    )));
    let main = getcurrent().id();
    let g = Greenlet::new(|_: ()| match parent_switch() {
        Err(GreenletError::Thrown(_)) => "caught",
        _ => "not thrown",
    });
    g.switch(()).unwrap();
    assert_eq!(g.throw("x").unwrap().downcast::<&str>(), Ok("caught"));
    conc_coro::settrace(None);
    assert_eq!(
        *events.borrow(),
        [
            (TraceEvent::Switch, main, g.id()),
            (TraceEvent::Switch, g.id(), main),
            (TraceEvent::Throw, main, g.id()),
            (TraceEvent::Switch, g.id(), main),
        ]
    );
}

// Rust-only: switching during unwinding is refused, so destructors cannot escape.
#[test]
fn switch_while_unwinding_is_refused() {
    let outcome: Log<Result<Value, GreenletError>> = log();
    struct SwitchOnDrop(Log<Result<Value, GreenletError>>);
    impl Drop for SwitchOnDrop {
        fn drop(&mut self) {
            let main = conc_coro::main_greenlet();
            self.0.borrow_mut().push(main.switch(()));
        }
    }
    let o = outcome.clone();
    let g = Greenlet::new(move |_: ()| {
        let _s = SwitchOnDrop(o);
        parent_switch().unwrap();
    });
    g.switch(()).unwrap();
    g.kill().unwrap();
    assert!(matches!(outcome.borrow()[0], Err(GreenletError::Unwinding)));
}

// Rust-only: a value of the wrong type is an error, not a crash.
#[test]
fn wrong_argument_type_goes_to_parent() {
    let g = Greenlet::new(|x: u64| x);
    assert!(matches!(
        g.switch("not a u64"),
        Err(GreenletError::WrongType { .. })
    ));
    assert!(g.dead());
}

// Rust-only: thread_local! inside a greenlet is the creating thread's, because
// greenlets never migrate.
#[test]
fn thread_locals_are_the_threads() {
    thread_local!(static COUNTER: Cell<u32> = const { Cell::new(0) });
    COUNTER.with(|c| c.set(7));
    let g = Greenlet::new(|_: ()| {
        COUNTER.with(|c| {
            c.set(c.get() + 1);
            c.get()
        })
    });
    assert_eq!(g.switch_as::<u32, _>(()), Ok(8));
    assert_eq!(COUNTER.with(Cell::get), 8);
}

// Rust-only: many greenlets alive at once, then recycled stacks serve new ones.
#[test]
fn ten_thousand_greenlets_alive_then_recycled() {
    let gs: Vec<Greenlet> = (0..10_000_u32)
        .map(|i| {
            let g = Greenlet::new(move |_: ()| {
                let back: u32 = parent_switch().unwrap().downcast().unwrap();
                back + i
            });
            g.switch(()).unwrap();
            g
        })
        .collect();
    let total: u64 = gs
        .iter()
        .map(|g| u64::from(g.switch_as::<u32, _>(1_u32).unwrap()))
        .sum();
    assert_eq!(total, (0..10_000_u64).map(|i| i + 1).sum::<u64>());
    assert!(gs.iter().all(Greenlet::dead));
    for _ in 0..10_000 {
        Greenlet::new(|_: ()| ()).switch(()).unwrap();
    }
}

// Review regressions: switching from contexts the runtime does not own is refused,
// not trusted.

// A never-started greenlet's captured value whose destructor switches: killing (or
// dropping) the greenlet runs that destructor with switching refused.
#[test]
fn destructor_of_unstarted_capture_cannot_switch() {
    let outcome: Log<bool> = log();
    struct SwitchOnDrop(Log<bool>);
    impl Drop for SwitchOnDrop {
        fn drop(&mut self) {
            let refused = matches!(
                conc_coro::main_greenlet().switch(()),
                Err(GreenletError::Unwinding)
            );
            self.0.borrow_mut().push(refused);
        }
    }
    let s = SwitchOnDrop(outcome.clone());
    let g = Greenlet::new(move |_: ()| {
        let _s = &s;
    });
    g.kill().unwrap();
    let s2 = SwitchOnDrop(outcome.clone());
    drop(Greenlet::new(move |_: ()| {
        let _s = &s2;
    }));
    assert_eq!(*outcome.borrow(), [true, true]);
}

// A panic's payload crosses the switch intact: the parent gets the value itself (and
// can `resume_unwind` it); it is dropped once, by whoever holds it last.
#[test]
fn panic_payload_crosses_intact() {
    #[derive(Debug, PartialEq)]
    struct Timeout(u32);
    let g = Greenlet::new(|_: ()| -> () { std::panic::panic_any(Timeout(7)) });
    let Err(GreenletError::Panicked { message, payload }) = g.switch(()) else {
        panic!("the panic did not reach the parent");
    };
    assert_eq!(message, "<non-string panic payload>");
    assert_eq!(payload.downcast_ref::<Timeout>(), Some(&Timeout(7)));
    let resumed =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| payload.resume_unwind()));
    assert_eq!(
        resumed.unwrap_err().downcast_ref::<Timeout>(),
        Some(&Timeout(7)),
        "resume_unwind carries the original payload"
    );
    assert!(getcurrent().is_main());
}

// A capture whose destructor panics, in a never-started greenlet that is killed: the
// panic is contained and nothing is dropped twice.
#[test]
fn panicking_capture_of_unstarted_greenlet_is_dropped_once() {
    let drops = Rc::new(Cell::new(0));
    struct PanicsOnDrop(Rc<Cell<u32>>);
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            panic!("drop failed");
        }
    }
    let p = PanicsOnDrop(drops.clone());
    let g = Greenlet::new(move |_: ()| {
        let _p = &p;
    });
    g.kill().unwrap();
    assert!(g.dead());
    assert_eq!(drops.get(), 1);
}

// Closures bigger than corosensei's 1 KiB limit are boxed.
#[test]
fn big_closures_work() {
    let buf = [7_u8; 4096];
    let g = Greenlet::new(move |_: ()| buf.iter().map(|b| u32::from(*b)).sum::<u32>());
    assert_eq!(g.switch_as::<u32, _>(()), Ok(7 * 4096));
}

// A tracer that switches does not trace itself forever, and a panicking one is removed.
#[test]
fn tracer_is_not_reentered_and_panicking_tracer_is_removed() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    conc_coro::settrace(Some(Rc::new(move |_, _: &Greenlet, _: &Greenlet| {
        c.set(c.get() + 1);
        // Switching to self from the tracer: would recurse if the tracer stayed in.
        let _ = getcurrent().switch(());
    })));
    Greenlet::new(|_: ()| ()).switch(()).unwrap();
    assert_eq!(
        calls.get(),
        2,
        "in, and back as it returns; never the tracer's own switch"
    );
    conc_coro::settrace(Some(Rc::new(|_, _: &Greenlet, _: &Greenlet| {
        panic!("tracer")
    })));
    let g = Greenlet::new(|_: ()| ());
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.switch(()))).is_err());
    assert!(
        conc_coro::settrace(None).is_none(),
        "the panicking tracer was removed"
    );
    assert!(getcurrent().is_main());
}
