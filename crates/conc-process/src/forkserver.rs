//! The `forkserver` start method: a single-threaded server that forks the children.
//!
//! ```text
//! program (any number of threads)                  server (one thread, forked by init())
//! -------                                          ------
//! Request::Start { Bootstrap, reply socket } ----> fork() ──> child: run_bootstrap
//!        reply socket <---- Event::Started { pid }     │
//!                                                      └──> polls the child's pidfd
//!        reply socket <---- Event::Exited { code }          (readable: reap it, report,
//!                                                            close the reply socket)
//! ```
//!
//! The server was forked while the program had one thread, so it holds no foreign
//! locks and every child it forks starts clean, whatever threads the program runs by
//! then. Each request brings its own reply socket, as in Python: the caller reads the
//! child's pid from it, and the child's [`Child`] keeps it as its sentinel, readable once
//! the server wrote the exit status (or died). No thread of the program listens to the
//! server. The server waits with `poll` on the request channel and on one pidfd per
//! child; it exits when the program's end of the request channel closes (the program
//! ended), and the kernel kills it if the program's main thread dies first
//! (`PR_SET_PDEATHSIG`); its children get the same signal from the server.

use std::any::Any;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use serde::{Deserialize, Serialize};

use crate::ProcessError;
use crate::bootstrap::{self, Bootstrap};
use crate::child::{Child, Reaper, ServedBy, UNKNOWN_EXIT};
use crate::hooks::{self, ForkLockRank};
use crate::ipc::{self, Receiver, Sender};
use crate::sys::{self, Pid};
use crate::wire::Descriptor;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Fork a child running `boot`; report on `reply`.
    Start { boot: Bootstrap, reply: Descriptor },
    /// Signal a child, if the server has not reaped it yet.
    Signal { pid: Pid, sig: i32 },
}

/// What the server writes to a request's reply socket: `Started` (or `Failed`), then
/// `Exited` once the child has been reaped; then it closes the socket.
#[derive(Debug, Serialize, Deserialize)]
enum Event {
    Started { pid: Pid },
    Failed { message: String },
    Exited { code: i32 },
}

#[derive(Debug)]
struct Client {
    /// The server's pid, to reap it once it is gone.
    server: Pid,
    requests: Sender<Request>,
    /// Set when the server is gone; every later request fails at once.
    dead: bool,
}

/// This process's server connection, tagged with the pid it belongs to (a fork child
/// inherits the parent's and must not use it).
static CLIENT: Mutex<Option<(Pid, Client)>> = Mutex::new(None);
/// Why `init` could not start a server, reported at the first request.
static UNAVAILABLE: Mutex<Option<&'static str>> = Mutex::new(None);

fn client() -> MutexGuard<'static, Option<(Pid, Client)>> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(&REGISTERED, ForkLockRank::ForkServer, || -> Box<dyn Any> {
        Box::new(CLIENT.lock().unwrap_or_else(|e| e.into_inner()))
    });
    CLIENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forks the server. Called by `init` while the program is single-threaded.
pub(crate) fn start_server() {
    match fork_server() {
        Ok(client) => *self::client() = Some((sys::getpid(), client)),
        Err(why) => mark_unavailable(why),
    }
}

/// Records why there is no server (init was called too late).
pub(crate) fn mark_unavailable(why: &'static str) {
    *UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
}

fn fork_server() -> Result<Client, &'static str> {
    let (requests, request_rx) =
        ipc::channel::<Request>().map_err(|_| "cannot create the fork server's channel")?;
    let parent = sys::getpid();
    crate::watchdog::read_end_for_children();
    let death_signal = crate::watchdog::death_signal_wanted();
    // SAFETY: the program is single-threaded here (init checks), so the child inherits
    // no lock held by another thread.
    match unsafe { sys::fork() } {
        Ok(0) => {
            drop(requests);
            sys::die_with_parent(parent, death_signal);
            // Where the watchdog is used, the server watches the program too.
            crate::watchdog::start_in_child(None);
            serve(request_rx)
        }
        Ok(server) => Ok(Client {
            server,
            requests,
            dead: false,
        }),
        Err(_) => Err("fork() of the fork server failed"),
    }
}

/// One child of the server, until it is reaped.
struct Served {
    pid: Pid,
    /// Readable once the child has ended; `None` where the kernel has no pidfds
    /// (before Linux 5.3): such children are looked at every [`NO_PIDFD_SWEEP`].
    pidfd: Option<OwnedFd>,
    reply: Sender<Event>,
}

/// How often the server looks for the end of children it has no pidfd for.
const NO_PIDFD_SWEEP: Duration = Duration::from_millis(1);

/// The server's loop. Never returns.
fn serve(mut requests: Receiver<Request>) -> ! {
    let me = sys::getpid();
    let death_signal = crate::watchdog::death_signal_wanted();
    // With SIGCHLD ignored (inherited from the program) the kernel would reap our
    // children itself and every exit status would be lost.
    // SAFETY: resetting a signal's disposition to the default has no preconditions.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    // Each child costs the server two descriptors (its pidfd and its reply socket).
    sys::raise_fd_limit();
    let mut children: Vec<Served> = Vec::new();
    loop {
        let sweep = children
            .iter()
            .any(|c| c.pidfd.is_none())
            .then_some(NO_PIDFD_SWEEP);
        let (request_ready, ended) = if requests.has_buffered() {
            (true, Vec::new())
        } else {
            match wait_for_work(&requests, &children, sweep) {
                Ok(ready) => ready,
                Err(()) => sys::exit_now(1),
            }
        };
        // Reap the children whose pidfd became readable (from the back, so that the
        // indices stay valid), and those without a pidfd that have ended.
        for index in ended.into_iter().rev() {
            if index < children.len() && !still_running(&children[index]) {
                children.swap_remove(index);
            }
        }
        if sweep.is_some() {
            children.retain(|c| c.pidfd.is_some() || still_running(c));
        }
        if request_ready {
            match requests.recv_until(Some(Instant::now())) {
                Ok(Request::Start { boot, reply }) => {
                    let reply = Sender::from_fd(reply.0);
                    if let Some(child) =
                        start_child(boot, reply, me, death_signal, &requests, &children)
                    {
                        children.push(child);
                    }
                }
                // Unreaped: the pid is still ours.
                Ok(Request::Signal { pid, sig }) => {
                    if children.iter().any(|c| c.pid == pid) {
                        let _ = sys::kill(pid, sig);
                    }
                }
                Err(ProcessError::Timeout { .. } | ProcessError::Serialization(_)) => {}
                // The program ended (or its channel broke): so does the server. Its
                // children receive their death signal from `PR_SET_PDEATHSIG`.
                Err(_) => sys::exit_now(0),
            }
        }
    }
}

/// Waits (up to `wait`, or until something happens) for a request or for children to
/// end: whether the request channel is readable, and the indices (into `children`) of
/// the readable pidfds.
fn wait_for_work(
    requests: &Receiver<Request>,
    children: &[Served],
    wait: Option<Duration>,
) -> Result<(bool, Vec<usize>), ()> {
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(children.len() + 1);
    fds.push(PollFd::new(requests, PollFlags::IN));
    // A child without a pidfd polls a descriptor that never fires (the request
    // channel again), so that the indices still match `children`.
    fds.extend(children.iter().map(|c| match &c.pidfd {
        Some(fd) => PollFd::new(fd, PollFlags::IN),
        None => PollFd::new(requests, PollFlags::empty()),
    }));
    let timeout = wait
        .map(rustix::event::Timespec::try_from)
        .transpose()
        .map_err(|_| ())?;
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
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

/// Forks a child for `boot` and reports it on `reply` (`Started` or `Failed`).
fn start_child(
    boot: Bootstrap,
    reply: Sender<Event>,
    me: Pid,
    death_signal: bool,
    requests: &Receiver<Request>,
    children: &[Served],
) -> Option<Served> {
    // Where the watchdog is used, its children watch the server.
    crate::watchdog::read_end_for_children();
    // SAFETY: the server is single-threaded (but for an idle watchdog thread blocked in
    // `read`), so the child inherits no held lock.
    match unsafe { sys::fork() } {
        Ok(0) => {
            close_in_child(requests, children, reply);
            sys::die_with_parent(me, death_signal);
            bootstrap::run_bootstrap(boot)
        }
        Ok(pid) => {
            drop(boot);
            // A program that dropped its handle at once closed the reply socket: the
            // child runs all the same.
            let _ = reply.send(Event::Started { pid });
            Some(Served {
                pid,
                pidfd: sys::pidfd_open(pid),
                reply,
            })
        }
        Err(e) => {
            let _ = reply.send(Event::Failed {
                message: format!("fork failed: {e}"),
            });
            None
        }
    }
}

/// In a child of the server: closes the server's descriptors (the child must not keep
/// the request channel, its siblings' pidfds or anyone's reply socket open).
/// They are borrowed from the server's frame, which the child never returns to, so the
/// descriptors are closed by number and the objects forgotten.
fn close_in_child(requests: &Receiver<Request>, children: &[Served], reply: Sender<Event>) {
    use std::os::fd::AsRawFd;
    drop(reply);
    let fds = std::iter::once(requests.as_fd().as_raw_fd()).chain(children.iter().flat_map(|c| {
        c.pidfd
            .iter()
            .map(|fd| fd.as_raw_fd())
            .chain(std::iter::once(c.reply.as_fd().as_raw_fd()))
    }));
    for fd in fds {
        // SAFETY: these descriptors belong to the server's objects, which live in a
        // frame this child never returns to (it exits from `run_bootstrap`), so
        // nothing uses or closes them again here.
        unsafe { libc::close(fd) };
    }
}

/// Reaps the child if it has ended and reports its exit: `true` while it still runs. A
/// pid that is no longer ours to wait for is reported with [`UNKNOWN_EXIT`], so the
/// program never waits for it forever.
fn still_running(child: &Served) -> bool {
    let code = match sys::try_reap(child.pid) {
        Ok(None) => return true,
        Ok(Some(code)) => code,
        Err(_) => UNKNOWN_EXIT,
    };
    // The program may have dropped its handle (and closed the socket): nobody to tell.
    let _ = child.reply.send(Event::Exited { code });
    false
}

/// Asks the server to start a child running `boot`.
pub(crate) fn start(name: &str, daemon: bool, boot: Bootstrap) -> Result<Arc<Child>, ProcessError> {
    let died = || ProcessError::StartFailed {
        name: name.to_owned(),
        reason: "the fork server has died".into(),
    };
    let (reply_here, reply_there) = ipc::socket_pair()?;
    {
        let mut guard = connected_client(name)?;
        let (_, client) = guard.as_mut().expect("checked by connected_client");
        if client.dead {
            return Err(died());
        }
        let request = Request::Start {
            boot,
            reply: Descriptor(reply_there),
        };
        if client.requests.send(request).is_err() {
            // It is our child: reap it (it is gone, or going).
            client.dead = true;
            let _ = sys::try_reap(client.server);
            return Err(died());
        }
    }
    // Read outside the client lock: other threads start their children meanwhile.
    let mut reply = Receiver::<Event>::from_fd(reply_here);
    match reply.recv() {
        Ok(Event::Started { pid }) => {
            let link = Box::new(ServerLink::new(reply));
            Ok(Arc::new(Child::new(
                pid,
                name.into(),
                daemon,
                Reaper::Server(link),
            )))
        }
        Ok(Event::Failed { message }) => Err(ProcessError::StartFailed {
            name: name.to_owned(),
            reason: message,
        }),
        Ok(Event::Exited { .. }) => Err(ProcessError::BadMessage(
            "the fork server reported an exit before the start".into(),
        )),
        Err(_) => Err(died()),
    }
}

/// The client, after making sure this process has a server: a fork child inherits its
/// parent's, which is not its own, and may fork one now if it is still single-threaded.
fn connected_client(
    name: &str,
) -> Result<MutexGuard<'static, Option<(Pid, Client)>>, ProcessError> {
    let me = sys::getpid();
    let mut guard = client();
    if guard.as_ref().is_some_and(|(pid, _)| *pid == me) {
        return Ok(guard);
    }
    *guard = None;
    drop(guard);
    // A child process has no server of its own yet (its function usually starts
    // single-threaded).
    if me != crate::current::main_pid() && sys::thread_count() == Some(1) {
        start_server();
    }
    guard = client();
    if guard.as_ref().is_some_and(|(pid, _)| *pid == me) {
        return Ok(guard);
    }
    let why = UNAVAILABLE.lock().unwrap_or_else(|e| e.into_inner()).take();
    Err(match why {
        Some(why) => ProcessError::StartFailed {
            name: name.to_owned(),
            reason: why.to_owned(),
        },
        None => ProcessError::NotInitialized("forkserver"),
    })
}

/// Asks the server to send `sig` to its child `pid` (if it has not reaped it yet).
fn signal(pid: Pid, sig: libc::c_int) -> std::io::Result<()> {
    let guard = client();
    match &*guard {
        Some((owner, client)) if *owner == sys::getpid() => client
            .requests
            .send(Request::Signal { pid, sig })
            .map_err(|e| std::io::Error::other(e.to_string())),
        _ => Err(std::io::Error::other("this process has no fork server")),
    }
}

/// A served child's reply socket: its sentinel, and where its exit status arrives.
#[derive(Debug)]
struct ServerLink {
    /// The socket's descriptor, owned by `reply`.
    fd: std::os::fd::RawFd,
    reply: Mutex<Receiver<Event>>,
}

impl ServerLink {
    fn new(reply: Receiver<Event>) -> Self {
        ServerLink {
            fd: std::os::fd::AsRawFd::as_raw_fd(&reply.as_fd()),
            reply: Mutex::new(reply),
        }
    }
}

impl ServedBy for ServerLink {
    fn sentinel(&self) -> BorrowedFd<'_> {
        // SAFETY: `fd` is owned by `reply`, which lives as long as `self` and is never
        // replaced (the mutex guards only its read buffer).
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    fn try_exit(&self) -> Option<i32> {
        let mut reply = self.reply.lock().unwrap_or_else(|e| e.into_inner());
        let code = match reply.recv_until(Some(Instant::now())) {
            Ok(Event::Exited { code }) => code,
            Err(ProcessError::Timeout { .. }) => return None,
            Ok(_) | Err(ProcessError::Serialization(_)) => UNKNOWN_EXIT,
            // Closed without a status: the server died, and its children with it
            // (`PR_SET_PDEATHSIG`).
            Err(_) => -libc::SIGKILL,
        };
        // The status has been read, and the server may not have closed its end yet: shut
        // ours for reading, so that the sentinel stays readable from now on, as a
        // sentinel must, however the server is scheduled.
        let _ = rustix::net::shutdown(reply.as_fd(), rustix::net::Shutdown::Read);
        Some(code)
    }

    fn signal(&self, pid: Pid, sig: libc::c_int) -> std::io::Result<()> {
        signal(pid, sig)
    }
}
