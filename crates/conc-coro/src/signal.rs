//! Unix signals as green events (gevent's `signal_handler`): a greenlet waits for a
//! signal as it waits for a socket, so a server can stop gracefully on `SIGTERM`.
//! Built on signal-hook's self-pipe (`signal-hook-mio`), registered with the hub.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use mio::Token;
use signal_hook_mio::v1_0::Signals;

use crate::hub::{Core, Direction, deadline, hub};
use crate::{HubError, Task, spawn};

/// Signals delivered to the process, waited on by greenlets: [`wait`](SignalWatcher::wait)
/// parks the calling greenlet until one of the watched signals arrives.
///
/// While a watcher exists, the watched signals no longer have their default effect
/// (a `SIGTERM` no longer ends the process): the watcher receives them instead.
/// Signals that cannot be caught (`SIGKILL`, `SIGSTOP`) or that signal-hook refuses
/// to handle (`SIGSEGV`, `SIGILL`, `SIGFPE`) are an error. A watcher belongs to the
/// process that made it: after a `fork`, make a new one in the child.
///
/// # Examples
///
/// ```
/// use conc_coro::SignalWatcher;
///
/// let watcher = SignalWatcher::new(&[libc::SIGUSR2]).unwrap();
/// // SAFETY: sending a signal to this process; a watcher is installed for it.
/// unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
/// assert_eq!(watcher.wait(None), Ok(libc::SIGUSR2));
/// ```
pub struct SignalWatcher {
    core: Rc<Core>,
    token: Token,
    signals: RefCell<Signals>,
    /// Signals read from the pipe and not yet handed out.
    buffered: RefCell<VecDeque<libc::c_int>>,
}

impl std::fmt::Debug for SignalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWatcher").finish_non_exhaustive()
    }
}

impl SignalWatcher {
    /// Starts watching `signals`.
    ///
    /// # Errors
    ///
    /// If a signal cannot be handled (see above), or the hub cannot register the
    /// watcher.
    pub fn new(signals: &[libc::c_int]) -> io::Result<SignalWatcher> {
        let core = hub()?;
        let mut watched = Signals::new(signals)?;
        let token = core.register(&mut watched)?;
        Ok(SignalWatcher {
            core,
            token,
            signals: RefCell::new(watched),
            buffered: RefCell::new(VecDeque::new()),
        })
    }

    /// Waits for the next watched signal, at most `timeout`; returns its number.
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`]; [`HubError::InHub`]; with nothing else to wait for, a
    /// main greenlet still waits (a signal can always come), it is not a `LoopExit`.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<libc::c_int, HubError> {
        let deadline = deadline(timeout);
        loop {
            if let Some(sig) = self.buffered.borrow_mut().pop_front() {
                return Ok(sig);
            }
            self.buffered
                .borrow_mut()
                .extend(self.signals.borrow_mut().pending());
            if !self.buffered.borrow().is_empty() {
                continue;
            }
            self.core
                .wait_io(self.token, Direction::Read, deadline, "a signal")?;
        }
    }
}

impl Drop for SignalWatcher {
    fn drop(&mut self) {
        self.core.deregister(self.token, self.signals.get_mut());
    }
}

/// Calls `handler` in a new greenlet each time `signal` arrives (gevent's
/// `signal_handler`), until the returned task is killed.
///
/// # Errors
///
/// As [`SignalWatcher::new`].
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let stop = conc_coro::Event::new();
/// let on_term = {
///     let stop = stop.clone();
///     conc_coro::signal_handler(libc::SIGUSR1, move || stop.set()).unwrap()
/// };
/// // SAFETY: sending a signal to this process; a handler is installed for it.
/// unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
/// stop.wait(None).unwrap(); // a graceful stop would go here
/// on_term.kill(true, None).unwrap();
/// ```
pub fn signal_handler(signal: libc::c_int, handler: impl Fn() + 'static) -> io::Result<Task<()>> {
    let watcher = SignalWatcher::new(&[signal])?;
    let handler = Rc::new(handler);
    Ok(spawn(move || {
        while watcher.wait(None).is_ok() {
            let handler = handler.clone();
            drop(spawn(move || handler()));
        }
    }))
}
