//! `Process` under every start method: ports of CPython's `_TestProcess` and
//! `TestStartMethod` (Lib/test/_test_multiprocessing.py), plus fault tests — a child
//! that panics, exits, is killed mid-message, and a parent that dies.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, eventually, pid_alive};
use conc_process::{
    Connection, Process, ProcessError, StartMethod, active_children, current_process, get_context,
    parent_process, pipe,
};

conc_process::test_support!();

/// What a child reports about itself (`_TestProcess._test`).
fn who_am_i(tag: String) -> (String, u32, Option<u32>, Option<String>, String) {
    let me = current_process();
    let parent = parent_process();
    (
        me.name().to_owned(),
        me.pid(),
        parent.as_ref().map(|p| p.pid()),
        parent.map(|p| p.name().to_owned()),
        tag,
    )
}

fn sleep_secs(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn panics(message: String) {
    panic!("{message}");
}

each_method! {
    // _TestProcess.test_process: name, pid, parent, exitcode, is_alive.
    fn test_process(method: StartMethod) {
        let p = get_context(method).process(who_am_i, "tag".to_string()).name("child-a");
        assert!(!p.is_alive());
        assert_eq!(p.exitcode(), None);
        assert_eq!(p.pid(), None);
        p.start().unwrap();
        let pid = p.pid().unwrap();
        assert_ne!(pid, std::process::id());
        let (name, child_pid, parent_pid, parent_name, tag) = p.result().unwrap();
        assert_eq!(name, "child-a");
        assert_eq!(child_pid, pid);
        assert_eq!(parent_pid, Some(std::process::id()));
        assert_eq!(parent_name.as_deref(), Some("MainProcess"));
        assert_eq!(tag, "tag");
        assert_eq!(p.exitcode(), Some(0));
        assert!(!p.is_alive());
        // Joining again is harmless and gives the same answer.
        p.join().unwrap();
        assert_eq!(
            p.result(),
            Err(ProcessError::InvalidState("the result was already taken"))
        );
    }
}

each_method! {
    // _TestProcess.test_terminate / test_kill: exit codes are minus the signal.
    fn test_terminate_and_kill(method: StartMethod) {
        for (signal, stop) in [
            (libc::SIGTERM, Process::terminate as fn(&Process<()>) -> Result<(), ProcessError>),
            (libc::SIGKILL, Process::kill),
        ] {
            let p = get_context(method).process(sleep_secs, 60);
            p.start().unwrap();
            assert!(p.is_alive());
            assert!(matches!(p.join_timeout(Duration::from_millis(10)), Err(ProcessError::Timeout { .. })));
            assert!(p.is_alive());
            stop(&p).unwrap();
            let err = p.join().unwrap_err();
            assert_eq!(
                err,
                ProcessError::Died { name: p.get_name().to_owned(), exitcode: -signal }
            );
            assert_eq!(p.exitcode(), Some(-signal));
            assert!(!p.is_alive());
            // Signalling an ended process is a no-op, as in Python.
            stop(&p).unwrap();
        }
    }
}

each_method! {
    // _TestProcess.test_exitcode-like: exit(n) in the child.
    fn test_exit_codes(method: StartMethod) {
        for code in [0, 1, 3, 127] {
            let p = get_context(method).process(exit_with, code);
            p.start().unwrap();
            let joined = p.join();
            assert_eq!(p.exitcode(), Some(code));
            if code == 0 {
                joined.unwrap();
                // No value came back, so there is no result to take.
                assert!(matches!(p.result(), Err(ProcessError::Died { exitcode: 0, .. })));
            } else {
                assert_eq!(
                    joined,
                    Err(ProcessError::Died { name: p.get_name().to_owned(), exitcode: code })
                );
            }
        }
    }
}

each_method! {
    // A panic in the child comes back with its message; exit code 1 like Python.
    fn test_panic_message(method: StartMethod) {
        let p = get_context(method).process(panics, "the sky fell".to_string()).name("faller");
        p.start().unwrap();
        assert_eq!(
            p.join(),
            Err(ProcessError::Panicked { name: "faller".into(), message: "the sky fell".into() })
        );
        assert_eq!(p.exitcode(), Some(1));
        assert!(p.join().unwrap_err().to_string().contains("the sky fell"));
    }
}

each_method! {
    // _TestProcess.test_many_processes: start many, join them all.
    fn test_many_processes(method: StartMethod) {
        let procs: Vec<_> = (0..20u64)
            .map(|i| {
                let p = get_context(method).process(|x: u64| x * x, i);
                p.start().unwrap();
                p
            })
            .collect();
        for (i, p) in procs.iter().enumerate() {
            assert_eq!(p.result().unwrap(), (i * i) as u64);
        }
        // And many killed at once.
        let procs: Vec<_> = (0..10)
            .map(|_| {
                let p = get_context(method).process(sleep_secs, 60);
                p.start().unwrap();
                p
            })
            .collect();
        for p in &procs {
            p.kill().unwrap();
        }
        for p in &procs {
            let _ = p.join();
            assert_eq!(p.exitcode(), Some(-libc::SIGKILL));
        }
    }
}

each_method! {
    // _TestProcess.test_active_children
    fn test_active_children(method: StartMethod) {
        let p = get_context(method).process(sleep_secs, 60);
        assert!(!active_children().iter().any(|c| Some(c.pid()) == p.pid()));
        p.start().unwrap();
        let pid = p.pid().unwrap();
        let child = active_children().into_iter().find(|c| c.pid() == pid).unwrap();
        assert_eq!(child.name(), p.get_name());
        assert!(child.is_alive());
        child.terminate().unwrap();
        assert_eq!(child.wait(Some(PATIENCE)), Some(-libc::SIGTERM));
        assert!(!active_children().iter().any(|c| c.pid() == pid));
    }
}

/// Starts a grandchild with the same method and reports both names
/// (`_TestProcess.test_recursion`).
fn start_grandchild(method: StartMethod) -> (String, String, Option<u32>) {
    let p = get_context(method).process(who_am_i, String::new());
    p.start().unwrap();
    let (grandchild, _, parent_pid, _, _) = p.result().unwrap();
    (current_process().name().to_owned(), grandchild, parent_pid)
}

each_method! {
    fn test_recursion(method: StartMethod) {
        let p = get_context(method).process(start_grandchild, method);
        p.start().unwrap();
        let (child, grandchild, grandchild_parent) = p.result().unwrap();
        assert!(child.starts_with("Process-"), "{child}");
        assert!(grandchild.starts_with(&format!("{child}:")), "{child} / {grandchild}");
        assert_eq!(grandchild_parent, p.pid());
    }
}

each_method! {
    // Python: "daemonic processes are not allowed to have children".
    fn test_daemon_cannot_have_children(method: StartMethod) {
        fn try_child(_: ()) -> String {
            let p = Process::new(|x: u8| x, 1).start_method(StartMethod::Fork);
            p.start().unwrap_err().to_string()
        }
        let p = get_context(method).process(try_child, ()).daemon(true);
        assert!(p.is_daemon());
        p.start().unwrap();
        assert!(p.result().unwrap().contains("daemonic processes are not allowed"));
    }
}

/// Starts a daemon and a non-daemon grandchild, reports the daemon's pid, and returns
/// at once: the child's exit routine must terminate the daemon and wait for the other.
fn leave_children(report: Connection<u32>) {
    let daemon = Process::new(sleep_secs, 60)
        .daemon(true)
        .start_method(StartMethod::Fork);
    daemon.start().unwrap();
    report.send(daemon.pid().unwrap()).unwrap();
    let worker = Process::new(
        |c: Connection<u32>| {
            std::thread::sleep(Duration::from_millis(300));
            c.send(42).unwrap();
        },
        report,
    )
    .start_method(StartMethod::Fork);
    worker.start().unwrap();
}

each_method! {
    // Python's _exit_function: daemonic children terminated, the others joined.
    fn test_exit_terminates_daemons_and_joins_others(method: StartMethod) {
        let (rx, tx) = pipe::<u32>(false).unwrap();
        let p = get_context(method).process(leave_children, tx);
        p.start().unwrap();
        p.join().unwrap();
        let daemon = rx.recv_timeout(PATIENCE).unwrap();
        // The non-daemon grandchild was waited for: its message is already there.
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 42);
        assert_eq!(rx.recv_timeout(PATIENCE), Err(ProcessError::Eof));
        assert!(eventually(PATIENCE, || !pid_alive(daemon)), "daemon {daemon} survived");
    }
}

each_method! {
    // A child killed while streaming into a pipe: the reader gets its messages, then
    // end of file, or the message the kill cut short (Python: "got end of file during
    // message"), after which the connection is closed; nothing hangs.
    fn test_kill_mid_message(method: StartMethod) {
        fn stream(c: Connection<Vec<u8>>) {
            loop {
                if c.send(vec![7u8; 64 * 1024]).is_err() {
                    return;
                }
            }
        }
        let (rx, tx) = pipe::<Vec<u8>>(false).unwrap();
        let p = get_context(method).process(stream, tx);
        p.start().unwrap();
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap().len(), 64 * 1024);
        p.kill().unwrap();
        let _ = p.join();
        assert_eq!(p.exitcode(), Some(-libc::SIGKILL));
        let deadline = Instant::now() + PATIENCE;
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(chunk) => assert!(chunk.iter().all(|&b| b == 7)),
                Err(ProcessError::Eof) => break,
                Err(ProcessError::BadMessage(why)) => {
                    assert!(why.contains("closed in the middle"), "{why}");
                    assert!(matches!(rx.recv_timeout(PATIENCE), Err(ProcessError::Closed(_))));
                    break;
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
            assert!(Instant::now() < deadline, "the pipe never reported end of file");
        }
    }
}

/// Starts a grandchild that sleeps, reports its pid, then sleeps itself.
fn parent_with_sleeping_child((method, report): (StartMethod, Connection<u32>)) {
    let grandchild = get_context(method).process(sleep_secs, 120);
    grandchild.start().unwrap();
    report.send(grandchild.pid().unwrap()).unwrap();
    sleep_secs(120);
}

each_method! {
    // No orphans: when a parent is SIGKILLed, its children die too.
    fn test_parent_death_kills_children(method: StartMethod) {
        let (rx, tx) = pipe::<u32>(false).unwrap();
        let parent = get_context(method).process(parent_with_sleeping_child, (method, tx));
        parent.start().unwrap();
        let grandchild = rx.recv_timeout(PATIENCE).unwrap();
        assert!(pid_alive(grandchild));
        parent.kill().unwrap();
        let _ = parent.join();
        assert!(eventually(PATIENCE, || !pid_alive(grandchild)), "grandchild {grandchild} survived");
    }
}

each_method! {
    // Arguments and results carry connections both ways.
    fn test_connection_round_trip(method: StartMethod) {
        fn echo(c: Connection<String>) -> Connection<String> {
            let s = c.recv().unwrap();
            c.send(s.to_uppercase()).unwrap();
            c
        }
        let (mine, theirs) = pipe::<String>(true).unwrap();
        let p = get_context(method).process(echo, theirs);
        p.start().unwrap();
        mine.send("hello".into()).unwrap();
        assert_eq!(mine.recv_timeout(PATIENCE).unwrap(), "HELLO");
        let back = p.result().unwrap();
        back.send("again".into()).unwrap();
        assert_eq!(mine.recv().unwrap(), "again");
    }
}

each_method! {
    // Large argument and result (several MiB): neither side may deadlock.
    fn test_large_payloads(method: StartMethod) {
        let p = get_context(method).process(|v: Vec<u64>| v.into_iter().map(|x| x + 1).collect::<Vec<_>>(), (0..1_000_000).collect());
        p.start().unwrap();
        let out = p.result().unwrap();
        assert_eq!(out.len(), 1_000_000);
        assert_eq!(out[999_999], 1_000_000);
    }
}

#[test]
fn closures_need_fork() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let p = get_context(method).closure(|| 1);
        assert!(matches!(p.start(), Err(ProcessError::InvalidArgument(_))));
    }
    let offset = 5;
    let p = get_context(StartMethod::Fork).closure(move || offset + 1);
    p.start().unwrap();
    assert_eq!(p.result().unwrap(), 6);
}

#[test]
fn start_twice_and_join_unstarted() {
    let p = Process::new(|x: u8| x, 1).start_method(StartMethod::Fork);
    assert_eq!(
        p.join(),
        Err(ProcessError::InvalidState(
            "can only join a started process"
        ))
    );
    assert!(matches!(p.terminate(), Err(ProcessError::InvalidState(_))));
    p.start().unwrap();
    assert_eq!(
        p.start(),
        Err(ProcessError::InvalidState("cannot start a process twice"))
    );
    assert_eq!(p.result().unwrap(), 1);
}

#[test]
fn default_names_count_up() {
    let a = Process::new(|x: u8| x, 1);
    let b = Process::new(|x: u8| x, 1);
    let n = |p: &Process<u8>| p.get_name()["Process-".len()..].parse::<u32>().unwrap();
    // Other tests create processes concurrently, so only the order is certain.
    assert!(n(&b) > n(&a));
}

#[test]
fn current_process_in_main() {
    let me = current_process();
    assert_eq!(me.name(), "MainProcess");
    assert_eq!(me.pid(), std::process::id());
    assert!(me.is_alive());
    assert!(parent_process().is_none());
    assert!(conc_process::cpu_count() >= 1);
}

fn wait_for_event(ev: conc_process::Event) {
    assert!(ev.wait_timeout(PATIENCE), "the test never set the event");
}

#[test]
fn concurrent_joins_and_timeouts() {
    let ev = conc_process::Event::new();
    let p = std::sync::Arc::new(
        get_context(StartMethod::Forkserver).process(wait_for_event, ev.clone()),
    );
    p.start().unwrap();
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let joiners: Vec<_> = (0..4)
        .map(|_| {
            let (p, timed_out) = (p.clone(), timed_out.clone());
            std::thread::spawn(move || {
                let mut timeouts = 0;
                while matches!(
                    p.join_timeout(Duration::from_millis(20)),
                    Err(ProcessError::Timeout { .. })
                ) {
                    if timeouts == 0 {
                        timed_out.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    timeouts += 1;
                }
                (timeouts, p.exitcode())
            })
        })
        .collect();
    // The child exits only once every joiner has seen a timeout.
    assert!(eventually(PATIENCE, || timed_out
        .load(std::sync::atomic::Ordering::SeqCst)
        == 4));
    ev.set();
    for j in joiners {
        let (timeouts, code) = j.join().unwrap();
        assert!(timeouts >= 1);
        assert_eq!(code, Some(0));
    }
}

// --- Regressions found in review ------------------------------------------------------

#[test]
fn fork_child_does_not_wait_for_the_parents_threads() {
    // A non-daemon conc-thread thread runs in the parent while a fork child exits: the
    // child's exit routine must not wait for that thread (it does not exist there).
    let stop = std::sync::Arc::new(conc_thread::Event::new());
    let stop2 = stop.clone();
    let busy = conc_thread::spawn(move || {
        stop2.wait();
    });
    let p = get_context(StartMethod::Fork).process(|x: u32| x + 1, 1);
    p.start().unwrap();
    let joined = p.join_timeout(PATIENCE);
    stop.set();
    busy.join().unwrap();
    joined.unwrap();
    assert_eq!(p.result().unwrap(), 2);
}

#[test]
fn fork_while_another_thread_holds_stdout() {
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _out = std::io::stdout().lock();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    locked_rx.recv().unwrap();
    // The launcher (this is not the main thread) forks while `holder` owns stdout; the
    // child's exit flushes stdout and must not find it locked forever.
    let p = std::thread::spawn(|| {
        let p = get_context(StartMethod::Fork).process(|x: u32| x * 3, 3);
        p.start().unwrap();
        let r = p.join_timeout(PATIENCE).map(|()| p.exitcode());
        (r, p.result())
    });
    // Let go only after the child has had every chance to hang.
    std::thread::sleep(Duration::from_millis(200));
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let (joined, result) = p.join().unwrap();
    assert_eq!(joined, Ok(Some(0)));
    assert_eq!(result, Ok(9));
}

/// Panics when dropped in a child process (after it was sent back).
#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct PanicsInChild(u8);

impl Drop for PanicsInChild {
    fn drop(&mut self) {
        if current_process().name() != "MainProcess" && !std::thread::panicking() {
            panic!("drop panicked in the child");
        }
    }
}

each_method! {
    // A panic outside the function (in the result's Drop, after it was sent) must end
    // the child, not unwind into the code that forked it.
    fn test_panic_after_result_ends_the_child(method: StartMethod) {
        let p = get_context(method).process(PanicsInChild, 7);
        p.start().unwrap();
        assert_eq!(p.join_timeout(PATIENCE), Ok(()));
        assert_eq!(p.exitcode(), Some(1));
        assert_eq!(p.result().unwrap(), PanicsInChild(7));
    }
}

fn calls_init_again(x: u32) -> u32 {
    conc_process::init(); // a library might; it must return at once
    x + 1
}

each_method! {
    fn test_init_inside_a_child(method: StartMethod) {
        let p = get_context(method).process(calls_init_again, 1);
        p.start().unwrap();
        p.join_timeout(PATIENCE).unwrap();
        assert_eq!(p.result().unwrap(), 2);
    }
}

#[test]
fn close_does_not_wait_for_a_blocked_reader() {
    const READER_TIMEOUT: Duration = Duration::from_secs(5);
    let (a, _b) = pipe::<u8>(true).unwrap();
    let a = std::sync::Arc::new(a);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let returned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (a, returned) = (a.clone(), returned.clone());
        std::thread::spawn(move || {
            tid_tx.send(common::gettid()).unwrap();
            let got = a.recv_timeout(READER_TIMEOUT);
            returned.store(true, std::sync::atomic::Ordering::SeqCst);
            got
        })
    };
    let tid = tid_rx.recv_timeout(PATIENCE).unwrap();
    assert!(
        eventually(PATIENCE, || common::thread_blocked(tid)),
        "the reader never blocked"
    );
    a.close();
    // Had close waited for the reader, the reader would have returned first.
    let returned_before_close = returned.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        !returned_before_close,
        "close waited for the blocked reader"
    );
    assert!(matches!(
        reader.join().unwrap(),
        Err(ProcessError::Timeout { .. })
    ));
    assert_eq!(a.recv(), Err(ProcessError::Closed("connection")));
}

#[test]
fn connections_and_locks_cannot_hide_in_queue_items() {
    let q = conc_process::Queue::<Connection<u8>>::new(0).unwrap();
    let (a, _b) = pipe::<u8>(true).unwrap();
    assert!(matches!(q.put(&a), Err(ProcessError::Serialization(_))));
    // The connection still works: nothing was taken from it.
    a.send(1).unwrap();
    let locks = conc_process::Queue::<conc_process::Lock>::new(0).unwrap();
    assert!(matches!(
        locks.put(conc_process::Lock::new()),
        Err(ProcessError::Serialization(_))
    ));
}

#[test]
fn a_process_handle_inherited_by_a_fork_child_is_refused_there() {
    let sleeper = std::sync::Arc::new(get_context(StartMethod::Fork).process(sleep_secs, 60));
    sleeper.start().unwrap();
    let s = sleeper.clone();
    let probe = get_context(StartMethod::Fork).closure(move || {
        (
            s.kill().is_err(),
            s.join_timeout(Duration::ZERO).is_err(),
            s.is_alive(),
        )
    });
    probe.start().unwrap();
    assert_eq!(probe.result().unwrap(), (true, true, false));
    assert!(
        sleeper.is_alive(),
        "the child must not have signalled its sibling"
    );
    sleeper.kill().unwrap();
    let _ = sleeper.join();
}

/// An argument whose encoding fails.
#[derive(Debug, serde::Deserialize)]
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

fn takes_unencodable(_: Unencodable) -> u8 {
    1
}

#[test]
fn unencodable_arguments_fail_start_and_leave_no_child() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let p = get_context(method).process(takes_unencodable, Unencodable);
        match p.start() {
            // postcard keeps no custom message, only that serde failed.
            Err(ProcessError::Serialization(_)) => {}
            other => panic!("{method}: expected a serialization error, got {other:?}"),
        }
        assert_eq!(p.pid(), None);
    }
    // fork hands the value over in memory: nothing to encode.
    let p = get_context(StartMethod::Fork).process(takes_unencodable, Unencodable);
    p.start().unwrap();
    assert_eq!(p.result().unwrap(), 1);
}

#[test]
fn fork_children_can_run_subprocesses_while_the_parent_spawns_them() {
    // Review regression: subprocess's list of dropped children was not held across the
    // fork, so a child could inherit it locked and hang in its first `call`.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Spawn and drop a running child: adopted by the reaper list.
                let p = conc_process::subprocess::Popen::new(["sleep", "0.05"]).unwrap();
                drop(p);
            }
        });
        for _ in 0..100 {
            let p = get_context(StartMethod::Fork).process(
                |_: ()| conc_process::subprocess::call(["true"]).map_err(|e| e.to_string()),
                (),
            );
            p.start().unwrap();
            p.join_timeout(PATIENCE).unwrap();
            assert_eq!(p.result().unwrap(), Ok(0));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

fn exit_after_event((ev, code): (conc_process::Event, i32)) {
    assert!(ev.wait_timeout(PATIENCE));
    std::process::exit(code);
}

// Issue 12, failure 1: a fork child holding an inherited ChildProcess of a sibling
// must neither reap nor signal it; the real parent then still gets the real code.
#[test]
fn an_inherited_child_handle_neither_reaps_nor_signals() {
    let ev = conc_process::Event::new();
    let sibling = get_context(StartMethod::Fork).process(exit_after_event, (ev.clone(), 7));
    sibling.start().unwrap();
    let handle = sibling.handle().unwrap();
    let probe = get_context(StartMethod::Fork).closure(move || {
        // Let the sibling end first, so a wrongful waitpid would have something to steal.
        ev.set();
        std::thread::sleep(Duration::from_millis(200));
        (
            handle.is_alive(),
            handle.exitcode(),
            handle.wait(Some(Duration::ZERO)),
            handle.kill().is_err(),
            handle.terminate().is_err(),
        )
    });
    probe.start().unwrap();
    assert_eq!(probe.result().unwrap(), (false, None, None, true, true));
    let _ = sibling.join();
    assert_eq!(
        sibling.exitcode(),
        Some(7),
        "the real parent got the real exit code"
    );
}
