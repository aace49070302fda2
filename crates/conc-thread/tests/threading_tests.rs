//! Ports of CPython's `Lib/test/test_threading.py` (`ThreadTests`, `ThreadJoinOnShutdown`
//! where it applies, `ExceptHookTests`, `TimerTests`) and `Lib/test/_test_threading_local.py`.
//! Each test names the CPython test it ports.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PATIENCE, pause, wait_until};
use conc_thread::{Builder, Event, Local, ThreadError, Timer};

// ThreadTests.test_various_ops: names, idents, is_alive, join.
#[test]
fn various_ops() {
    let n = 10;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            Builder::new()
                .name(format!("<thread {i}>"))
                .spawn(move || {
                    let me = conc_thread::current_thread();
                    (me.name().to_owned(), me.ident())
                })
                .unwrap()
        })
        .collect();
    let mut idents = HashSet::new();
    for (i, h) in handles.into_iter().enumerate() {
        let ident = h.ident();
        let (name, seen_ident) = h.join().unwrap();
        assert_eq!(name, format!("<thread {i}>"));
        assert_eq!(seen_ident, ident);
        idents.insert(ident);
    }
    assert_eq!(idents.len(), n, "idents are unique");
}

// ThreadTests.test_ident_of_no_threading_threads: a foreign thread gets an identity.
#[test]
fn foreign_thread_gets_identity() {
    let (name, ident, count_inside) = std::thread::Builder::new()
        .name("std-thread".into())
        .spawn(|| {
            let me = conc_thread::current_thread();
            (
                me.name().to_owned(),
                me.ident(),
                conc_thread::enumerate().contains(&me),
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(name, "std-thread");
    assert!(ident > 0);
    assert!(count_inside, "a dummy thread is listed while alive");
}

// ThreadTests.test_main_thread
#[test]
fn main_thread_identity() {
    let main = conc_thread::main_thread();
    assert_eq!(main.name(), "MainThread");
    assert!(!main.is_daemon());
    assert!(main.is_alive());
    let from_thread = conc_thread::spawn(conc_thread::main_thread).join().unwrap();
    assert_eq!(from_thread, main);
    assert_eq!(main.native_id(), u64::from(std::process::id()));
}

// ThreadTests.test_native_id / test_get_native_id
#[test]
fn native_ids_are_distinct_and_published() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let h = conc_thread::spawn(move || {
        g.wait();
        conc_thread::get_native_id()
    });
    let published = h.native_id();
    assert_ne!(published, conc_thread::get_native_id());
    gate.set();
    assert_eq!(h.join().unwrap(), published);
}

// ThreadTests.test_join_nondaemon_on_shutdown / active_count: threads are counted from
// spawn until they finish.
#[test]
fn active_count_and_enumerate() {
    let gate = Arc::new(Event::new());
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let g = gate.clone();
            conc_thread::spawn(move || g.wait())
        })
        .collect();
    let listed = conc_thread::enumerate();
    for h in &handles {
        assert!(listed.contains(h.thread()));
    }
    assert!(conc_thread::active_count() >= 4);
    let threads: Vec<_> = handles.iter().map(|h| h.thread().clone()).collect();
    gate.set();
    for h in handles {
        h.join().unwrap();
    }
    let listed = conc_thread::enumerate();
    for t in threads {
        assert!(!t.is_alive());
        assert!(!listed.contains(&t));
    }
}

// ThreadTests.test_limbo_cleanup-like: join returns the value, then is_alive is false.
#[test]
fn join_returns_value_and_thread_is_dead() {
    let h = conc_thread::spawn(|| vec![1, 2, 3]);
    let t = h.thread().clone();
    assert_eq!(h.join().unwrap(), [1, 2, 3]);
    assert!(!t.is_alive());
}

// ThreadJoinOnShutdown / test_join with timeout: a timed join of a running thread
// times out and leaves the handle usable.
#[test]
fn join_timeout_then_join() {
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let mut h = conc_thread::spawn(move || {
        g.wait();
        "late"
    });
    let start = Instant::now();
    match h.join_timeout(Duration::from_millis(30)) {
        Err(e @ ThreadError::Timeout { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("timed out after 30ms waiting for thread '"),
                "{text}"
            );
            assert!(text.ends_with("' to finish"), "{text}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(h.is_alive());
    gate.set();
    assert_eq!(h.join_timeout(PATIENCE), Ok("late"));
    assert_eq!(h.join_timeout(PATIENCE), Err(ThreadError::AlreadyJoined));
}

// ThreadTests.test_join_from_self (RuntimeError "cannot join current thread")
#[test]
fn join_self_is_an_error() {
    let slot: Arc<Mutex<Option<conc_thread::JoinHandle<()>>>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    let ready = Arc::new(Event::new());
    let r = ready.clone();
    let h = conc_thread::spawn(move || {
        r.wait();
        let mine = s.lock().unwrap().take().unwrap();
        *g.lock().unwrap() = Some(mine.join());
    });
    let t = h.thread().clone();
    *slot.lock().unwrap() = Some(h);
    ready.set();
    assert!(t.wait_finished(Some(PATIENCE)));
    assert_eq!(*got.lock().unwrap(), Some(Err(ThreadError::JoinSelf)));
}

// A panic comes back from join with its message (Python would print the traceback).
#[test]
fn panic_comes_back_from_join() {
    let h = Builder::new()
        .name("doomed")
        .spawn(|| -> u8 { panic!("bad value {}", 42) })
        .unwrap();
    assert_eq!(
        h.join(),
        Err(ThreadError::Panicked {
            thread: "doomed".into(),
            message: "bad value 42".into()
        })
    );
}

// ExceptHookTests.test_excepthook: unjoined panics reach the hook, joined ones don't.
// One test owns the global hook so no other test's panic can land in it.
#[test]
fn excepthook_receives_unjoined_panics_only() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    conc_thread::set_excepthook(move |args: &conc_thread::ExceptHookArgs| {
        if args.thread_name().starts_with("hooked-") {
            sink.lock()
                .unwrap()
                .push((args.thread_name().to_owned(), args.message().to_owned()));
        }
    });

    // Dropped before the panic: reported by the dying thread.
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let early = Builder::new()
        .name("hooked-early")
        .spawn(move || {
            g.wait();
            panic!("early")
        })
        .unwrap();
    let early_thread = early.thread().clone();
    drop(early);
    gate.set();
    assert!(early_thread.wait_finished(Some(PATIENCE)));

    // Dropped after the panic: reported by the dropping thread.
    let late = Builder::new()
        .name("hooked-late")
        .spawn(|| panic!("late"))
        .unwrap();
    assert!(late.thread().wait_finished(Some(PATIENCE)));
    drop(late);

    // Joined: the joiner gets the error, the hook nothing.
    let joined = Builder::new()
        .name("hooked-joined")
        .spawn(|| panic!("joined"))
        .unwrap();
    assert!(joined.join().is_err());

    wait_until(|| seen.lock().unwrap().len() >= 2);
    pause();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("hooked-early".to_owned(), "early".to_owned()),
            ("hooked-late".to_owned(), "late".to_owned())
        ]
    );
    conc_thread::reset_excepthook();
}

// ThreadTests.test_daemon_param / daemon inheritance
#[test]
fn daemon_flag_is_inherited() {
    let h = Builder::new()
        .daemon(true)
        .spawn(|| conc_thread::spawn(|| conc_thread::current_thread().is_daemon()).join())
        .unwrap();
    assert_eq!(h.join().unwrap(), Ok(true));
    let h = Builder::new()
        .daemon(false)
        .spawn(|| conc_thread::current_thread().is_daemon())
        .unwrap();
    assert!(!h.join().unwrap());
}

// ThreadJoinOnShutdown.test_1_join_on_shutdown: non-daemon threads are waited for,
// daemon threads are not.
#[test]
fn join_non_daemon_threads_waits_for_non_daemons_only() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let worker = Builder::new()
        .daemon(false)
        .spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    drop(worker);
    let forever = Arc::new(Event::new());
    let f = forever.clone();
    let daemon = Builder::new().daemon(true).spawn(move || f.wait()).unwrap();
    // Run the wait on a helper so a bug shows as a failed test, not a hung one.
    let mut waiter = conc_thread::Builder::new()
        .daemon(true)
        .spawn(conc_thread::join_non_daemon_threads)
        .unwrap();
    assert_eq!(waiter.join_timeout(PATIENCE), Ok(()));
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert!(daemon.is_alive());
    forever.set();
    daemon.join().unwrap();
}

// ThreadTests.test_stack_size-like: a configured stack size is honoured well enough to
// run, and a too-small one is still accepted (the OS rounds it up).
#[test]
fn stack_size() {
    let h = Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let big = [1u8; 512 * 1024];
            big.iter().map(|b| *b as u32).sum::<u32>()
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), 512 * 1024);
}

// Default names follow Python's `Thread-N`.
#[test]
fn default_names() {
    let h = conc_thread::spawn(|| std::thread::current().name().map(str::to_owned));
    let name = h.name().to_owned();
    assert!(name.starts_with("Thread-"), "{name}");
    assert_eq!(h.join().unwrap().as_deref(), Some(name.as_str()));
}

// ---------------------------------------------------------------- TimerTests

// TimerTests.test_init_immutable_default_args / basic firing
#[test]
fn timer_fires_after_interval() {
    let fired = Arc::new(Mutex::new(None));
    let f = fired.clone();
    let start = Instant::now();
    let mut t = Timer::new(Duration::from_millis(30), move || {
        *f.lock().unwrap() = Some(Instant::now());
    });
    t.start().unwrap();
    assert_eq!(t.join(), Ok(true));
    let at = fired.lock().unwrap().expect("fired");
    assert!(at.duration_since(start) >= Duration::from_millis(30));
}

// TimerTests: cancel before firing prevents the call.
#[test]
fn timer_cancel() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mut t = Timer::new(Duration::from_secs(3600), move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    t.start().unwrap();
    assert!(t.is_alive());
    t.cancel();
    assert_eq!(t.join(), Ok(false));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn timer_errors() {
    let mut t = Timer::new(Duration::ZERO, || ());
    assert!(matches!(t.join(), Err(ThreadError::InvalidState(_))));
    t.cancel(); // cancelled before start: never fires
    t.start().unwrap();
    assert!(matches!(t.start(), Err(ThreadError::InvalidState(_))));
    assert_eq!(t.join(), Ok(false));
    let mut p = Timer::new(Duration::ZERO, || panic!("timer body"));
    p.start().unwrap();
    assert!(
        matches!(p.join(), Err(ThreadError::Panicked { message, .. }) if message == "timer body")
    );
}

#[test]
fn timer_join_timeout() {
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let mut t = Timer::new(Duration::ZERO, move || {
        release_rx.lock().unwrap().recv().unwrap();
    });
    assert!(
        matches!(
            t.join_timeout(Duration::ZERO),
            Err(ThreadError::InvalidState(_))
        ),
        "join_timeout before start"
    );
    t.start().unwrap();
    // The function is blocked, so the join times out, and can be retried.
    let start = Instant::now();
    assert!(matches!(
        t.join_timeout(Duration::from_millis(50)),
        Err(ThreadError::Timeout { after, .. }) if after == Duration::from_millis(50)
    ));
    assert!(start.elapsed() >= Duration::from_millis(50));
    release_tx.send(()).unwrap();
    assert_eq!(t.join_timeout(PATIENCE), Ok(true));
}

// ---------------------------------------------------------------- local

// _test_threading_local.BaseLocalTest.test_local_refs / test_derived: each thread sees
// its own value, initialised afresh.
#[test]
fn local_values_are_per_thread() {
    let local = Arc::new(Local::new(|| 0_u64));
    local.set(100);
    let handles: Vec<_> = (1..=4)
        .map(|i| {
            let local = local.clone();
            conc_thread::spawn(move || {
                assert_eq!(local.get(), 0, "a new thread starts from the initializer");
                for _ in 0..i {
                    local.with(|v| *v += 1);
                }
                local.get()
            })
        })
        .collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, [1, 2, 3, 4]);
    assert_eq!(local.get(), 100);
}

// BaseLocalTest.test_local_refs: values are dropped when their thread exits.
#[test]
fn local_values_drop_at_thread_exit() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let local = Arc::new(Local::new(move || Counted(d.clone())));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let local = local.clone();
            conc_thread::spawn(move || local.with(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    wait_until(|| drops.load(Ordering::SeqCst) == 3);
}

// Two Locals in one thread are independent, and one may be used inside the other.
#[test]
fn locals_nest() {
    let a = Local::new(|| 1);
    let b = Local::new(|| 2);
    let sum = a.with(|x| b.with(|y| *x + *y));
    assert_eq!(sum, 3);
}

// threading.get_ident(): stable within a thread, distinct between live threads, and
// the same as `current_thread().ident()`.
#[test]
fn get_ident_is_per_thread_and_matches_current_thread() {
    let me = conc_thread::get_ident();
    assert_eq!(me, conc_thread::get_ident());
    assert_eq!(me, conc_thread::current_thread().ident());
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let barrier = barrier.clone();
            conc_thread::spawn(move || {
                let id = conc_thread::get_ident();
                assert_eq!(id, conc_thread::current_thread().ident());
                barrier.wait(); // all four alive at once
                id
            })
        })
        .collect();
    let mut idents: HashSet<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(idents.len(), 4, "live threads share an ident");
    idents.insert(me);
    assert_eq!(idents.len(), 5);
}
