//! The `spawn` start method: re-execute this program and hand it a [`Bootstrap`].
//!
//! ```text
//! parent                                   child (/proc/self/exe, same argv)
//! ------                                   -----
//! listen on abstract "S" --- env CONC_PROCESS_SPAWN="<ppid>:S" ------> main → init()
//! accept (peer pid checked) <-------------------------------------------- connect(S)
//! Bootstrap ------------------------------------------------------------> run_bootstrap
//! arguments (on their own channel) -------------------------------------> entry::<A, R>
//! ```
//!
//! The parent accepts in slices while it watches the child: a child that dies before
//! connecting (it never calls `init`, or crashes first) is reported as
//! [`ProcessError::StartFailed`] instead of a hang. Each side checks the other's pid
//! (`SO_PEERCRED`), so another process connecting to the name gets nothing.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ProcessError;
use crate::bootstrap::{self, Bootstrap};
use crate::child::Child;
use crate::sys::{self, Pid};
use crate::{ipc, launcher};

/// The environment variable that tells a re-executed program it is a spawn child.
pub(crate) const SPAWN_ENV: &str = "CONC_PROCESS_SPAWN";

/// Starts `/proc/self/exe` as a spawn child; returns it, not yet registered, once it
/// has its bootstrap (the caller registers it and ships its arguments, as for every
/// start method). A child that fails the handshake is killed and reaped here.
pub(crate) fn start(
    child_name: &str,
    daemon: bool,
    boot: Bootstrap,
) -> Result<Arc<Child>, ProcessError> {
    let (listener, name) = ipc::listen_abstract("conc-process-spawn")?;
    let env_value = format!("{}:{}", sys::getpid(), name);
    let pid = launcher::run(move || launch(env_value))??;
    let child = Arc::new(Child::new(
        pid,
        child_name.to_owned(),
        daemon,
        crate::child::Reaper::Direct,
    ));
    let outcome = handshake(&child, child_name, &listener, boot);
    if outcome.is_err() && child.poll().is_none() {
        let _ = child.signal(libc::SIGKILL);
        child.wait(None);
    }
    outcome.map(|()| child)
}

/// Waits for the child to connect (or to end), then sends it its bootstrap.
fn handshake(
    child: &Child,
    child_name: &str,
    listener: &OwnedFd,
    boot: Bootstrap,
) -> Result<(), ProcessError> {
    let socket = loop {
        let slice = Instant::now() + Duration::from_millis(20);
        if let Some(socket) = ipc::accept_from(listener.as_fd(), child.pid, slice)? {
            break socket;
        }
        if let Some(exitcode) = child.poll() {
            return Err(ProcessError::StartFailed {
                name: child_name.to_owned(),
                reason: format!(
                    "it ended ({}) before reaching conc_process::init(); \
                     is init() the first line of main?",
                    crate::error::describe_exitcode(exitcode)
                ),
            });
        }
    };
    ipc::send_value(socket.as_fd(), &boot, None)
}

/// Runs on the launcher thread: starts the program again with the handshake variable.
///
/// No `pre_exec` hook: with one, std must `fork` the whole parent; without, it uses
/// `posix_spawn` (a `vfork`), much cheaper for a big parent. The child arms
/// `PR_SET_PDEATHSIG` itself, first thing in `init`, and checks its parent is still the
/// one that started it.
fn launch(env_value: String) -> Result<Pid, ProcessError> {
    let mut args = std::env::args_os();
    let arg0 = args
        .next()
        .unwrap_or_else(|| OsString::from("conc-process-child"));
    let mut command = Command::new("/proc/self/exe");
    if let Some(fd) = crate::watchdog::read_end_for_children() {
        command.env(crate::watchdog::FD_ENV, fd.to_string());
    }
    let child = command
        .arg0(arg0)
        .args(args)
        .env(SPAWN_ENV, env_value)
        // Python gives spawned children a closed stdin as well.
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| ProcessError::os("cannot re-execute this program", e))?;
    // Dropping a std `Child` neither waits nor kills; we reap by pid ourselves.
    Ok(child.id() as Pid)
}

/// What `init` found in the environment of a spawn child: the parent's handshake
/// server.
#[derive(Debug)]
pub(crate) struct Ticket {
    parent: Pid,
    server_name: String,
}

/// Called by `init` in every program start: `Some` if this process is a spawn child
/// (its parent set the variable and is still its parent).
pub(crate) fn take_child_ticket() -> Option<Ticket> {
    let value = std::env::var_os(SPAWN_ENV)?;
    let value = value.to_string_lossy().into_owned();
    let (ppid, server_name) = value.split_once(':')?;
    // Only for us: a program this child starts later must not take the variable as its
    // own. `init` runs before any thread exists (checked), so removing it is sound.
    // The variable only exists when the parent forced the watchdog: then it replaces
    // the death signal here too.
    if crate::watchdog::take_from_env() {
        crate::watchdog::force();
    }
    if sys::thread_count() == Some(1) {
        // SAFETY: single-threaded: nothing can read the environment concurrently.
        unsafe {
            std::env::remove_var(SPAWN_ENV);
            std::env::remove_var(crate::watchdog::FD_ENV);
        }
    }
    let ppid = ppid.parse::<Pid>().ok()?;
    // Die with the parent; if it is already gone (or this is not its child: the
    // variable leaked into a grandchild), do not run someone else's function.
    sys::die_with_parent(ppid, crate::watchdog::death_signal_wanted());
    Some(Ticket {
        parent: ppid,
        server_name: server_name.to_owned(),
    })
}

/// Runs the spawn child's function (received from the parent) and exits.
pub(crate) fn run_child(ticket: Ticket) -> ! {
    // The last resort before the child exits: it has not run the user's code yet, so
    // no logger can be set up; stderr is all there is.
    let fail = |what: &str, err: &dyn std::fmt::Display| -> ! {
        eprintln!("conc-process: spawn child {}: {what}: {err}", sys::getpid());
        sys::exit_now(1)
    };
    let socket = ipc::connect_abstract(&ticket.server_name, ticket.parent)
        .unwrap_or_else(|e| fail("cannot reach the parent", &e));
    let mut boot = ipc::Receiver::<Bootstrap>::from_fd(socket);
    let boot = boot
        .recv()
        .unwrap_or_else(|e| fail("no bootstrap from the parent", &e));
    bootstrap::run_bootstrap(boot)
}
