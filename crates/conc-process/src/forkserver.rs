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
//! then. It waits with `IpcReceiverSet::select` on the request channel and on one
//! "alive" channel per child, whose only sender the child holds: when the child ends the
//! kernel closes it and the server reaps the child and reports the status. The server
//! exits when the program's end of the request channel closes (the program ended), and
//! the kernel kills it if the program's main thread dies first (`PR_SET_PDEATHSIG`); its
//! children get the same signal from the server.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ipc_channel::ipc::{self, IpcReceiver, IpcReceiverSet, IpcSelectionResult, IpcSender};
use serde::{Deserialize, Serialize};

use crate::ProcessError;
use crate::bootstrap::{self, Bootstrap};
use crate::child::{Child, Reaper, UNKNOWN_EXIT};
use crate::hooks::{self, ForkLockRank};
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
    requests: IpcSender<Request>,
    /// Taken by the listener thread when the first child is requested.
    events: Option<IpcReceiver<Event>>,
    book: Arc<Mutex<Book>>,
}

/// This process's server connection, tagged with the pid it belongs to (a fork child
/// inherits the parent's and must not use it).
static CLIENT: Mutex<Option<(Pid, Client)>> = Mutex::new(None);
/// Why `init` could not start a server, reported at the first request.
static UNAVAILABLE: Mutex<Option<&'static str>> = Mutex::new(None);
/// In a served child: the sender whose closing tells the server this child ended.
static ALIVE: Mutex<Option<IpcSender<()>>> = Mutex::new(None);

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
fn serve(requests: IpcReceiver<Request>, events: IpcSender<Event>) -> ! {
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
    let Ok(mut set) = IpcReceiverSet::new() else {
        sys::exit_now(1)
    };
    let Ok(requests_id) = set.add(requests) else {
        sys::exit_now(1)
    };
    // Receiver id in `set` → the child whose "alive" channel it is.
    let mut alive: HashMap<u64, Pid> = HashMap::new();
    // Children whose channel closed but that had not exited yet when we looked.
    let mut closing: Vec<Pid> = Vec::new();
    loop {
        // Wake at least every SWEEP to look for children whose exit the channels did
        // not announce (their "alive" sender leaked into a process that outlives them).
        let wait = if closing.is_empty() {
            SWEEP
        } else {
            Duration::from_millis(1)
        };
        let selected = match set.try_select_timeout(wait) {
            Ok(r) => Ok(r),
            Err(ipc_channel::TrySelectError::Empty) => Ok(Vec::new()),
            Err(_) => Err(()),
        };
        if last_sweep.elapsed() >= SWEEP {
            last_sweep = std::time::Instant::now();
            alive.retain(|_, &mut pid| still_running(pid, &events));
        }
        let Ok(selected) = selected else {
            sys::exit_now(1)
        };
        for result in selected {
            match result {
                IpcSelectionResult::MessageReceived(id, message) if id == requests_id => {
                    let (token, boot) = match message.to::<Request>() {
                        Ok(Request::Start { token, boot }) => (token, boot),
                        Ok(Request::Signal { pid, sig }) => {
                            // Unreaped (still watched or closing): the pid is still ours.
                            if alive.values().chain(&closing).any(|&p| p == pid) {
                                let _ = sys::kill(pid, sig);
                            }
                            continue;
                        }
                        Err(_) => continue,
                    };
                    let Ok((alive_tx, alive_rx)) = ipc::channel::<()>() else {
                        let _ = events.send(Event::Failed {
                            token,
                            message: "cannot create a channel".into(),
                        });
                        continue;
                    };
                    // Where the watchdog is used, its children watch the server.
                    crate::watchdog::read_end_for_children();
                    // SAFETY: the server is single-threaded (but for an idle watchdog
                    // thread blocked in `read`), so the child inherits no held lock.
                    match unsafe { sys::fork() } {
                        Ok(0) => {
                            // Close the server's channels in the child; keep `alive_tx`
                            // open until the child ends.
                            drop((set, events, alive_rx));
                            *ALIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(alive_tx);
                            sys::die_with_parent(me, death_signal);
                            bootstrap::run_bootstrap(boot)
                        }
                        Ok(pid) => {
                            drop((alive_tx, boot));
                            match set.add(alive_rx) {
                                Ok(alive_id) => {
                                    alive.insert(alive_id, pid);
                                }
                                // Cannot watch it: fall back to polling for its exit.
                                Err(_) => closing.push(pid),
                            }
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
                IpcSelectionResult::ChannelClosed(id) if id == requests_id => {
                    // The program ended: so does the server. Its children receive
                    // SIGKILL from `PR_SET_PDEATHSIG`.
                    sys::exit_now(0)
                }
                IpcSelectionResult::ChannelClosed(id) => {
                    if let Some(pid) = alive.remove(&id) {
                        // The kernel closes a dying process's files a moment before it
                        // becomes reapable: wait that moment out here rather than in
                        // the 1 ms polling below.
                        match reap_soon(pid) {
                            Some(code) => {
                                let _ = events.send(Event::Exited { pid, code });
                            }
                            None => closing.push(pid),
                        }
                    }
                }
                IpcSelectionResult::MessageReceived(..) => {}
            }
        }
        // Reap at once the children that already exited (the usual case).
        closing.retain(|&pid| still_running(pid, &events));
    }
}

/// How often the server checks all its children with `waitpid`, whatever the channels
/// say.
const SWEEP: Duration = Duration::from_millis(100);

/// Reaps `pid` if it has ended and reports its exit: `true` while it still runs. A pid
/// that is no longer ours to wait for is reported with [`UNKNOWN_EXIT`], so the program
/// never waits for it forever.
fn still_running(pid: Pid, events: &IpcSender<Event>) -> bool {
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
fn listen(events: IpcReceiver<Event>, book: Arc<Mutex<Book>>, server: Pid) {
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
