//! `RLock` (gevent's `gevent.lock.RLock`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::hub::{Waiters, hub, wait_until};
use crate::{HubError, getcurrent};

/// A lock the greenlet holding it may take again (gevent's `RLock`): it is free once
/// released as many times as acquired. Clones share the lock.
///
/// # Examples
///
/// ```
/// let lock = conc_coro::RLock::new();
/// lock.acquire(None).unwrap();
/// lock.acquire(None).unwrap(); // again, by its owner
/// lock.release();
/// lock.release();
/// assert!(!lock.locked());
/// ```
#[derive(Clone, Default)]
pub struct RLock {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The owning greenlet's id and its count.
    owner: Cell<Option<(u64, usize)>>,
    waiters: Waiters,
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("owner", &self.inner.owner.get())
            .finish()
    }
}

impl RLock {
    /// A free lock.
    pub fn new() -> RLock {
        RLock::default()
    }

    /// Takes the lock (again, if the caller holds it), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`], [`HubError::LoopExit`], [`HubError::InHub`].
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        let me = getcurrent().id();
        match self.inner.owner.get() {
            Some((owner, count)) if owner == me => {
                self.inner.owner.set(Some((me, count + 1)));
                return Ok(());
            }
            None => {
                self.inner.owner.set(Some((me, 1)));
                return Ok(());
            }
            Some(_) => {}
        }
        wait_until(&hub()?, "an RLock", timeout, &[&self.inner.waiters], || {
            self.inner.owner.get().is_none()
        })?;
        self.inner.owner.set(Some((me, 1)));
        Ok(())
    }

    /// Gives one level of the lock back; the last one frees it and wakes a waiter.
    ///
    /// # Panics
    ///
    /// If the calling greenlet does not hold the lock (Python raises `RuntimeError`).
    pub fn release(&self) {
        let me = getcurrent().id();
        match self.inner.owner.get() {
            Some((owner, count)) if owner == me => {
                if count == 1 {
                    self.inner.owner.set(None);
                    self.inner.waiters.wake_one();
                } else {
                    self.inner.owner.set(Some((me, count - 1)));
                }
            }
            _ => panic!("cannot release an RLock this greenlet does not hold"),
        }
    }

    /// Whether some greenlet holds it.
    pub fn locked(&self) -> bool {
        self.inner.owner.get().is_some()
    }
}
