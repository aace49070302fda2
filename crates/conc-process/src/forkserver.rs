//! The `forkserver` start method: a single-threaded server that forks the children.
//!
//! ```text
//! program (any number of threads)            server (one thread, forked by init())
//! -------                                    ------
//! Request::Start { token, Bootstrap } -----> fork() ──> child: run_bootstrap
//!          <---- Event::Started { token, pid }     │     holds `alive` sender
//!                                                  └──> waits on every `alive` receiver
//!          <---- Event::Exited { pid, code }         (closed = child ended: waitpid it)
//! ```
//!
//! The server was forked while the program had one thread, so it holds no foreign
//! locks and every child it forks starts clean, whatever threads the program runs by
//! then. It waits with `poll` on the request channel and on one "alive" socket per
//! child, whose other end only the child holds: when the child ends the kernel closes
//! it and the server reaps the child and reports the status. The server
//! exits when the program's end of the request channel closes (the program ended), and
//! the kernel kills it if the program's main thread dies first (`PR_SET_PDEATHSIG`); its
//! children get the same signal from the server.

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use serde::{Deserialize, Serialize};

use crate::ProcessError;
use crate::bootstrap::{self, Bootstrap};
use crate::child::{Child, Reaper, UNKNOWN_EXIT};
use crate::hooks::{self, ForkLockRank};
use crate::ipc::{self, Receiver, Sender};
use crate::sys::{self, Pid};

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Start {
        token: u64,
        boot: Bootstrap,
    },
    /// Signal a child, if the server has not reaped it yet.
    Signal {
        pid: Pid,
        sig: i32,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum Event {
    Started { token: u64, pid: Pid },
    Failed { token: u64, message: String },
    Exited { pid: Pid, code: i32 },
}

type Reply = SyncSender<Result<Arc<Child>, ProcessError>>;

#[derive(Debug, Default)]
struct Book {
    next_token: u64,
    /// Requests sent, waiting for `Started`: the child's name and daemon flag, and
    /// where to hand its [`Child`].
    pending: HashMap<u64, (String, bool, Reply)>,
    /// Children started and not yet reported `Exited`.
    children: HashMap<Pid, Arc<Child>>,
    /// Set when the server is gone; every later request fails at once.
    dead: bool,
}

#[derive(Debug)]
pub(crate) struct Client {
    /// The server's pid, to reap it if it dies.
    server: Pid,
    requests: Sender<Request>,
    /// Taken by the listener thread when the first child is requested.
    events: Option<Receiver<Event>>,
    book: Arc<Mutex<Book>>,
}

/// This process's server connection, tagged with the pid it belongs to (a fork child
/// inherits the parent's and must not use it).
static CLIENT: Mutex<Option<(Pid, Client)>> = Mutex::new(None);
/// Why `init` could not start a server, reported at the first request.
static UNAVAILABLE: Mutex<Option<&'static str>> = Mutex::new(None);
/// In a served child: the socket whose closing tells the server this child ended.
static ALIVE: Mutex<Option<OwnedFd>> = Mutex::new(None);

fn client() -> MutexGuard<'static, Option<(Pid, Client)>> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(&REGISTERED, ForkLockRank::ForkServer, || -> Box<dyn Any> {
        Box::new(CLIENT.lock().unwrap_or_else(|e| e.into_inner()))
    });
    CLIENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// In a fork child of a served child: close the inherited "alive" sender, or the server
/// would wait for the grandchild too before reporting the child's exit.
pub(crate) fn forget_alive_token() {
    if let Ok(mut alive) = ALIVE.try_lock() {
        alive.take();
    }
}

/// Forks the server. Called by `init` while the program is single-threaded.
pub(crate) fn start_server() {
    match fork_server() {
        Ok(client) => *self::client() = Some((sys::getpid(), client)),
        Err(why) => {
            *UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        }
    }
}

/// Records why there is no server (init was called too late).
pub(crate) fn mark_unavailable(why: &'static str) {
    *UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
}

fn fork_server() -> Result<Client, &'static str> {
    let (requests, request_rx) =
        ipc::channel::<Request>().map_err(|_| "cannot create the fork server's channel")?;
    let (event_tx, events) =
        ipc::channel::<Event>().map_err(|_| "cannot create the fork server's channel")?;
    let parent = sys::getpid();
    crate::watchdog::read_end_for_children();
    let death_signal = crate::watchdog::death_signal_wanted();
    // SAFETY: the program is single-threaded here (init checks), so the child inherits
    // no lock held by another thread.
    match unsafe { sys::fork() } {
        Ok(0) => {
            drop((requests, events));
            // A server forked by a served child must not keep that child's token.
            forget_alive_token();
            sys::die_with_parent(parent, death_signal);
            // Where the watchdog is used, the server watches the program too.
            crate::watchdog::start_in_child(None);
            serve(request_rx, event_tx)
        }
        Ok(server) => Ok(Client {
            server,
            requests,
            events: Some(events),
            book: Arc::default(),
        }),
        Err(_) => Err("fork() of the fork server failed"),
    }
}

/// The server's loop. Never returns.
fn serve(mut requests: Receiver<Request>, events: Sender<Event>) -> ! {
    let me = sys::getpid();
    let death_signal = crate::watchdog::death_signal_wanted();
    // With SIGCHLD ignored (inherited from the program) the kernel would reap our
    // children itself and every exit status would be lost.
    // SAFETY: resetting a signal's disposition to the default has no preconditions.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    // `reap_soon` sleeps in 10 µs steps; the default 50 µs timer slack would stretch
    // each to 60 µs and delay every exit report.
    // SAFETY: PR_SET_TIMERSLACK takes a number of nanoseconds; no memory involved.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let mut last_sweep = std::time::Instant::now();
    // Each child's "alive" socket, which reads as closed once the child has ended.
    let mut alive: Vec<(OwnedFd, Pid)> = Vec::new();
    // Children whose socket closed but that had not exited yet when we looked.
    let mut closing: Vec<Pid> = Vec::new();
    loop {
        // Wake at least every SWEEP to look for children whose exit the sockets did
        // not announce (their end leaked into a process that outlives them).
        let wait = if closing.is_empty() {
            SWEEP
        } else {
            Duration::from_millis(1)
        };
        let (request_ready, ended) = if requests.has_buffered() {
            (true, Vec::new())
        } else {
            match wait_for_work(&requests, &alive, wait) {
                Ok(ready) => ready,
                Err(()) => sys::exit_now(1),
            }
        };
        // Children whose socket closed: reap them (from the back, so that the indices
        // stay valid; before the sweep below changes them).
        for index in ended.into_iter().rev() {
            if index < alive.len() {
                let (_, pid) = alive.swap_remove(index);
                // The kernel closes a dying process's files a moment before it becomes
                // reapable: wait that moment out here rather than in the 1 ms polling.
                match reap_soon(pid) {
                    Some(code) => {
                        let _ = events.send(Event::Exited { pid, code });
                    }
                    None => closing.push(pid),
                }
            }
        }
        if last_sweep.elapsed() >= SWEEP {
            last_sweep = std::time::Instant::now();
            alive.retain(|(_, pid)| still_running(*pid, &events));
        }
        if request_ready {
            let request = match requests.recv_until(Some(std::time::Instant::now())) {
                Ok(request) => Some(request),
                Err(ProcessError::Timeout | ProcessError::Serialization(_)) => None,
                // The program ended (or its channel broke): so does the server. Its
                // children receive their death signal from `PR_SET_PDEATHSIG`.
                Err(_) => sys::exit_now(0),
            };
            match request {
                Some(Request::Start { token, boot }) => start_child(
                    token,
                    boot,
                    me,
                    death_signal,
                    &requests,
                    &events,
                    &mut alive,
                ),
                // Unreaped (still watched or closing): the pid is still ours.
                Some(Request::Signal { pid, sig })
                    if alive
                        .iter()
                        .map(|(_, p)| p)
                        .chain(&closing)
                        .any(|&p| p == pid) =>
                {
                    let _ = sys::kill(pid, sig);
                }
                Some(Request::Signal { .. }) | None => {}
            }
        }
        // Reap at once the children that already exited (the usual case).
        closing.retain(|&pid| still_running(pid, &events));
    }
}

/// Waits up to `wait` for a request or for children's "alive" sockets to close:
/// whether the request channel is readable, and the indices (into `alive`) of the
/// closed sockets.
fn wait_for_work(
    requests: &Receiver<Request>,
    alive: &[(OwnedFd, Pid)],
    wait: Duration,
) -> Result<(bool, Vec<usize>), ()> {
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(alive.len() + 1);
    fds.push(PollFd::new(requests, PollFlags::IN));
    fds.extend(alive.iter().map(|(fd, _)| PollFd::new(fd, PollFlags::IN)));
    let timeout = rustix::event::Timespec::try_from(wait).map_err(|_| ())?;
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok((false, Vec::new())),
        Err(_) => return Err(()),
    }
    let request_ready = !fds[0].revents().is_empty();
    let ended = fds[1..]
        .iter()
        .enumerate()
        .filter(|(_, fd)| !fd.revents().is_empty())
        .map(|(i, _)| i)
        .collect();
    Ok((request_ready, ended))
}

/// Forks a child for `boot` and reports it (`Started` or `Failed`).
fn start_child(
    token: u64,
    boot: Bootstrap,
    me: Pid,
    death_signal: bool,
    requests: &Receiver<Request>,
    events: &Sender<Event>,
    alive: &mut Vec<(OwnedFd, Pid)>,
) {
    let Ok((alive_here, alive_there)) = ipc::socket_pair() else {
        let _ = events.send(Event::Failed {
            token,
            message: "cannot create a socket".into(),
        });
        return;
    };
    // Where the watchdog is used, its children watch the server.
    crate::watchdog::read_end_for_children();
    // SAFETY: the server is single-threaded (but for an idle watchdog thread blocked in
    // `read`), so the child inherits no held lock.
    match unsafe { sys::fork() } {
        Ok(0) => {
            // Close the server's sockets in the child; keep `alive_there` open until
            // the child ends.
            close_in_child(requests, events, alive, alive_here);
            *ALIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(alive_there);
            sys::die_with_parent(me, death_signal);
            bootstrap::run_bootstrap(boot)
        }
        Ok(pid) => {
            drop((alive_there, boot));
            alive.push((alive_here, pid));
            let _ = events.send(Event::Started { token, pid });
        }
        Err(e) => {
            let _ = events.send(Event::Failed {
                token,
                message: format!("fork failed: {e}"),
            });
        }
    }
}

/// In a child of the server: closes the server's descriptors (the child must not keep
/// the request channel, the event channel or its siblings' "alive" sockets open).
/// They are borrowed from the server's frame, which the child never returns to, so the
/// descriptors are closed by number and the objects forgotten.
fn close_in_child(
    requests: &Receiver<Request>,
    events: &Sender<Event>,
    alive: &[(OwnedFd, Pid)],
    alive_here: OwnedFd,
) {
    use std::os::fd::AsRawFd;
    drop(alive_here);
    let fds = [requests.as_fd().as_raw_fd(), events.as_fd().as_raw_fd()]
        .into_iter()
        .chain(alive.iter().map(|(fd, _)| fd.as_raw_fd()));
    for fd in fds {
        // SAFETY: these descriptors belong to the server's objects, which live in a
        // frame this child never returns to (it exits from `run_bootstrap`), so
        // nothing uses or closes them again here.
        unsafe { libc::close(fd) };
    }
}

/// How often the server checks all its children with `waitpid`, whatever the channels
/// say.
const SWEEP: Duration = Duration::from_millis(100);

/// Reaps `pid` if it has ended and reports its exit: `true` while it still runs. A pid
/// that is no longer ours to wait for is reported with [`UNKNOWN_EXIT`], so the program
/// never waits for it forever.
fn still_running(pid: Pid, events: &Sender<Event>) -> bool {
    let code = match sys::try_reap(pid) {
        Ok(None) => return true,
        Ok(Some(code)) => code,
        Err(_) => UNKNOWN_EXIT,
    };
    let _ = events.send(Event::Exited { pid, code });
    false
}

/// Reaps `pid` if it becomes reapable within about a millisecond (it closed its "alive"
/// channel, so it is normally exiting); `None` if it is still running.
fn reap_soon(pid: Pid) -> Option<i32> {
    for _ in 0..100 {
        match sys::try_reap(pid) {
            Ok(Some(code)) => return Some(code),
            Ok(None) => std::thread::sleep(Duration::from_micros(10)),
            Err(_) => return Some(UNKNOWN_EXIT),
        }
    }
    None
}

/// Asks the server to start a child running `boot`.
pub(crate) fn start(name: &str, daemon: bool, boot: Bootstrap) -> Result<Arc<Child>, ProcessError> {
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    {
        let mut guard = client();
        let me = sys::getpid();
        if guard.as_ref().is_none_or(|(pid, _)| *pid != me) {
            *guard = None;
            drop(guard);
            // A child process has no server of its own yet. It may fork one now if it
            // is still single-threaded (its function usually starts that way).
            if sys::getpid() != crate::current::main_pid() && sys::thread_count() == Some(1) {
                start_server();
            }
            guard = client();
            if guard.as_ref().is_none_or(|(pid, _)| *pid != me) {
                let why = UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner()).take();
                return Err(match why {
                    Some(why) => ProcessError::StartFailed {
                        name: name.to_owned(),
                        reason: why.to_owned(),
                    },
                    None => ProcessError::NotInitialized("forkserver"),
                });
            }
        }
        let (_, client) = guard.as_mut().expect("checked above");
        let mut book = client.book.lock().unwrap_or_else(|e| e.into_inner());
        if book.dead {
            return Err(ProcessError::StartFailed {
                name: name.to_owned(),
                reason: "the fork server has died".into(),
            });
        }
        if let Some(events) = client.events.take() {
            let book = client.book.clone();
            let server = client.server;
            // Shared with the thread so the receiver survives a failed spawn.
            let slot = Arc::new(Mutex::new(Some(events)));
            let thread_slot = slot.clone();
            let spawned = std::thread::Builder::new()
                .name("conc-process-forkserver".into())
                .spawn(move || {
                    let events = thread_slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(events) = events {
                        listen(events, book, server);
                    }
                });
            if let Err(e) = spawned {
                client.events = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                return Err(ProcessError::os("cannot start the fork server listener", e));
            }
        }
        book.next_token += 1;
        let token = book.next_token;
        book.pending
            .insert(token, (name.to_owned(), daemon, reply_tx));
        drop(book);
        client.requests.send(Request::Start { token, boot })?;
    }
    reply_rx.recv().unwrap_or_else(|_| {
        Err(ProcessError::StartFailed {
            name: name.to_owned(),
            reason: "the fork server has died".into(),
        })
    })
}

/// Asks the server to send `sig` to its child `pid` (if it has not reaped it yet).
pub(crate) fn signal(pid: Pid, sig: libc::c_int) -> std::io::Result<()> {
    let guard = client();
    match &*guard {
        Some((owner, client)) if *owner == sys::getpid() => client
            .requests
            .send(Request::Signal { pid, sig })
            .map_err(|e| std::io::Error::other(e.to_string())),
        _ => Err(std::io::Error::other("this process has no fork server")),
    }
}

/// The program's listener: turns server events into started and exited children.
fn listen(mut events: Receiver<Event>, book: Arc<Mutex<Book>>, server: Pid) {
    let lock = || book.lock().unwrap_or_else(|e| e.into_inner());
    while let Ok(event) = events.recv() {
        match event {
            Event::Started { token, pid } => {
                let mut book = lock();
                if let Some((name, daemon, reply)) = book.pending.remove(&token) {
                    let child = Arc::new(Child::new(pid, name, daemon, Reaper::Server(signal)));
                    book.children.insert(pid, child.clone());
                    let _ = reply.send(Ok(child));
                }
            }
            Event::Failed { token, message } => {
                if let Some((name, _, reply)) = lock().pending.remove(&token) {
                    let _ = reply.send(Err(ProcessError::StartFailed {
                        name,
                        reason: message,
                    }));
                }
            }
            Event::Exited { pid, code } => {
                if let Some(child) = lock().children.remove(&pid) {
                    child.record_exit(code);
                }
            }
        }
    }
    // The server is gone, and with it (PR_SET_PDEATHSIG) every child it forked.
    // It is our child: reap it.
    let _ = reap_soon(server);
    let mut book = lock();
    book.dead = true;
    for (_, child) in book.children.drain() {
        child.record_exit(-libc::SIGKILL);
    }
    for (_, (name, _, reply)) in book.pending.drain() {
        let _ = reply.send(Err(ProcessError::StartFailed {
            name,
            reason: "the fork server has died".into(),
        }));
    }
}
