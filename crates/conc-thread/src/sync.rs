//! The locks the workspace's own code waits on: a raw lock that any thread may release
//! (under [`Lock`](crate::Lock)), a `Mutex<T>` that can give up waiting at a deadline,
//! and a `Condvar` for it, with the small API this code uses (no poisoning: every
//! critical section in the workspace leaves its data consistent at each step).
//!
//! Why not `parking_lot`: it parks every waiting thread of the process in one global
//! table of wait queues, each bucket guarded by a lock that any thread may hold at the
//! instant another thread calls `fork()`. A forked child then hangs in its first park
//! on that bucket, whatever it waits for (issue 22's fork churn showed it about once in
//! 50-200 forks). Here a waiting thread parks on a `std::sync::Condvar` of the object
//! it waits for, so nothing is shared between unrelated locks and a child can only
//! inherit the state of objects it actually uses.
//!
//! ```text
//!   RawLock state bits:  LOCKED (1)  – the lock is held
//!                        PARKED (2)  – threads may be waiting in `acquire_slow`
//! ```
//!
//! Acquire and release are one compare-and-swap each while nobody waits. A waiter
//! counts itself and sets `PARKED` under the lock's `parking` mutex, then sleeps on
//! `wake`; a release that finds `PARKED` set clears `LOCKED` under that same mutex and
//! wakes one waiter, so no wake-up is lost between a waiter's last check and its sleep.

pub use crate::fork::process_id;

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// A binary lock without an owner: any thread may release it. Releasing it unlocked is
/// reported, not ignored.
///
/// ```
/// use conc_thread::sync::{RawLock, ReleaseUnlocked};
///
/// let lock = RawLock::new();
/// assert!(lock.try_acquire());
/// std::thread::scope(|s| s.spawn(|| lock.release()).join().unwrap()).unwrap();
/// assert_eq!(lock.release(), Err(ReleaseUnlocked));
/// ```
#[derive(Default)]
pub struct RawLock {
    state: AtomicU8,
    /// How many threads wait in `acquire_slow` (guards the sleep/wake hand-over).
    parking: std::sync::Mutex<usize>,
    wake: std::sync::Condvar,
}

/// [`RawLock::release`] of a lock nobody holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseUnlocked;

impl RawLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        RawLock {
            state: AtomicU8::new(0),
            parking: std::sync::Mutex::new(0),
            wake: std::sync::Condvar::new(),
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, waiting until `deadline` at most (`None`: for as long as it
    /// takes); whether it was taken.
    #[inline]
    pub fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        self.try_acquire() || self.acquire_slow(deadline)
    }

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// [`ReleaseUnlocked`] if the lock was not held.
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseUnlocked> {
        match self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(_) => self.release_slow(),
        }
    }

    /// Whether the lock is held (a snapshot).
    #[inline]
    pub fn locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Takes the lock if it is free, keeping the `PARKED` bit as it is.
    fn try_take(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        // Spin, then yield, while nobody is parked: short critical sections end soon,
        // and parking costs a system call on each side.
        let mut spin = SpinWait::new();
        while self.state.load(Ordering::Relaxed) & PARKED == 0 && spin.spin() {
            if self.try_take() {
                return true;
            }
        }
        let mut waiting = self.parking.lock().unwrap_or_else(|e| e.into_inner());
        *waiting += 1;
        let taken = loop {
            // Set before the last check: a release from now on sees it and wakes us
            // under `parking`, which we hold until the condvar releases it.
            self.state.fetch_or(PARKED, Ordering::Relaxed);
            if self.try_take() {
                break true;
            }
            match sleep_once(&self.wake, waiting, deadline) {
                Ok(woken) => waiting = woken,
                Err(late) => {
                    waiting = late;
                    break self.try_take();
                }
            }
        };
        *waiting -= 1;
        if *waiting == 0 {
            // Nobody waits any more: let release take its fast path again.
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        taken
    }

    #[cold]
    fn release_slow(&self) -> Result<(), ReleaseUnlocked> {
        if self.state.load(Ordering::Relaxed) & LOCKED == 0 {
            return Err(ReleaseUnlocked);
        }
        let waiting = self.parking.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.state.fetch_and(!LOCKED, Ordering::Release);
        if before & LOCKED == 0 {
            // A racing release got there first: this one releases an unlocked lock.
            return Err(ReleaseUnlocked);
        }
        if *waiting > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }
}

impl std::fmt::Debug for RawLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// Sleeps once on `cv` (releasing `guard` meanwhile), at most until `deadline`: `Ok`
/// after a wake-up (perhaps spurious), `Err` without sleeping once the deadline passed.
fn sleep_once<'a, T>(
    cv: &std::sync::Condvar,
    guard: std::sync::MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> Result<std::sync::MutexGuard<'a, T>, std::sync::MutexGuard<'a, T>> {
    let Some(deadline) = deadline else {
        return Ok(cv.wait(guard).unwrap_or_else(|e| e.into_inner()));
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(guard);
    }
    Ok(cv
        .wait_timeout(guard, left)
        .unwrap_or_else(|e| e.into_inner())
        .0)
}

/// A mutex around a `T` whose `lock` can give up at a deadline
/// ([`try_lock_until`](Mutex::try_lock_until)).
///
/// ```
/// use std::time::{Duration, Instant};
/// use conc_thread::sync::Mutex;
///
/// let m = Mutex::new(1);
/// let held = m.lock();
/// assert!(m.try_lock_until(Instant::now() + Duration::from_millis(5)).is_none());
/// drop(held);
/// *m.lock() += 1;
/// assert_eq!(m.into_inner(), 2);
/// ```
#[derive(Default)]
pub struct Mutex<T: ?Sized> {
    raw: RawLock,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and one guard exists at a time
// (the raw lock); `T: Send` because the guard may be taken on any thread.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: shared access hands out `&mut T` to one lock holder at a time.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, taken out of the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.acquire_until(None);
        MutexGuard { mutex: self }
    }

    /// Locks the mutex if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_acquire().then(|| MutexGuard { mutex: self })
    }

    /// Locks the mutex, waiting until `deadline` at most.
    pub fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
        self.raw
            .acquire_until(Some(deadline))
            .then(|| MutexGuard { mutex: self })
    }

    /// The value, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("Mutex").field("data", &&*guard).finish(),
            None => f.debug_struct("Mutex").field("data", &"<locked>").finish(),
        }
    }
}

/// The lock of a [`Mutex`], held until dropped.
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock: no other reference to the data exists.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and the guard is borrowed exclusively.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // The guard holds the lock, so the release cannot find it unlocked.
        let _ = self.mutex.raw.release();
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// Whether a timed wait ended by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the deadline passed before a notification came.
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for [`Mutex`]. Waits may wake spuriously: wait in a loop on
/// the condition.
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let setter = {
///     let pair = pair.clone();
///     std::thread::spawn(move || {
///         *pair.0.lock() = true;
///         pair.1.notify_all();
///     })
/// };
/// let mut ready = pair.0.lock();
/// while !*ready {
///     pair.1.wait(&mut ready);
/// }
/// drop(ready);
/// setter.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    /// Bumped by every notification, so a waiter can tell one happened.
    epoch: std::sync::Mutex<u64>,
    changed: std::sync::Condvar,
    /// Threads inside a wait. A waiter counts itself before it unlocks the mutex, so a
    /// notifier that changed the state under that mutex sees it; with none, notifying
    /// costs one load (a future completing with nobody blocked on it, the common case).
    waiters: AtomicUsize,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Self {
        Condvar {
            epoch: std::sync::Mutex::new(0),
            changed: std::sync::Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Unlocks `guard`'s mutex, waits for a notification, locks it again.
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        self.wait_inner(guard, None);
    }

    /// As [`wait`](Self::wait), giving up at `deadline`.
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(!self.wait_inner(guard, Some(deadline)))
    }

    /// As [`wait`](Self::wait), giving up after `timeout`.
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: std::time::Duration,
    ) -> WaitTimeoutResult {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(guard, deadline),
            None => {
                self.wait(guard);
                WaitTimeoutResult(false)
            }
        }
    }

    /// Whether a notification came before the deadline.
    fn wait_inner<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Instant>,
    ) -> bool {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
        let seen = *epoch;
        // Unlocked while `epoch` is held: a notifier (who takes `epoch` to notify)
        // cannot slip between this unlock and the sleep.
        let _ = guard.mutex.raw.release();
        let notified = loop {
            if *epoch != seen {
                break true;
            }
            match sleep_once(&self.changed, epoch, deadline) {
                Ok(woken) => epoch = woken,
                Err(late) => {
                    epoch = late;
                    break false;
                }
            }
        };
        drop(epoch);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        guard.mutex.raw.acquire_until(None);
        notified
    }

    /// Wakes one waiter (if any).
    pub fn notify_one(&self) {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
        *epoch = epoch.wrapping_add(1);
        self.changed.notify_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
        *epoch = epoch.wrapping_add(1);
        self.changed.notify_all();
    }
}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

/// A short wait before blocking: a few growing spins, then a few yields, then done.
/// For waits that usually end within microseconds of another thread's work.
///
/// ```
/// let ready = std::sync::atomic::AtomicBool::new(true);
/// let mut spin = conc_thread::sync::SpinWait::new();
/// while !ready.load(std::sync::atomic::Ordering::Acquire) && spin.spin() {}
/// ```
#[derive(Debug, Default)]
pub struct SpinWait {
    rounds: u32,
}

impl SpinWait {
    /// A fresh wait.
    pub const fn new() -> Self {
        SpinWait { rounds: 0 }
    }

    /// Waits a little, longer each round; `false` once the rounds are used up (the
    /// caller then blocks properly).
    pub fn spin(&mut self) -> bool {
        if self.rounds >= 10 {
            return false;
        }
        self.rounds += 1;
        if self.rounds <= 3 {
            for _ in 0..(1u32 << self.rounds) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_spin_wait_ends() {
        let mut spin = SpinWait::new();
        let rounds = std::iter::from_fn(|| spin.spin().then_some(())).count();
        assert_eq!(rounds, 10);
    }

    #[test]
    fn raw_lock_reports_a_release_of_an_unlocked_lock() {
        let lock = RawLock::new();
        assert_eq!(lock.release(), Err(ReleaseUnlocked));
        assert!(lock.try_acquire());
        assert!(!lock.try_acquire());
        assert_eq!(lock.release(), Ok(()));
    }

    #[test]
    fn a_timed_acquire_gives_up_and_a_release_wakes_a_waiter() {
        let lock = Arc::new(RawLock::new());
        assert!(lock.try_acquire());
        let until = Instant::now() + Duration::from_millis(20);
        assert!(!lock.acquire_until(Some(until)));
        assert!(Instant::now() >= until);
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.acquire_until(None))
        };
        while lock.state.load(Ordering::Relaxed) & PARKED == 0 {
            std::thread::yield_now();
        }
        lock.release().unwrap();
        assert!(waiter.join().unwrap());
        assert!(lock.locked());
        lock.release().unwrap();
        // The last waiter left: the fast path is back.
        assert_eq!(lock.state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_mutex_counts_exactly_under_contention() {
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 40_000);
    }

    #[test]
    fn try_lock_until_gives_up_while_held() {
        let m = Mutex::new(());
        let held = m.lock();
        assert!(m.try_lock().is_none());
        assert!(
            m.try_lock_until(Instant::now() + Duration::from_millis(10))
                .is_none()
        );
        drop(held);
        assert!(m.try_lock_until(Instant::now()).is_some());
    }

    #[test]
    fn a_condvar_wakes_a_waiter_and_times_out_without_one() {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = {
            let pair = pair.clone();
            std::thread::spawn(move || {
                let (m, cv) = &*pair;
                let mut ready = m.lock();
                while !*ready {
                    cv.wait(&mut ready);
                }
            })
        };
        *pair.0.lock() = true;
        pair.1.notify_all();
        waiter.join().unwrap();
        let (m, cv) = &*pair;
        let mut guard = m.lock();
        let result = cv.wait_for(&mut guard, Duration::from_millis(10));
        assert!(result.timed_out());
        // The mutex is held again after the wait.
        assert!(m.try_lock().is_none());
    }
}
