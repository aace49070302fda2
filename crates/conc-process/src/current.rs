//! Who this process is: `current_process()`, `parent_process()`, child naming.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::StartMethod;
use crate::hooks::{self, ForkLockRank};
use crate::sys::{self, Pid};

/// What a child learns about itself from its parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) name: String,
    /// Python's `_identity`: `[1]` for the first child, `[1, 2]` for its second child.
    pub(crate) path: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) parent_pid: Pid,
    pub(crate) parent_name: String,
    pub(crate) start_method: StartMethod,
    /// The parent's default start method, so the child's own children use it too
    /// (Python sends it along as well).
    pub(crate) default_method: StartMethod,
    /// The parent's working directory at `start` (a fork-server child would otherwise
    /// inherit the server's, fixed at `init`).
    pub(crate) cwd: Option<std::path::PathBuf>,
}

/// Set once in a child, before its function runs; unset in the main process.
static IDENTITY: Mutex<Option<(Pid, Identity)>> = Mutex::new(None);
/// Children started so far by this process, for their default names.
static CHILD_COUNTER: AtomicU32 = AtomicU32::new(0);
/// The process that ran `init` (the program's main process), set by `init`.
static MAIN_PID: OnceLock<Pid> = OnceLock::new();

/// Records this process as the program's main one (called by `init`).
pub(crate) fn record_main_process() {
    MAIN_PID.get_or_init(sys::getpid);
}

/// The pid of the process that ran `init` (0 if none did).
pub(crate) fn main_pid() -> Pid {
    MAIN_PID.get().copied().unwrap_or(0)
}

/// The identity's lock, registered to be held across the engine's forks.
fn identity_lock() -> std::sync::MutexGuard<'static, Option<(Pid, Identity)>> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(&REGISTERED, ForkLockRank::Identity, || -> Box<dyn Any> {
        Box::new(IDENTITY.lock().unwrap_or_else(|e| e.into_inner()))
    });
    IDENTITY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records, in a freshly started child, who it is.
pub(crate) fn become_child(identity: Identity) {
    CHILD_COUNTER.store(0, Ordering::Relaxed);
    if let Some(cwd) = &identity.cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    let _ = crate::set_start_method(identity.default_method, true);
    // Python's `_bootstrap` gives every child a closed stdin (`/dev/null`): a child
    // must not compete with its parent for the terminal or the parent's input.
    sys::stdin_from_devnull();
    *identity_lock() = Some((sys::getpid(), identity));
}

fn identity() -> Option<Identity> {
    let guard = identity_lock();
    match &*guard {
        // A fork child that has not yet called `become_child` still sees its parent's
        // record: the pid tells them apart.
        Some((pid, id)) if *pid == sys::getpid() => Some(id.clone()),
        _ => None,
    }
}

/// The identity and default name of the next child this process starts.
pub(crate) fn next_child_path() -> (Vec<u32>, String) {
    let n = CHILD_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let mut path = identity().map(|id| id.path).unwrap_or_default();
    path.push(n);
    let digits: Vec<String> = path.iter().map(u32::to_string).collect();
    let name = format!("Process-{}", digits.join(":"));
    (path, name)
}

/// A description of a process: this one ([`current_process`]) or its parent
/// ([`parent_process`]).
///
/// # Examples
///
/// ```
/// let me = conc_process::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// assert!(conc_process::parent_process().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    name: String,
    pid: u32,
    daemon: bool,
    start_method: Option<StartMethod>,
}

impl ProcessInfo {
    /// The process's name: `"MainProcess"`, `"Process-1"`, `"Process-1:2"`, or the name
    /// given with [`Process::name`](crate::Process::name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operating system's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process was started as a daemon (Python's `daemon` flag).
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// How the process was started; `None` for the main process and for the parent
    /// seen from a child.
    pub fn start_method(&self) -> Option<StartMethod> {
        self.start_method
    }

    /// Whether the process still runs. For the parent seen from a child, it is checked
    /// with a signal-0 probe, so a recycled pid could read as alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let me = conc_process::current_process();
    /// assert!(me.is_alive());
    /// assert!(!me.daemon());
    /// assert_eq!(me.start_method(), None); // the main program was not started by us
    /// ```
    pub fn is_alive(&self) -> bool {
        self.pid == std::process::id() || sys::kill(self.pid as Pid, 0).is_ok()
    }
}

/// The process this code runs in (Python's `multiprocessing.current_process()`).
///
/// In the main program its name is `"MainProcess"`; in a child it is the child's name.
///
/// # Examples
///
/// ```
/// let me = conc_process::current_process();
/// println!("{} has pid {}", me.name(), me.pid());
/// ```
pub fn current_process() -> ProcessInfo {
    match identity() {
        Some(id) => ProcessInfo {
            name: id.name,
            pid: std::process::id(),
            daemon: id.daemon,
            start_method: Some(id.start_method),
        },
        None => ProcessInfo {
            name: "MainProcess".into(),
            pid: std::process::id(),
            daemon: false,
            start_method: None,
        },
    }
}

/// The process that started this one, or `None` in the main program (Python's
/// `multiprocessing.parent_process()`, new in 3.8).
///
/// For children of the `forkserver` method this is the process that asked for the
/// child, not the server that forked it (as in Python).
///
/// # Examples
///
/// ```
/// // In the main program there is no parent process.
/// assert!(conc_process::parent_process().is_none());
/// ```
pub fn parent_process() -> Option<ProcessInfo> {
    identity().map(|id| ProcessInfo {
        name: id.parent_name,
        pid: id.parent_pid as u32,
        daemon: false,
        start_method: None,
    })
}

/// The name this process gives itself when telling children who their parent is.
pub(crate) fn current_name() -> String {
    identity().map_or_else(|| "MainProcess".to_owned(), |id| id.name)
}

/// Whether this process is a daemon child (daemons may not start children, as in Python).
pub(crate) fn is_daemon() -> bool {
    identity().is_some_and(|id| id.daemon)
}

/// The number of logical CPUs (Python's `multiprocessing.cpu_count()`).
///
/// # Examples
///
/// ```
/// assert!(conc_process::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    sys::cpu_count()
}
