//! `ForkLock`: a lock for tiny critical sections that a process created by a raw
//! `fork()` can always take.
//!
//! A `fork` copies one thread. A `Mutex` another thread held at that instant stays held
//! in the child forever, and conc-process cannot hold every such lock across a fork it
//! does not make (a user's `libc::fork()`). This lock's word records *which process*
//! holds it: a child that finds it held by its parent's pid knows the holder does not
//! exist there, and takes it over. Only for data that stays consistent at every
//! instant of the critical section (a single pointer-sized store), since the holder
//! may have been anywhere in it.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

pub(crate) struct ForkLock<T> {
    /// 0 when free, else the pid of the holding process.
    word: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `word` (see `lock`); `T: Send` because the
// value is reached from whichever thread holds the lock.
unsafe impl<T: Send> Sync for ForkLock<T> {}

impl<T: Default> Default for ForkLock<T> {
    fn default() -> Self {
        ForkLock {
            word: AtomicU32::new(0),
            value: UnsafeCell::new(T::default()),
        }
    }
}

impl<T> ForkLock<T> {
    /// Takes the lock, spinning (with yields) while a thread of this process holds it,
    /// and taking it over from a holder of another process (the parent, before a fork).
    pub(crate) fn lock(&self) -> ForkLockGuard<'_, T> {
        let me = sys::getpid() as u32;
        loop {
            match self
                .word
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return ForkLockGuard { lock: self },
                Err(0) => continue,
                Err(holder) if holder != me => {
                    // Held by a thread of the process we were forked from: it does not
                    // exist here and will never release it.
                    if self
                        .word
                        .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return ForkLockGuard { lock: self };
                    }
                }
                Err(_) => std::thread::yield_now(),
            }
        }
    }
}

/// Holds a [`ForkLock`]; releases it on drop.
pub(crate) struct ForkLockGuard<'a, T> {
    lock: &'a ForkLock<T>,
}

impl<T> Deref for ForkLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for ForkLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for ForkLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.word.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn it_excludes_threads_of_one_process() {
        let lock = Arc::new(ForkLock::<u64>::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let mut g = lock.lock();
                        let v = *g;
                        std::hint::black_box(&v);
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 40_000);
    }

    /// A child forked while another thread of the parent holds the lock takes it.
    #[test]
    fn a_fork_child_takes_over_a_lock_its_parent_held() {
        let lock = Arc::new(ForkLock::<u32>::default());
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let l = lock.clone();
        let holder = std::thread::spawn(move || {
            let _g = l.lock();
            held_tx.send(()).unwrap();
            let _ = done_rx.recv();
        });
        held_rx.recv().unwrap();
        // SAFETY: resetting SIGCHLD keeps the child's exit status for waitpid.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        // SAFETY: the child only takes the lock and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            *lock.lock() = 5;
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        drop(done_tx);
        holder.join().unwrap();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(*lock.lock(), 0, "the child's write stayed in the child");
    }
}
