//! A mio source registered with its thread's hub, and the one loop every green I/O
//! call goes through: try the operation; on `WouldBlock`, park until the hub reports
//! readiness (or the deadline); try again.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use mio::Token;
use mio::event::Source;
use mio::unix::SourceFd;

use crate::hub::{Core, Direction, deadline, hub};

pub(crate) struct Registered<S: Source + AsRawFd> {
    source: S,
    /// The hub it is registered with and its token there. After a fork the child
    /// registers it again with its own hub (the old one is the parent's).
    at: RefCell<(Rc<Core>, Token)>,
}

impl<S: Source + AsRawFd> Registered<S> {
    pub(crate) fn new(mut source: S) -> io::Result<Self> {
        let core = hub()?;
        let token = core.register(&mut source)?;
        Ok(Registered {
            source,
            at: RefCell::new((core, token)),
        })
    }

    pub(crate) fn get(&self) -> &S {
        &self.source
    }

    /// Runs `op` until it does not block, waiting for `dir` readiness in between, at
    /// most `timeout` in all.
    ///
    /// # Errors
    ///
    /// `op`'s errors; `TimedOut` at the deadline; the hub's errors as `Other`.
    pub(crate) fn io<R>(
        &self,
        dir: Direction,
        timeout: Option<Duration>,
        what: &'static str,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let deadline = deadline(timeout);
        loop {
            match op(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
            let (core, token) = self.place()?;
            core.wait_io(token, dir, deadline, what)?;
        }
    }

    /// The hub and token to wait with, registering with this process's hub after a
    /// fork.
    fn place(&self) -> io::Result<(Rc<Core>, Token)> {
        if self.at.borrow().0.is_usable() {
            return Ok(self.at.borrow().clone());
        }
        let core = hub()?;
        let token = core.register(&mut SourceFd(&self.raw_fd()))?;
        *self.at.borrow_mut() = (core.clone(), token);
        Ok((core, token))
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.source.as_raw_fd()
    }
}

impl<S: Source + AsRawFd> Drop for Registered<S> {
    fn drop(&mut self) {
        let (core, token) = self.at.borrow().clone();
        core.deregister(token, &mut self.source);
    }
}
