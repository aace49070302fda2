//! The hub and greenlets on it: gevent's `test__greenlet.py`, `test__joinall.py`,
//! `test__timeout.py`, `test__event.py` where they apply.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conc_coro::{
    AsyncResult, Event, HubError, HubHandle, Timeout, Waitable, iwait, joinall, killall, sleep,
    spawn, spawn_later, wait, wait_future, with_timeout,
};

/// Generous: a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn spawned_greenlets_interleave_at_sleeps() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            spawn(move || {
                for i in 0..3 {
                    log.borrow_mut().push(format!("{name}{i}"));
                    sleep(Duration::ZERO).unwrap();
                }
                name.len()
            })
        })
        .collect();
    joinall(&tasks, Some(PATIENCE)).unwrap();
    assert_eq!(*log.borrow(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
    assert!(tasks.iter().all(|t| t.successful() && t.dead()));
    assert_eq!(tasks[0].get(None), Ok(1));
}

#[test]
fn sleeps_end_in_deadline_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let started = Instant::now();
    let tasks: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            let order = order.clone();
            spawn(move || {
                sleep(Duration::from_millis(ms)).unwrap();
                order.borrow_mut().push(ms);
            })
        })
        .collect();
    joinall(&tasks, Some(PATIENCE)).unwrap();
    assert_eq!(*order.borrow(), [10, 20, 30]);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

/// gevent's `LoopExit`: the main greenlet waits on what nothing can complete.
#[test]
fn waiting_on_nothing_is_loop_exit_not_a_hang() {
    let never = Event::new();
    let err = never.wait(None).unwrap_err();
    assert_eq!(
        err,
        HubError::LoopExit {
            waiting_on: "an Event"
        }
    );
    assert!(err.to_string().contains("LoopExit"), "{err}");
    // A greenlet stuck on the same event does not change that.
    let stuck = {
        let never = never.clone();
        spawn(move || never.wait(None))
    };
    assert!(matches!(stuck.join(None), Err(HubError::LoopExit { .. })));
    never.set();
    assert_eq!(stuck.get(Some(PATIENCE)), Ok(Ok(())));
}

#[test]
fn panics_come_back_and_the_hub_carries_on() {
    let bad = spawn(|| -> u8 { panic!("greenlet refuses") });
    let good = spawn(|| 7u8);
    assert_eq!(
        bad.get(Some(PATIENCE)),
        Err(HubError::Panicked {
            message: "greenlet refuses".into()
        })
    );
    assert!(!bad.successful() && bad.ready());
    assert_eq!(good.get(Some(PATIENCE)), Ok(7));
    assert!(matches!(bad.exception(), Some(HubError::Panicked { .. })));
}

struct Flag(Rc<RefCell<bool>>);
impl Drop for Flag {
    fn drop(&mut self) {
        *self.0.borrow_mut() = true;
    }
}

/// `test__greenlet.py`: kill runs the destructors of a waiting greenlet; an unstarted
/// one never runs.
#[test]
fn kill_unwinds_a_waiting_greenlet_and_stops_an_unstarted_one() {
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    let waiting = spawn(move || {
        let _flag = Flag(d);
        sleep(Duration::from_secs(3600)).unwrap();
    });
    sleep(Duration::ZERO).unwrap();
    waiting.kill(true, Some(PATIENCE)).unwrap();
    assert!(*dropped.borrow());
    assert_eq!(waiting.get(None), Err(HubError::Killed));

    let ran = Rc::new(RefCell::new(false));
    let r = ran.clone();
    let unstarted = spawn(move || *r.borrow_mut() = true);
    unstarted.kill(true, None).unwrap();
    sleep(Duration::from_millis(1)).unwrap();
    assert!(!*ran.borrow() && unstarted.dead());
    assert_eq!(unstarted.get(None), Err(HubError::Killed));

    let many: Vec<_> = (0..5)
        .map(|_| spawn(|| sleep(Duration::from_secs(3600))))
        .collect();
    sleep(Duration::ZERO).unwrap();
    killall(&many, true, Some(PATIENCE)).unwrap();
    assert!(many.iter().all(|t| t.dead()));
}

/// `test__timeout.py`: a guard interrupts whatever its greenlet waits on, once.
#[test]
fn timeouts_interrupt_waits() {
    let started = Instant::now();
    let guard = Timeout::start(Duration::from_millis(20)).unwrap();
    let err = sleep(Duration::from_secs(3600)).unwrap_err();
    assert!(guard.is(&err), "{err:?}");
    assert!(started.elapsed() < PATIENCE);
    drop(guard);
    // Disarmed: a later wait is not interrupted.
    sleep(Duration::from_millis(30)).unwrap();

    let nested = with_timeout(Duration::from_secs(3600), || {
        with_timeout(Duration::from_millis(10), || Event::new().wait(None))
    });
    assert!(matches!(
        nested,
        Err(HubError::Timeout {
            waiting_on: "an Event",
            ..
        })
    ));

    // A direct timeout argument.
    let slow = spawn(|| sleep(Duration::from_secs(3600)));
    assert!(matches!(
        slow.join(Some(Duration::from_millis(10))),
        Err(HubError::Timeout { guard: None, .. })
    ));
    slow.kill(true, None).unwrap();
}

#[test]
fn events_and_async_results_wake_every_waiter() {
    let event = Event::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let event = event.clone();
            spawn(move || event.wait(Some(PATIENCE)).map(|()| i))
        })
        .collect();
    sleep(Duration::ZERO).unwrap();
    assert!(waiters.iter().all(|w| !w.ready()));
    event.set();
    for (i, w) in waiters.iter().enumerate() {
        assert_eq!(w.get(Some(PATIENCE)), Ok(Ok(i)));
    }
    let result = AsyncResult::<String>::new();
    let r = result.clone();
    let _producer = spawn_later(Duration::from_millis(5), move || r.set_error("no luck"));
    assert_eq!(
        result.get(Some(PATIENCE)),
        Err(HubError::Panicked {
            message: "no luck".into()
        })
    );
}

#[test]
fn wait_and_iwait_report_in_completion_order() {
    let slow = spawn(|| sleep(Duration::from_millis(40)));
    let fast = spawn(|| sleep(Duration::from_millis(5)));
    let event = Event::new();
    let objects: [&dyn Waitable; 3] = [&slow, &fast, &event];
    assert_eq!(wait(&objects, Some(PATIENCE), Some(1)), Ok(vec![1]));
    event.set();
    let order: Vec<usize> = iwait(&objects, Some(PATIENCE))
        .map(Result::unwrap)
        .collect();
    assert_eq!(order, [1, 2, 0]);
}

#[test]
fn links_run_in_their_own_greenlets() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let ok = spawn(|| 1);
    let bad = spawn(|| -> i32 { panic!("x") });
    for (task, tag) in [(&ok, "ok"), (&bad, "bad")] {
        let s = seen.clone();
        task.link_value(move |t| s.borrow_mut().push(format!("{tag} value {:?}", t.value())));
        let s = seen.clone();
        task.link_exception(move |_| s.borrow_mut().push(format!("{tag} failed")));
    }
    let s = seen.clone();
    let removed = ok.link(move |_| s.borrow_mut().push("never".into()));
    assert!(ok.unlink(removed));
    joinall([&ok, &bad], Some(PATIENCE)).unwrap();
    sleep(Duration::from_millis(1)).unwrap();
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(seen, ["bad failed", "ok value Some(1)"]);
}

#[test]
fn futures_park_the_greenlet_not_the_thread() {
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let counter = Rc::new(RefCell::new(0));
    let c = counter.clone();
    let ticker = spawn(move || {
        for _ in 0..5 {
            *c.borrow_mut() += 1;
            sleep(Duration::from_millis(2)).unwrap();
        }
    });
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send(9).unwrap();
    });
    let rx = RefCell::new(rx);
    let waker_slot: std::sync::Arc<std::sync::Mutex<Option<std::task::Waker>>> = Default::default();
    let slot = waker_slot.clone();
    let poller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(80));
        if let Some(w) = slot.lock().unwrap().take() {
            w.wake();
        }
    });
    let value = wait_future(std::future::poll_fn(|cx| match rx.borrow().try_recv() {
        Ok(v) => std::task::Poll::Ready(v),
        Err(_) => {
            *waker_slot.lock().unwrap() = Some(cx.waker().clone());
            std::task::Poll::Pending
        }
    }))
    .unwrap();
    assert_eq!(value, 9);
    ticker.join(Some(PATIENCE)).unwrap();
    assert_eq!(*counter.borrow(), 5, "the ticker ran while main waited");
    thread.join().unwrap();
    poller.join().unwrap();
}

#[test]
fn other_threads_spawn_through_a_handle() {
    let handle = HubHandle::current().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        for i in 0..3 {
            let tx = tx.clone();
            handle.spawn(move || tx.send(i).unwrap()).unwrap();
        }
    });
    let mut got = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while got.len() < 3 && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).unwrap();
        got.extend(rx.try_iter());
    }
    sender.join().unwrap();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    // The handle is gone with its thread: waiting on nothing is LoopExit again.
    assert!(matches!(
        Event::new().wait(None),
        Err(HubError::LoopExit { .. })
    ));
}

#[test]
fn a_hub_per_thread() {
    let threads: Vec<_> = (0..2)
        .map(|n| {
            std::thread::spawn(move || {
                let tasks: Vec<_> = (0..100u64)
                    .map(|i| {
                        spawn(move || {
                            sleep(Duration::from_millis(1)).unwrap();
                            i * n
                        })
                    })
                    .collect();
                joinall(&tasks, Some(PATIENCE)).unwrap();
                tasks.iter().map(|t| t.get(None).unwrap()).sum::<u64>()
            })
        })
        .collect();
    let sums: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, [0, 4950]);
}

/// What gevent users trip over: a child forked while a hub exists gets a hub of its
/// own on first use (never the parent's epoll instance), and the parent's hub is
/// unharmed by what the child does.
#[test]
fn a_forked_child_gets_a_fresh_hub() {
    use std::io::{Read, Write};
    // Run with SIGCHLD ignored, the kernel would reap the child before waitpid.
    common::keep_child_statuses();
    let listener = conc_coro::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let parked = spawn(|| sleep(Duration::from_secs(3600)));
    sleep(Duration::ZERO).unwrap();
    // SAFETY: the child only uses async-signal-safe calls until it has its own hub,
    // and then this thread's greenlets; it leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Green work in the child: a timer, a greenlet, a socket to the listener
            // the parent also holds (its registration is redone here).
            let t = spawn(|| 2 + 2);
            sleep(Duration::from_millis(5)).unwrap();
            assert_eq!(t.get(Some(PATIENCE)), Ok(4));
            let accept = spawn(move || {
                listener.accept().map(|(mut s, _)| {
                    let mut b = [0; 2];
                    s.read_exact(&mut b).unwrap();
                    b
                })
            });
            let mut c = conc_coro::TcpStream::connect(addr).unwrap();
            c.write_all(b"ok").unwrap();
            assert_eq!(accept.take(Some(PATIENCE)).unwrap().unwrap(), *b"ok");
            // The parent's greenlet is not run here.
            assert!(!parked.ready());
        }))
        .map_or(1, |()| 0);
        // SAFETY: leaving the child at once, without running the parent's handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
    // The parent's hub still works: timers, greenlets, the same listener.
    let t = spawn(|| sleep(Duration::from_millis(2)).map(|()| 1));
    assert_eq!(t.get(Some(PATIENCE)), Ok(Ok(1)));
    parked.kill(true, None).unwrap();
}

/// A soak: spawns, kills and timeouts mixed; every greenlet is accounted for.
#[test]
fn soak_spawn_kill_timeout_mix() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut tasks = Vec::new();
    for i in 0..2000u64 {
        let sleep_ms = rand(20);
        let guard_ms = rand(40);
        tasks.push(spawn(move || -> Result<u64, HubError> {
            let _guard = Timeout::start(Duration::from_millis(guard_ms))?;
            sleep(Duration::from_millis(sleep_ms))?;
            if i % 97 == 0 {
                panic!("task {i} panics");
            }
            Ok(i)
        }));
        if rand(10) == 0 {
            sleep(Duration::ZERO).unwrap();
        }
    }
    for (i, t) in tasks.iter().enumerate() {
        if i % 7 == 0 {
            t.kill(false, None).unwrap();
        }
    }
    joinall(&tasks, Some(Duration::from_secs(60))).unwrap();
    let (mut values, mut timeouts, mut killed, mut panicked) = (0, 0, 0, 0);
    for (i, t) in tasks.iter().enumerate() {
        match t.get(None) {
            Ok(Ok(v)) => {
                assert_eq!(v, i as u64);
                values += 1;
            }
            Ok(Err(HubError::Timeout { .. })) => timeouts += 1,
            Err(HubError::Killed) => killed += 1,
            Err(HubError::Panicked { message }) => {
                assert_eq!(message, format!("task {i} panics"));
                panicked += 1;
            }
            other => panic!("task {i}: {other:?}"),
        }
    }
    assert_eq!(values + timeouts + killed + panicked, 2000);
    assert!(values > 0 && timeouts > 0 && killed > 0 && panicked > 0);
    // Nothing is left behind: waiting on nothing is LoopExit at once.
    assert!(matches!(
        Event::new().wait(None),
        Err(HubError::LoopExit { .. })
    ));
}

#[test]
fn signals_are_green_events() {
    let watcher = conc_coro::SignalWatcher::new(&[libc::SIGUSR1]).unwrap();
    assert!(matches!(
        watcher.wait(Some(Duration::from_millis(5))),
        Err(HubError::Timeout {
            waiting_on: "a signal",
            ..
        })
    ));
    let waiter = spawn(move || watcher.wait(Some(PATIENCE)));
    sleep(Duration::ZERO).unwrap();
    // SAFETY: signalling this process; the watcher handles SIGUSR1.
    unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    assert_eq!(waiter.get(Some(PATIENCE)), Ok(Ok(libc::SIGUSR1)));
}

/// Stacks freed by a burst stay warm while the hub is busy and are given back to the
/// kernel, beyond a reserve, once it idles.
#[test]
fn surplus_stacks_are_trimmed_when_the_hub_idles() {
    const BURST: usize = 3000;
    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            spawn(move || {
                // 32 KiB of this greenlet's stack, touched.
                let mut buf = std::hint::black_box([0u8; 32 * 1024]);
                buf[i % buf.len()] = 1;
                sleep(Duration::from_millis(1)).unwrap();
                std::hint::black_box(&buf);
            })
        })
        .collect();
    joinall(&tasks, Some(PATIENCE)).unwrap();
    drop(tasks);
    let warm = common::rss_kib();
    // The hub sleeps here, and trims first.
    sleep(Duration::from_millis(20)).unwrap();
    let trimmed = common::rss_kib();
    let expected = ((BURST - 1024) * 32) as u64;
    assert!(
        warm.saturating_sub(trimmed) > expected / 2,
        "RSS {warm} KiB -> {trimmed} KiB; expected about {expected} KiB given back"
    );
}

/// CPU time of the calling thread so far (the hub runs on it; other tests' threads do
/// not count).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// No busy loop: a hub whose greenlets all wait sleeps in `epoll_wait`.
#[test]
fn a_waiting_hub_burns_no_cpu() {
    let sleepers: Vec<_> = (0..100)
        .map(|_| spawn(|| sleep(Duration::from_millis(300))))
        .collect();
    let listener = conc_coro::TcpListener::bind("127.0.0.1:0").unwrap();
    let acceptor = spawn(move || {
        listener
            .accept_timeout(Some(Duration::from_millis(300)))
            .map(|_| ())
    });
    sleep(Duration::from_millis(20)).unwrap();
    let (cpu, wall) = (cpu_time(), Instant::now());
    joinall(&sleepers, Some(PATIENCE)).unwrap();
    let _ = acceptor.join(Some(PATIENCE));
    let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
    assert!(wall >= Duration::from_millis(200), "{wall:?}");
    // A spinning loop would use the whole wall time; the bound is generous for a
    // loaded machine.
    assert!(cpu < wall / 4, "{cpu:?} of CPU in {wall:?}");
}

/// A thread whose greenlets still wait when it ends: they are killed with it (their
/// destructors run), nothing hangs, and handles to its hub fail afterwards.
#[test]
fn a_thread_may_end_with_greenlets_waiting() {
    let (tx, rx) = std::sync::mpsc::channel();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let d = dropped.clone();
    std::thread::spawn(move || {
        let event = Event::new();
        for _ in 0..3 {
            let (event, d) = (event.clone(), d.clone());
            drop(spawn(move || {
                let _count = Count(d);
                event.wait(None)
            }));
        }
        let (a, _b) = conc_coro::UnixStream::pair().unwrap();
        let d2 = d.clone();
        drop(spawn(move || {
            let _count = Count(d2);
            let mut buf = [0; 1];
            std::io::Read::read(&mut &a, &mut buf)
        }));
        sleep(Duration::from_millis(5)).unwrap();
        tx.send(HubHandle::current().unwrap()).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 4);
    let handle = rx.recv().unwrap();
    assert_eq!(handle.spawn(|| ()), Err(HubError::HubGone));
}

#[test]
fn a_task_cannot_join_itself_and_huge_sleeps_are_timers() {
    type SelfJoin = conc_coro::Task<Result<(), HubError>>;
    let me: Rc<RefCell<Option<SelfJoin>>> = Rc::default();
    let slot = me.clone();
    let task = spawn(move || {
        let own = slot.borrow().clone().expect("set before it runs");
        own.join(None)
    });
    *me.borrow_mut() = Some(task.clone());
    assert_eq!(task.get(Some(PATIENCE)), Ok(Err(HubError::WaitOnSelf)));
    me.borrow_mut().take();
    // A sleep past `Instant`'s range is still a timer: a greenlet sleeping "forever"
    // keeps the main greenlet's wait on it from being a LoopExit.
    let forever = spawn(|| sleep(Duration::MAX));
    assert!(matches!(
        forever.join(Some(Duration::from_millis(10))),
        Err(HubError::Timeout { .. })
    ));
    forever.kill(true, None).unwrap();
}

/// A green call from a thread-local destructor that runs after the hub is gone is an
/// error, not an abort of the whole process.
#[test]
fn green_calls_from_late_destructors_fail_cleanly() {
    struct Late;
    impl Drop for Late {
        fn drop(&mut self) {
            // Whatever the order of teardown, this must return.
            let _ = sleep(Duration::from_millis(1));
            let _ = conc_coro::Event::new().wait(Some(Duration::from_millis(1)));
        }
    }
    thread_local! {
        static LATE: Late = const { Late };
    }
    std::thread::spawn(|| {
        // Registered before the hub: torn down after it.
        LATE.with(|_| ());
        sleep(Duration::from_millis(1)).unwrap();
    })
    .join()
    .expect("no abort, no panic");
    std::thread::spawn(|| {
        sleep(Duration::from_millis(1)).unwrap();
        // Registered after the hub: torn down before it.
        LATE.with(|_| ());
    })
    .join()
    .expect("no abort, no panic");
}
