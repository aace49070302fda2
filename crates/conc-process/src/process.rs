//! `Process`: a Rust function running in a child process.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bootstrap::{self, Bootstrap, Outcome};
use crate::child::{Child, Reaper};
use crate::current::{self, Identity};
use crate::ipc::{self, Receiver};
use crate::wire::Descriptor;
use crate::{ProcessError, StartMethod, forkserver, launcher, registry, spawn, sys};

/// How long `join` waits on the result channel before it also checks whether the child
/// has ended: only matters when a sibling forked at the wrong instant inherited a copy
/// of the child's result sender, which delays end-of-file on that channel.
const RESULT_POLL: Duration = Duration::from_millis(50);

/// What a not-yet-started process will run.
trait Job<R>: Send {
    /// Runs the function in this process (the `fork` method, in the child).
    fn run_here(self: Box<Self>) -> R;
    /// Whether this is a closure, which only `fork` can run.
    fn is_closure(&self) -> bool;
    /// For `spawn` and `forkserver`: the code offsets, the argument channel, and the
    /// closure that sends the arguments. `None` for closures.
    fn remote(self: Box<Self>) -> Result<Remote, ProcessError>;
}

struct Remote {
    entry: isize,
    func: isize,
    /// The argument channel's receiving socket, for the child.
    args: Descriptor,
    send_args: Box<dyn FnOnce() -> Result<(), ProcessError> + Send>,
}

struct FnJob<A, R> {
    func: fn(A) -> R,
    args: A,
}

impl<A, R> Job<R> for FnJob<A, R>
where
    A: Serialize + for<'de> Deserialize<'de> + Send + 'static,
    R: Serialize + for<'de> Deserialize<'de> + Send + 'static,
{
    fn run_here(self: Box<Self>) -> R {
        (self.func)(self.args)
    }

    fn is_closure(&self) -> bool {
        false
    }

    fn remote(self: Box<Self>) -> Result<Remote, ProcessError> {
        let func = self.func as usize;
        let entry = bootstrap::entry_addr::<A, R>();
        if !bootstrap::in_main_image(&[func, entry]) {
            return Err(ProcessError::InvalidArgument(
                "the function lives in a dynamic library: 'spawn' and 'forkserver' \
                 children can only find functions of the program itself; use 'fork'"
                    .into(),
            ));
        }
        let (tx, rx) = ipc::channel::<A>()?;
        // Encoded now, so that a value that cannot cross fails `start` before a child
        // exists; and written now as far as the socket takes it (all of it, but for
        // large arguments), so that the child finds it waiting instead of waiting for
        // another round trip.
        let mut frame = ipc::encode(&self.args)?;
        let tx = tx.into_fd();
        frame.write(tx.as_fd(), Some(Instant::now()))?;
        Ok(Remote {
            entry: bootstrap::code_offset(entry),
            func: bootstrap::code_offset(func),
            args: Descriptor(rx.into_fd()),
            send_args: Box::new(move || frame.write(tx.as_fd(), None).map(drop)),
        })
    }
}

struct ClosureJob<F>(F);

/// The error for a closure given to `spawn` or `forkserver`.
fn closure_needs_fork() -> ProcessError {
    ProcessError::InvalidArgument(
        "a closure can only run in a child of the 'fork' start method; \
         use Process::new with a named fn(A) -> R for 'spawn' and 'forkserver'"
            .into(),
    )
}

impl<F, R> Job<R> for ClosureJob<F>
where
    F: FnOnce() -> R + Send,
{
    fn run_here(self: Box<Self>) -> R {
        (self.0)()
    }

    fn is_closure(&self) -> bool {
        true
    }

    fn remote(self: Box<Self>) -> Result<Remote, ProcessError> {
        Err(closure_needs_fork())
    }
}

/// The result channel and what came through it.
enum Received<R> {
    Waiting(Receiver<Outcome<R>>),
    Got(Outcome<R>),
    /// The channel closed without a message.
    Nothing,
    /// `result` took the value.
    Taken,
}

struct Running<R> {
    /// The process that started the child: the only one that may join or signal it (a
    /// fork child inherits a copy of this handle; Python asserts the same).
    owner: sys::Pid,
    child: Arc<Child>,
    received: conc_thread::sync::Mutex<Received<R>>,
}

/// A Rust function running in a child process (Python's `multiprocessing.Process`).
///
/// Create it with a named function and its argument ([`Process::new`]), or with a
/// closure for the `fork` start method ([`Process::from_closure`]); set
/// [`name`](Self::name), [`daemon`](Self::daemon) and
/// [`start_method`](Self::start_method); then [`start`](Self::start) it. The argument
/// and the return value cross between the processes with serde, so they may contain
/// [`Connection`](crate::Connection)s, queues, locks and shared values. A panic in the
/// child comes back as [`ProcessError::Panicked`] with its message; a child that dies
/// (killed, `exit`) as [`ProcessError::Died`] with its exit code.
///
/// Dropping a `Process` does not stop the child (as in Python): it keeps running and is
/// reaped later, and the program waits for it at exit unless it is a daemon, which is
/// terminated then.
///
/// # Examples
///
/// ```
/// use conc_process::{Process, StartMethod};
///
/// fn greet(name: String) -> String {
///     format!("hello {name} from pid {}", std::process::id())
/// }
///
/// let p = Process::new(greet, "bob".to_string()).start_method(StartMethod::Fork);
/// p.start().unwrap();
/// let pid = p.pid().unwrap();
/// assert_eq!(p.result().unwrap(), format!("hello bob from pid {pid}"));
/// ```
///
/// With [`init`](crate::init) as the first line of `main`, `spawn` and the default
/// `forkserver` work the same way:
///
/// ```standalone_crate
/// fn work(n: u32) -> u32 {
///     n + 1
/// }
///
/// fn main() {
///     conc_process::init();
///     let p = conc_process::Process::new(work, 41).name("worker");
///     p.start().unwrap();
///     p.join().unwrap();
///     assert_eq!(p.exitcode(), Some(0));
/// }
/// ```
pub struct Process<R> {
    name: String,
    path: Vec<u32>,
    daemon: bool,
    method: Option<StartMethod>,
    job: Mutex<Option<Box<dyn Job<R>>>>,
    running: OnceLock<Running<R>>,
    /// Set by [`close`](Process::close): the handle is spent.
    closed: AtomicBool,
}

impl<R> fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.started() {
            None if self.closed.load(Ordering::Relaxed) => "closed".to_owned(),
            None => "initial".to_owned(),
            Some(r) => match r.child.poll() {
                None => "started".to_owned(),
                Some(code) => format!("stopped exitcode={code}"),
            },
        };
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("daemon", &self.daemon)
            .field("state", &state)
            .finish()
    }
}

impl<R> Process<R>
where
    R: Serialize + for<'de> Deserialize<'de> + Send + 'static,
{
    /// A process that will run `func(args)`. Works with every start method: for
    /// `spawn` and `forkserver` the function is found again in the child by its offset
    /// in this program, and `args` is sent to it with serde.
    ///
    /// `func` is a function pointer: a named `fn`, or a closure that captures nothing.
    /// Several arguments travel as a tuple.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// fn add((a, b): (i32, i32)) -> i32 {
    ///     a + b
    /// }
    ///
    /// let p = Process::new(add, (2, 3)).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 5);
    /// ```
    pub fn new<A>(func: fn(A) -> R, args: A) -> Self
    where
        A: Serialize + for<'de> Deserialize<'de> + Send + 'static,
    {
        Self::with_job(Box::new(FnJob { func, args }))
    }

    /// A process that will run a closure, which may capture any `Send` state. Only the
    /// `fork` start method can run it (the child is a copy of this process); with the
    /// others [`start`](Self::start) fails with [`ProcessError::InvalidArgument`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let words = vec!["a", "bb", "ccc"];
    /// let p = Process::from_closure(move || words.iter().map(|w| w.len()).sum::<usize>())
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 6);
    /// ```
    pub fn from_closure<F>(f: F) -> Self
    where
        F: FnOnce() -> R + Send + 'static,
    {
        Self::with_job(Box::new(ClosureJob(f)))
    }

    fn with_job(job: Box<dyn Job<R>>) -> Self {
        let (path, name) = current::next_child_path();
        Process {
            name,
            path,
            daemon: current::is_daemon(),
            method: None,
            job: Mutex::new(Some(job)),
            running: OnceLock::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Sets the name (default `"Process-N"`, numbered in creation order, as in Python).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conc_process::Process::new(|x: u8| x, 1).name("worker-1");
    /// assert_eq!(p.get_name(), "worker-1");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Makes the child a daemon: terminated (`SIGTERM`) when this program exits instead
    /// of waited for, and not allowed to start children of its own (as in Python).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conc_process::Process::new(|x: u8| x, 1).daemon(true);
    /// assert!(p.is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Chooses the start method for this process, overriding
    /// [`get_start_method`](crate::get_start_method).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|x: u8| x, 1).start_method(StartMethod::Fork);
    /// assert_eq!(p.get_start_method(), StartMethod::Fork);
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Starts the child (Python's `start()`).
    ///
    /// # Errors
    ///
    /// - [`ProcessError::InvalidState`] if it was already started, or if this process
    ///   is itself a daemon (daemons may not have children).
    /// - [`ProcessError::NotInitialized`] for `spawn`/`forkserver` when
    ///   [`init`](crate::init) never ran.
    /// - [`ProcessError::InvalidArgument`] for a closure with `spawn`/`forkserver`.
    /// - [`ProcessError::StartFailed`] or [`ProcessError::Os`] when the child could not
    ///   be created, or died before it could run the function.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, ProcessError, StartMethod};
    ///
    /// let p = Process::new(|x: u8| x, 1).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// assert!(matches!(p.start(), Err(ProcessError::InvalidState(_))));
    /// p.join().unwrap();
    /// ```
    pub fn start(&self) -> Result<(), ProcessError> {
        self.check_open()?;
        if current::is_daemon() {
            return Err(ProcessError::InvalidState(
                "daemonic processes are not allowed to have children",
            ));
        }
        let method = self.get_start_method();
        let job = {
            let mut slot = self.job.lock().unwrap_or_else(|e| e.into_inner());
            // Check what can be checked before taking the job, so a failed start can
            // be retried (after `init`, or with another start method).
            let job_ref = slot
                .as_ref()
                .ok_or(ProcessError::InvalidState("cannot start a process twice"))?;
            if method != StartMethod::Fork {
                if !crate::init::is_initialized() {
                    return Err(ProcessError::NotInitialized(method.as_str()));
                }
                if job_ref.is_closure() {
                    return Err(closure_needs_fork());
                }
            }
            slot.take().expect("checked above")
        };
        sys::keep_exit_statuses();
        sys::ensure_std_fds_open();
        let identity = Identity {
            name: self.name.clone(),
            path: self.path.clone(),
            daemon: self.daemon,
            parent_pid: sys::getpid(),
            parent_name: current::current_name(),
            start_method: method,
            default_method: crate::get_start_method(),
            // A fork child inherits the working directory anyway.
            cwd: (method != StartMethod::Fork)
                .then(|| std::env::current_dir().ok())
                .flatten(),
        };
        let (outcome_tx, outcome_rx) = ipc::channel::<Outcome<R>>()?;
        // Each start method returns its child unregistered; it is registered here, and
        // then (spawn, forkserver) sent its arguments.
        let (child, send_args) = match method {
            StartMethod::Fork => {
                warn_if_threads();
                let pid = launcher::fork(Box::new(move || {
                    bootstrap::child_main(identity, move || {
                        bootstrap::run_and_report(move || job.run_here(), &outcome_tx)
                    })
                }))?;
                let child = Child::new(pid, self.name.clone(), self.daemon, Reaper::Direct);
                (Arc::new(child), None)
            }
            StartMethod::Spawn | StartMethod::Forkserver => {
                let remote = job.remote()?;
                let boot = Bootstrap {
                    identity,
                    entry: remote.entry,
                    func: remote.func,
                    args: remote.args,
                    outcome: Descriptor(outcome_tx.into_fd()),
                };
                let child = if method == StartMethod::Spawn {
                    spawn::start(&self.name, self.daemon, boot)?
                } else {
                    forkserver::start(&self.name, self.daemon, boot)?
                };
                (child, Some(remote.send_args))
            }
        };
        registry::register(child.clone());
        if let Some(send_args) = send_args {
            // The rest of large arguments (encoded before the start: nothing can fail
            // to encode now). An error means the child died while reading; `join`
            // reports how.
            let _ = send_args();
        }
        let _ = self.running.set(Running {
            owner: sys::getpid(),
            child,
            received: conc_thread::sync::Mutex::new(Received::Waiting(outcome_rx)),
        });
        Ok(())
    }

    /// Waits for the child to end (Python's `join()`), then says how its function
    /// ended. Any number of threads may join, any number of times.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Panicked`] with the child's panic message.
    /// - [`ProcessError::Died`] if the child ended without a result and with a non-zero
    ///   exit code or a signal (killed, `exit(3)`, a crash).
    /// - [`ProcessError::Serialization`] if the argument or result could not cross.
    /// - [`ProcessError::InvalidState`] if the process was never started (Python:
    ///   `AssertionError('can only join a started process')`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, ProcessError, StartMethod};
    ///
    /// fn fail(_: ()) {
    ///     panic!("no luck");
    /// }
    ///
    /// let p = Process::new(fail, ()).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// match p.join() {
    ///     Err(ProcessError::Panicked { message, .. }) => assert_eq!(message, "no luck"),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// assert_eq!(p.exitcode(), Some(1));
    /// ```
    pub fn join(&self) -> Result<(), ProcessError> {
        self.join_deadline(None)
    }

    /// Like [`join`](Self::join), giving up after `timeout` (Python's `join(timeout)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] if the child is still running; the errors of
    /// [`join`](Self::join) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Process, ProcessError, StartMethod};
    ///
    /// let p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 30)
    ///     .name("sleeper")
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let late = p.join_timeout(Duration::from_millis(50)).unwrap_err();
    /// assert!(matches!(late, ProcessError::Timeout { .. }));
    /// assert_eq!(late.to_string(), "timed out after 50ms waiting for process 'sleeper' to end");
    /// p.kill().unwrap();
    /// assert!(matches!(p.join(), Err(ProcessError::Died { exitcode: -9, .. })));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ProcessError> {
        self.join_deadline(Instant::now().checked_add(timeout))
            .map_err(|e| e.waited_for(format!("process '{}' to end", self.get_name()), timeout))
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> Result<(), ProcessError> {
        let running = self.running()?;
        let exitcode = self.wait_deadline(running, deadline)?;
        let received = running.received.lock();
        match &*received {
            Received::Got(Outcome::Returned(_)) | Received::Taken => Ok(()),
            Received::Got(Outcome::Panicked(message)) => Err(ProcessError::Panicked {
                name: self.name.clone(),
                message: message.clone(),
            }),
            Received::Got(Outcome::Failed(message)) => {
                Err(ProcessError::Serialization(message.clone()))
            }
            Received::Nothing | Received::Waiting(_) if exitcode == 0 => Ok(()),
            Received::Nothing | Received::Waiting(_) => Err(ProcessError::Died {
                name: self.name.clone(),
                exitcode,
            }),
        }
    }

    /// Waits for the child and returns what its function returned (the value Python's
    /// `Process` throws away).
    ///
    /// # Errors
    ///
    /// The errors of [`join`](Self::join); [`ProcessError::Died`] as well when the
    /// child exited with code 0 without returning (it called `exit(0)`), and
    /// [`ProcessError::InvalidState`] when the value was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|v: Vec<u32>| v.iter().sum::<u32>(), vec![1, 2, 3])
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// assert_eq!(p.result().unwrap(), 6);
    /// ```
    pub fn result(&self) -> Result<R, ProcessError> {
        self.join()?;
        let running = self.running()?;
        let mut received = running.received.lock();
        match std::mem::replace(&mut *received, Received::Taken) {
            Received::Got(Outcome::Returned(value)) => Ok(value),
            Received::Taken => Err(ProcessError::InvalidState("the result was already taken")),
            other => {
                *received = other;
                Err(ProcessError::Died {
                    name: self.name.clone(),
                    exitcode: running.child.poll().unwrap_or(0),
                })
            }
        }
    }

    /// Reads the result channel and reaps the child; the exit code.
    fn wait_deadline(
        &self,
        running: &Running<R>,
        deadline: Option<Instant>,
    ) -> Result<i32, ProcessError> {
        let mut received = match deadline {
            None => running.received.lock(),
            Some(d) => running
                .received
                .try_lock_until(d)
                .ok_or(ProcessError::timed_out())?,
        };
        // Read the result first: a child blocked sending a large result would never
        // exit while we waited for it to.
        while let Received::Waiting(rx) = &mut *received {
            let slice = deadline.map_or(RESULT_POLL, |d| {
                d.saturating_duration_since(Instant::now()).min(RESULT_POLL)
            });
            let next = match rx.recv_until(Instant::now().checked_add(slice)) {
                Ok(outcome) => Received::Got(outcome),
                Err(ProcessError::Timeout { .. }) => {
                    if running.child.poll().is_some() {
                        // It ended: whatever it sent is already queued.
                        match rx.recv_until(Some(Instant::now())) {
                            Ok(outcome) => Received::Got(outcome),
                            Err(_) => Received::Nothing,
                        }
                    } else if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(ProcessError::timed_out());
                    } else {
                        continue;
                    }
                }
                Err(ProcessError::Eof) => Received::Nothing,
                Err(e) => Received::Got(Outcome::Failed(format!(
                    "the result could not be received: {e}"
                ))),
            };
            *received = next;
        }
        drop(received);
        running
            .child
            .wait(deadline)
            .ok_or(ProcessError::timed_out())
    }

    fn running(&self) -> Result<&Running<R>, ProcessError> {
        self.check_open()?;
        self.running.get().ok_or(ProcessError::InvalidState(
            "can only join a started process",
        ))
    }
}

impl<R> Process<R> {
    /// The process's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = conc_process::Process::new(|x: u8| x, 1).name("w");
    /// assert_eq!(p.get_name(), "w");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Whether the child is (or will be) a daemon.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The start method this process uses: its own, or the process-wide default.
    pub fn get_start_method(&self) -> StartMethod {
        self.method.unwrap_or_else(crate::get_start_method)
    }

    /// The child's process id, once started.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|_: ()| std::process::id(), ()).start_method(StartMethod::Fork);
    /// assert_eq!(p.pid(), None);
    /// p.start().unwrap();
    /// let pid = p.pid().unwrap();
    /// assert_eq!(p.result().unwrap(), pid);
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.started().map(|r| r.child.pid as u32)
    }

    /// Whether the child was started and has not ended yet (Python's `is_alive()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|_: ()| (), ()).start_method(StartMethod::Fork);
    /// assert!(!p.is_alive());
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// assert!(!p.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.started()
            .is_some_and(|r| check_owner(r.owner).is_ok() && r.child.poll().is_none())
    }

    /// The exit code once the child has ended: 0 after a normal return, 1 after a
    /// panic, the code given to `exit`, or minus the signal number when a signal killed
    /// it (Python's `exitcode`). `None` while it runs or before it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// fn quit(code: i32) {
    ///     std::process::exit(code)
    /// }
    ///
    /// let p = Process::new(quit, 3).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let _ = p.join();
    /// assert_eq!(p.exitcode(), Some(3));
    /// ```
    pub fn exitcode(&self) -> Option<i32> {
        self.started()
            .filter(|r| check_owner(r.owner).is_ok())
            .and_then(|r| r.child.poll())
    }

    /// Sends `SIGTERM` (Python's `terminate()`); does nothing if the child has ended.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] before `start`; [`ProcessError::Os`] if the
    /// signal could not be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 30)
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// p.terminate().unwrap();
    /// let _ = p.join();
    /// assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
    /// ```
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGTERM)
    }

    /// Sends `SIGKILL` (Python's `kill()`); does nothing if the child has ended.
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Self::terminate).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 30)
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// p.kill().unwrap();
    /// let _ = p.join();
    /// assert_eq!(p.exitcode(), Some(-9));
    /// ```
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGKILL)
    }

    fn signal(&self, sig: libc::c_int) -> Result<(), ProcessError> {
        self.owned_child()?
            .signal(sig)
            .map_err(|e| ProcessError::os("cannot signal the child", e))
    }

    /// A cloneable handle on the started child (see [`ChildProcess`]); `None` before
    /// `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|_: ()| (), ()).start_method(StartMethod::Fork);
    /// assert!(p.handle().is_none());
    /// p.start().unwrap();
    /// assert_eq!(p.handle().unwrap().wait(None), Some(0));
    /// ```
    pub fn handle(&self) -> Option<ChildProcess> {
        self.started().map(|r| ChildProcess(r.child.clone()))
    }

    /// A file descriptor that becomes readable when the child ends (Python's
    /// `sentinel`), to wait for several children and other descriptors at once with
    /// `poll`/`epoll` (or an event loop). It stays valid while this `Process` lives;
    /// reading it is not needed, and its readiness stays once the child ended.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] before [`start`](Process::start), after
    /// [`close`](Process::close), or in a process that did not start the child;
    /// [`ProcessError::Os`] if the descriptor cannot be made (or, for a `fork`/`spawn`
    /// child, the kernel has no pidfds: Linux before 5.3).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|_: ()| (), ()).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let fd = p.sentinel().unwrap();
    /// let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    /// // SAFETY: one valid pollfd; waits until the child has ended.
    /// assert_eq!(unsafe { libc::poll(&mut pfd, 1, -1) }, 1);
    /// p.join().unwrap();
    /// ```
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        self.owned_child()?.sentinel()
    }

    /// The started child, if this handle is open and this process started it.
    fn owned_child(&self) -> Result<&Child, ProcessError> {
        self.check_open()?;
        let running = self
            .running
            .get()
            .ok_or(ProcessError::InvalidState("the process was not started"))?;
        check_owner(running.owner)?;
        Ok(&running.child)
    }

    /// Releases what this handle holds (the result channel; the child's record once
    /// reaped) and makes it unusable, as Python's `close()`: afterwards `start`, `join`,
    /// `result`, `terminate`, `kill` and `sentinel` fail with
    /// [`ProcessError::InvalidState`], and `pid`, `exitcode` and `handle` are `None`.
    /// A process never started can be closed too. Closing twice is allowed.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] while the child is still running (join or
    /// terminate it first), as Python raises `ValueError`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, ProcessError, StartMethod};
    ///
    /// let p = Process::new(|x: u8| x, 1).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// p.join().unwrap();
    /// p.close().unwrap();
    /// assert!(matches!(p.result(), Err(ProcessError::InvalidState(_))));
    /// assert_eq!(p.exitcode(), None);
    /// ```
    pub fn close(&self) -> Result<(), ProcessError> {
        if let Some(running) = self.running.get()
            && running.owner == sys::getpid()
            && running.child.poll().is_none()
        {
            return Err(ProcessError::InvalidState(
                "cannot close a process while it is still running; join or terminate it first",
            ));
        }
        self.closed.store(true, Ordering::Relaxed);
        if let Some(running) = self.running.get() {
            // Drops the result channel (and any result not taken).
            *running.received.lock() = Received::Taken;
        }
        drop(self.job.lock().unwrap_or_else(|e| e.into_inner()).take());
        Ok(())
    }

    /// The running state, unless the handle was closed.
    fn started(&self) -> Option<&Running<R>> {
        if self.closed.load(Ordering::Relaxed) {
            None
        } else {
            self.running.get()
        }
    }

    fn check_open(&self) -> Result<(), ProcessError> {
        if self.closed.load(Ordering::Relaxed) {
            Err(ProcessError::InvalidState("process object is closed"))
        } else {
            Ok(())
        }
    }
}

/// Only the process that started a child may wait for it or signal it.
fn check_owner(owner: sys::Pid) -> Result<(), ProcessError> {
    if owner == sys::getpid() {
        Ok(())
    } else {
        Err(ProcessError::InvalidState(
            "a Process can only be joined or signalled by the process that started it",
        ))
    }
}

/// Logs Python 3.12's warning once (`log::warn!`): `fork` with other threads running.
fn warn_if_threads() {
    // An atomic flag, not a `Once`: a fork while another thread logged inside a
    // `Once` would leave the child one that never completes.
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.load(Ordering::Relaxed) {
        return;
    }
    // The caller (blocked while we fork) and the launcher thread, if it exists, are
    // accounted for; any other thread may hold a lock at the fork.
    let ours = 1 + usize::from(launcher::running());
    if sys::thread_count().is_some_and(|n| n > ours) && !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "this process is multi-threaded; the 'fork' start method may deadlock the \
             child if another thread holds a lock at the fork. Prefer 'forkserver' or \
             'spawn' (see StartMethod)."
        );
    }
}

/// A cloneable handle on a started child, whatever its result type: what
/// [`active_children`] returns and [`Process::handle`] gives.
///
/// Only the process that started the child may wait for it or signal it (Python: "can
/// only join a child process"). In another process (a handle inherited by a `fork`
/// child) [`is_alive`](Self::is_alive) is `false`, [`exitcode`](Self::exitcode) and
/// [`wait`](Self::wait) are `None` at once, and [`terminate`](Self::terminate) and
/// [`kill`](Self::kill) fail: the handle never reaps or signals a process that is not
/// its caller's, so the real parent still gets the real exit code.
///
/// # Examples
///
/// ```
/// use conc_process::{Process, StartMethod};
///
/// let p = Process::new(|_: ()| (), ()).start_method(StartMethod::Fork);
/// p.start().unwrap();
/// let h = p.handle().unwrap();
/// assert_eq!(h.pid(), p.pid().unwrap());
/// assert_eq!(h.wait(None), Some(0));
/// ```
#[derive(Clone, Debug)]
pub struct ChildProcess(Arc<Child>);

impl ChildProcess {
    /// The child's process id.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|_: ()| (), ()).name("kid").start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let h = p.handle().unwrap();
    /// assert_eq!((h.pid(), h.name(), h.daemon()), (p.pid().unwrap(), "kid", false));
    /// p.join().unwrap();
    /// assert!(!h.is_alive());
    /// assert_eq!(h.exitcode(), Some(0));
    /// ```
    pub fn pid(&self) -> u32 {
        self.0.pid as u32
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the child is a daemon.
    pub fn daemon(&self) -> bool {
        self.0.daemon
    }

    /// Whether the child still runs.
    pub fn is_alive(&self) -> bool {
        self.0.is_ours() && self.0.poll().is_none()
    }

    /// The exit code once it has ended (see [`Process::exitcode`]).
    pub fn exitcode(&self) -> Option<i32> {
        self.0.poll()
    }

    /// A descriptor that becomes readable when the child ends (see
    /// [`Process::sentinel`]).
    ///
    /// # Errors
    ///
    /// As for [`Process::sentinel`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|_: ()| (), ()).start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let handle = p.handle().unwrap();
    /// assert!(handle.sentinel().is_ok());
    /// p.join().unwrap();
    /// ```
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        self.0.sentinel()
    }

    /// Waits for the child to end, at most `timeout` if given; its exit code, or `None`
    /// if it is still running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 30)
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let h = p.handle().unwrap();
    /// assert_eq!(h.wait(Some(Duration::from_millis(10))), None);
    /// h.kill().unwrap();
    /// assert_eq!(h.wait(None), Some(-9));
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> Option<i32> {
        self.0.wait(timeout.map(|t| Instant::now() + t))
    }

    /// Sends `SIGTERM`, unless the child has ended.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the signal could not be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Process, StartMethod};
    ///
    /// let p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 30)
    ///     .start_method(StartMethod::Fork);
    /// p.start().unwrap();
    /// let child = p.handle().unwrap();
    /// child.terminate().unwrap();
    /// assert_eq!(child.wait(None), Some(-15));
    /// ```
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.0
            .signal(libc::SIGTERM)
            .map_err(|e| ProcessError::os("cannot signal the child", e))
    }

    /// Sends `SIGKILL`, unless the child has ended.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the signal could not be sent.
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.0
            .signal(libc::SIGKILL)
            .map_err(|e| ProcessError::os("cannot signal the child", e))
    }
}

/// The children of this process that are still running, reaping those that have ended
/// (Python's `multiprocessing.active_children()`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_process::{Process, StartMethod};
///
/// let p = Process::new(|s: u64| std::thread::sleep(Duration::from_secs(s)), 30)
///     .start_method(StartMethod::Fork);
/// p.start().unwrap();
/// assert!(conc_process::active_children().iter().any(|c| Some(c.pid()) == p.pid()));
/// p.kill().unwrap();
/// let _ = p.join();
/// assert!(!conc_process::active_children().iter().any(|c| Some(c.pid()) == p.pid()));
/// ```
pub fn active_children() -> Vec<ChildProcess> {
    registry::active().into_iter().map(ChildProcess).collect()
}
