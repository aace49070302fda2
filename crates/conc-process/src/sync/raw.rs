//! The low-level process-shared mutex and condition variable every primitive (and the
//! queue) is built from. Both are `#[repr(C)]`, valid when zeroed until initialized,
//! position-independent, and meant to be placed inside a [`Segment`](crate::shm::Segment)
//! (usually as fields of a [`ShmLayout`](crate::shm::ShmLayout) struct).
//!
//! # `RawMutex`
//!
//! A glibc `pthread_mutex_t` initialized `PTHREAD_PROCESS_SHARED` and
//! `PTHREAD_MUTEX_ROBUST`: if its owner dies (process killed, or thread exited) while
//! holding it, the kernel marks it and the next `lock` succeeds with `EOWNERDEAD`. We then
//! call `pthread_mutex_consistent` at once and report [`ProcessError::OwnerDied`] *with
//! the mutex held*: the caller decides what the half-updated state means. Because we
//! always make it consistent, `ENOTRECOVERABLE` cannot arise from this crate's own use; it
//! is reported as an OS error if foreign code caused it.
//!
//! Beside the pthread object we keep `owner`, the kernel thread id of the holder, so that
//! `is_owned` and friendly errors ("not the owner" versus "not locked") need no glibc
//! internals. glibc itself enforces ownership on unlock (`EPERM`), so a wrong `unlock` is
//! an error, never undefined behaviour.
//!
//! Timed locking uses `pthread_mutex_timedlock`, which only takes a `CLOCK_REALTIME`
//! deadline (`pthread_mutex_clocklock` is glibc ≥ 2.30 and not bound by the `libc`
//! crate). To keep wall-clock jumps from stretching a wait, each call waits at most one
//! second and the loop re-checks the real (monotonic) `Instant` deadline.
//!
//! # `RawCondvar`
//!
//! Not a `pthread_cond_t`: glibc's condition variable (before 2.41) keeps per-group
//! reference counts that a waiter holds while blocked; a waiter *killed* inside
//! `pthread_cond_wait` never drops its reference, and a later `pthread_cond_signal`
//! that needs to switch groups then waits for it forever. Process death is exactly what
//! this crate must survive, so the condvar is two shared words: a 32-bit sequence
//! number waited on with a shared (non-private) futex, and a 64-bit pair of counts,
//! registered waiters and handed-out wake-ups. A waiter registers while holding the
//! mutex, unlocks, and sleeps until it can take a wake-up; `notify(n)` (also under the
//! mutex) turns `min(n, waiters)` registrations into wake-ups and bumps the sequence, so
//! it wakes exactly that many, as Python's `Condition.notify(n)` does (a plain sequence
//! number would wake every waiter that has not yet fallen asleep). `FUTEX_WAIT` compares
//! the sequence atomically, so a notify between the unlock and the sleep is not lost.
//!
//! A waiter killed while registered leaves one registration behind: a later notify may
//! spend a wake-up on it, which a later waiter then takes at once (a spurious wake-up),
//! never a hang. Internal users re-check their predicate after each one-second slice
//! ([`Slices::Recheck`]), so a process that died between changing the state and
//! notifying cannot leave them asleep. The futex timeout is relative and measured on
//! `CLOCK_MONOTONIC`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ProcessError;
use crate::sys::{self, current_tid};

/// Longest single `pthread_mutex_timedlock`, so a wall-clock jump cannot stretch a wait by
/// more than this.
const MAX_TIMED_SLICE: Duration = Duration::from_secs(1);

/// A robust, process-shared mutex placed in shared memory (see the module docs).
#[repr(C)]
pub(crate) struct RawMutex {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    /// Kernel thread id of the holder, 0 when unlocked (advisory: written after locking
    /// and cleared before unlocking, by the holder only).
    owner: AtomicU64,
}

// SAFETY: the pthread object is designed for concurrent use through a shared pointer
// (by other processes even), `owner` is atomic.
unsafe impl Sync for RawMutex {}
// SAFETY: as above; it has no thread affinity except ownership, which glibc checks.
unsafe impl Send for RawMutex {}

/// Turns a pthread return code into a `Result`.
fn check(context: &'static str, rc: libc::c_int) -> Result<(), ProcessError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(ProcessError::os(
            context,
            std::io::Error::from_raw_os_error(rc),
        ))
    }
}

impl RawMutex {
    /// Initializes the mutex in place: process-shared and robust.
    ///
    /// # Safety
    ///
    /// Call exactly once, at the mutex's final address, before any other use, and while
    /// no other thread or process can reach it (right after the segment is created).
    pub(crate) unsafe fn init(&self) -> Result<(), ProcessError> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialized by `pthread_mutexattr_init` before any other use
        // and destroyed after `pthread_mutex_init` copied what it needs; the mutex is
        // exclusively ours per this function's contract.
        unsafe {
            check(
                "pthread_mutexattr_init",
                libc::pthread_mutexattr_init(attr.as_mut_ptr()),
            )?;
            let result = check(
                "pthread_mutexattr_setpshared",
                libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
            )
            .and_then(|()| {
                check(
                    "pthread_mutexattr_setrobust",
                    libc::pthread_mutexattr_setrobust(
                        attr.as_mut_ptr(),
                        libc::PTHREAD_MUTEX_ROBUST,
                    ),
                )
            })
            .and_then(|()| {
                check(
                    "pthread_mutex_init",
                    libc::pthread_mutex_init(self.mutex.get(), attr.as_ptr()),
                )
            });
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Locks, waiting until `deadline` (`None`: forever).
    ///
    /// # Errors
    ///
    /// * [`ProcessError::Timeout`] when the deadline passed; the mutex is not held.
    /// * [`ProcessError::OwnerDied`]: the previous holder died holding it; **the mutex is
    ///   now held by the caller** and already marked consistent.
    /// * [`ProcessError::Os`] for anything else (a corrupted mutex); not held.
    ///
    /// Locking a mutex the calling thread already holds deadlocks (or times out), as
    /// with Python's `Lock`.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<(), ProcessError> {
        loop {
            let rc = match deadline {
                // SAFETY: the mutex was initialized by its creator (`init` contract) and
                // lives in a mapping that outlives `&self`.
                None => unsafe { libc::pthread_mutex_lock(self.mutex.get()) },
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // SAFETY: as above.
                        match unsafe { libc::pthread_mutex_trylock(self.mutex.get()) } {
                            libc::EBUSY => return Err(ProcessError::timed_out()),
                            rc => rc,
                        }
                    } else {
                        let ts = realtime_after(left.min(MAX_TIMED_SLICE));
                        // SAFETY: as above; `ts` is a valid timespec on our stack.
                        match unsafe { libc::pthread_mutex_timedlock(self.mutex.get(), &ts) } {
                            // Time left on the monotonic clock: try again.
                            libc::ETIMEDOUT => continue,
                            rc => rc,
                        }
                    }
                }
            };
            return self.locked_with(rc, "pthread_mutex_lock");
        }
    }

    /// Locks if free, without waiting: `Ok(true)` when acquired, `Ok(false)` when held
    /// by someone (including the caller).
    ///
    /// # Errors
    ///
    /// As for [`lock`](Self::lock), without `Timeout`.
    pub(crate) fn try_lock(&self) -> Result<bool, ProcessError> {
        // SAFETY: initialized by its creator, mapped for the life of `&self`.
        match unsafe { libc::pthread_mutex_trylock(self.mutex.get()) } {
            libc::EBUSY => Ok(false),
            rc => self.locked_with(rc, "pthread_mutex_trylock").map(|()| true),
        }
    }

    /// Interprets the result of a lock call.
    fn locked_with(&self, rc: libc::c_int, context: &'static str) -> Result<(), ProcessError> {
        match rc {
            0 => {
                self.owner.store(current_tid(), Ordering::Relaxed);
                Ok(())
            }
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired) and it is
                // inconsistent, which is exactly when `pthread_mutex_consistent` applies.
                let rc = unsafe { libc::pthread_mutex_consistent(self.mutex.get()) };
                self.owner.store(current_tid(), Ordering::Relaxed);
                if rc != 0 {
                    // Cannot happen for a robust mutex we hold; keep it usable anyway by
                    // reporting the OS error after releasing.
                    let _ = self.unlock();
                    return check("pthread_mutex_consistent", rc);
                }
                Err(ProcessError::OwnerDied)
            }
            libc::ENOTRECOVERABLE => Err(ProcessError::Os {
                context,
                message: "the mutex is permanently unusable: a holder died and it was \
                          unlocked without being made consistent"
                    .into(),
            }),
            rc => check(context, rc),
        }
    }

    /// Unlocks.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if the calling thread does not hold the mutex
    /// (glibc refuses with `EPERM`; nothing changes).
    pub(crate) fn unlock(&self) -> Result<(), ProcessError> {
        let me = current_tid();
        let owner = self.owner.load(Ordering::Relaxed);
        if owner != me {
            return Err(not_owner_error(owner));
        }
        self.owner.store(0, Ordering::Relaxed);
        // SAFETY: initialized, mapped; glibc checks ownership itself for robust mutexes.
        match unsafe { libc::pthread_mutex_unlock(self.mutex.get()) } {
            0 => Ok(()),
            libc::EPERM => {
                // Our advisory owner word disagreed with glibc (a reused thread id of a
                // dead holder): put it back and refuse.
                self.owner.store(owner, Ordering::Relaxed);
                Err(not_owner_error(owner))
            }
            rc => check("pthread_mutex_unlock", rc),
        }
    }

    /// Whether the calling thread holds the mutex.
    ///
    /// The advisory `owner` word is not cleared when its thread dies, and thread ids are
    /// reused, so a new thread could mistake a dead holder's mutex for its own (and an
    /// `RLock` would then "re-enter" a lock it never took). Where the layout is known
    /// (glibc), the futex word settles it: glibc keeps the holder's tid there and the
    /// kernel clears it when the holder dies.
    pub(crate) fn is_owned(&self) -> bool {
        let me = current_tid();
        self.owner.load(Ordering::Relaxed) == me && self.futex_owner().is_none_or(|t| t == me)
    }

    /// The holder's tid according to the futex word, where we know where it is.
    #[cfg(target_env = "gnu")]
    fn futex_owner(&self) -> Option<u64> {
        /// `FUTEX_TID_MASK` from `<linux/futex.h>`.
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        // SAFETY: glibc's `pthread_mutex_t` starts with `int __lock`, the futex word, on
        // every architecture; it is aligned for `u32` and only ever accessed atomically
        // (by glibc and the kernel), so an atomic load through a shared reference is
        // sound. The memory lives as long as `self`.
        let word = unsafe { &*self.mutex.get().cast::<AtomicU32>() };
        Some(u64::from(word.load(Ordering::Relaxed) & FUTEX_TID_MASK))
    }

    /// Elsewhere, trust the `owner` word.
    #[cfg(not(target_env = "gnu"))]
    fn futex_owner(&self) -> Option<u64> {
        None
    }

    /// Whether some thread holds the mutex (or died holding it). Advisory: it may change
    /// at once.
    pub(crate) fn is_locked(&self) -> bool {
        self.owner.load(Ordering::Relaxed) != 0
    }
}

fn not_owner_error(owner: u64) -> ProcessError {
    if owner == 0 {
        ProcessError::InvalidState("release of an unlocked lock")
    } else {
        ProcessError::InvalidState(
            "the lock is held by another thread or process (a process-shared lock must be \
             released by its owner)",
        )
    }
}

/// `CLOCK_REALTIME` now plus `d`, for `pthread_mutex_timedlock`.
fn realtime_after(d: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let mut sec = now.tv_sec.saturating_add(d.as_secs() as libc::time_t);
    let mut nsec = now.tv_nsec + d.subsec_nanos() as libc::c_long;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

/// The longest single futex sleep (see [`RawCondvar::sleep`]).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// One registered waiter, in the low half of [`RawCondvar::counts`].
const ONE_WAITER: u64 = 1;
/// One wake-up handed out by a notify and not yet taken, in the high half.
const ONE_WAKEUP: u64 = 1 << 32;

/// How a wait treats the end of a [`MAX_SLEEP`] slice with no wake-up for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slices {
    /// Keep sleeping: the wait returns only when notified or at its deadline (Python's
    /// `Condition.wait`).
    SleepOn,
    /// Return (a spurious wake-up) so the caller re-checks its predicate: a process
    /// that died between changing the state and notifying cannot leave it asleep.
    Recheck,
}

/// A waiter registered by [`RawCondvar::prepare`]; hand it to [`RawCondvar::sleep`]
/// or give it back with [`RawCondvar::cancel`].
#[must_use = "a registered waiter must sleep or cancel, or a notify may be spent on it"]
#[derive(Debug)]
pub(crate) struct Ticket(());

/// A process-shared condition variable over a shared futex word (see the module docs).
/// Zero is its initial state: it needs no initialization.
#[repr(C)]
pub(crate) struct RawCondvar {
    /// The futex word, bumped by every notify that hands out wake-ups.
    seq: AtomicU32,
    /// Registered waiters (low 32 bits) and wake-ups handed out but not yet taken
    /// (high 32 bits), updated together so a notify never counts a waiter twice.
    counts: AtomicU64,
}

impl RawCondvar {
    /// Step one of a wait: registers the caller as a waiter. Call while holding the
    /// mutex that protects the condition, *then* release it and call
    /// [`sleep`](Self::sleep) (or [`cancel`](Self::cancel) if releasing failed).
    pub(crate) fn prepare(&self) -> Ticket {
        self.counts.fetch_add(ONE_WAITER, Ordering::AcqRel);
        Ticket(())
    }

    /// Withdraws a registration that will not sleep.
    pub(crate) fn cancel(&self, ticket: Ticket) {
        self.withdraw(ticket);
    }

    /// Step two of a wait: sleeps until a notify hands this waiter a wake-up, or until
    /// `deadline`. Returns `false` if the deadline passed first. With
    /// [`Slices::Recheck`] it also returns `true` (spuriously) at the end of each
    /// [`MAX_SLEEP`] slice.
    pub(crate) fn sleep(&self, ticket: Ticket, deadline: Option<Instant>, slices: Slices) -> bool {
        loop {
            // Read the word before looking for a wake-up: a notify after the look
            // changes the word, so the futex wait below cannot miss it.
            let seen = self.seq.load(Ordering::Acquire);
            if self.take_wakeup() {
                return true;
            }
            let slice = match deadline {
                None => MAX_SLEEP,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return self.withdraw(ticket);
                    }
                    left.min(MAX_SLEEP)
                }
            };
            if !sys::futex_wait(&self.seq, seen, slice)
                && slices == Slices::Recheck
                && deadline.is_none_or(|d| Instant::now() < d)
            {
                self.withdraw(ticket);
                return true;
            }
        }
    }

    /// Takes a handed-out wake-up if there is one.
    fn take_wakeup(&self) -> bool {
        self.counts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c >= ONE_WAKEUP).then(|| c - ONE_WAKEUP)
            })
            .is_ok()
    }

    /// Ends a registration without sleeping on: takes a wake-up if a notify already
    /// handed one out (returns `true`: the waiter was notified), else removes the
    /// waiter (returns `false`).
    fn withdraw(&self, _ticket: Ticket) -> bool {
        let mut notified = false;
        let _ = self
            .counts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                if c >= ONE_WAKEUP {
                    notified = true;
                    Some(c - ONE_WAKEUP)
                } else {
                    notified = false;
                    // Zero waiters cannot happen while we are registered; saturate
                    // rather than wrap if foreign code corrupted the word.
                    Some(c.saturating_sub(ONE_WAITER))
                }
            });
        notified
    }

    /// Waits on `mutex`, which the caller holds: releases it, sleeps until notified or
    /// `deadline` (or a slice ends: [`Slices::Recheck`]), relocks. Returns `Ok(false)`
    /// if the deadline passed.
    ///
    /// # Errors
    ///
    /// [`ProcessError::OwnerDied`] if a holder died while we slept (the mutex is held
    /// again, consistent); what [`RawMutex::unlock`] returns if the caller did not hold
    /// the mutex (nothing waited); other errors of [`RawMutex::lock`].
    pub(crate) fn wait(
        &self,
        mutex: &RawMutex,
        deadline: Option<Instant>,
    ) -> Result<bool, ProcessError> {
        let ticket = self.prepare();
        if let Err(err) = mutex.unlock() {
            self.cancel(ticket);
            return Err(err);
        }
        let notified = self.sleep(ticket, deadline, Slices::Recheck);
        mutex.lock(None)?;
        Ok(notified)
    }

    /// Wakes one registered waiter, if any.
    pub(crate) fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes every registered waiter.
    pub(crate) fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// Wakes up to `n` of the waiters registered so far (exactly `min(n, waiting)`;
    /// which ones is up to the scheduler). Call while holding the condition's mutex.
    pub(crate) fn notify(&self, n: usize) {
        let n = n.min(u32::MAX as usize) as u64;
        let handed = self
            .counts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                let k = n.min(c & (ONE_WAKEUP - 1));
                (k > 0 && (c >> 32) + k <= u64::from(u32::MAX))
                    .then(|| c - k * ONE_WAITER + k * ONE_WAKEUP)
            })
            .is_ok();
        if handed {
            self.seq.fetch_add(1, Ordering::Release);
            // Wake every sleeper: those that find no wake-up left sleep again. Waking
            // only k could pick sleepers whose wake-ups a not-yet-sleeping waiter took,
            // which is still correct but harder to see so; conditions across processes
            // are not hot enough for the difference to matter.
            sys::futex_wake_all(&self.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{ShmBox, ShmLayout};

    #[repr(C)]
    struct Pair {
        m: RawMutex,
        cv: RawCondvar,
        value: AtomicU32,
    }
    // SAFETY: repr(C); pthread mutex zero-valid before init; unique magic.
    unsafe impl ShmLayout for Pair {
        const MAGIC: u64 = 0x7261_7774_6573_7401;
    }

    fn pair() -> ShmBox<Pair> {
        // SAFETY: first use, not yet shared.
        ShmBox::new(0, 1, |p: &Pair, _| unsafe { p.m.init() }.unwrap())
    }

    #[test]
    fn lock_unlock_and_ownership() {
        let p = pair();
        let m = &p.get().m;
        assert!(!m.is_locked());
        m.lock(None).unwrap();
        assert!(m.is_owned() && m.is_locked());
        assert_eq!(m.try_lock(), Ok(false));
        let timeout = Instant::now() + Duration::from_millis(20);
        assert_eq!(m.lock(Some(timeout)), Err(ProcessError::timed_out()));
        let p2 = p.clone();
        let other = std::thread::spawn(move || p2.get().m.unlock());
        assert!(matches!(
            other.join().unwrap(),
            Err(ProcessError::InvalidState(_))
        ));
        m.unlock().unwrap();
        assert_eq!(
            m.unlock(),
            Err(ProcessError::InvalidState("release of an unlocked lock"))
        );
    }

    #[test]
    fn thread_exit_while_holding_gives_owner_died() {
        let p = pair();
        let p2 = p.clone();
        std::thread::spawn(move || p2.get().m.lock(None).unwrap())
            .join()
            .unwrap();
        assert_eq!(p.get().m.lock(None), Err(ProcessError::OwnerDied));
        assert!(p.get().m.is_owned());
        p.get().m.unlock().unwrap();
        assert_eq!(p.get().m.try_lock(), Ok(true));
        p.get().m.unlock().unwrap();
    }

    #[test]
    fn a_dead_holders_reused_tid_does_not_own_the_mutex() {
        let p = pair();
        let p2 = p.clone();
        std::thread::spawn(move || p2.get().m.lock(None).unwrap())
            .join()
            .unwrap();
        // Simulate the dead holder's thread id being reused by this thread.
        p.get().m.owner.store(current_tid(), Ordering::Relaxed);
        assert!(!p.get().m.is_owned());
        assert_eq!(p.get().m.lock(None), Err(ProcessError::OwnerDied));
        assert!(p.get().m.is_owned());
        p.get().m.unlock().unwrap();
    }

    #[test]
    fn condvar_wakes_and_times_out() {
        let p = pair();
        let s = p.get();
        s.m.lock(None).unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(s.cv.wait(&s.m, Some(deadline)), Ok(false));
        let p2 = p.clone();
        let setter = std::thread::spawn(move || {
            let s = p2.get();
            s.m.lock(None).unwrap();
            s.value.store(1, Ordering::Relaxed);
            s.cv.notify_all();
            s.m.unlock().unwrap();
        });
        while s.value.load(Ordering::Relaxed) == 0 {
            s.cv.wait(&s.m, None).unwrap();
        }
        s.m.unlock().unwrap();
        setter.join().unwrap();
    }

    #[test]
    fn notify_wakes_exactly_n_registered_waiters() {
        let p = pair();
        let woken = std::sync::Arc::new(AtomicU32::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (p, woken) = (p.clone(), woken.clone());
                std::thread::spawn(move || {
                    let s = p.get();
                    s.m.lock(None).unwrap();
                    s.value.fetch_add(1, Ordering::SeqCst);
                    let ticket = s.cv.prepare();
                    s.m.unlock().unwrap();
                    let notified = s.cv.sleep(ticket, None, Slices::SleepOn);
                    woken.fetch_add(1, Ordering::SeqCst);
                    notified
                })
            })
            .collect();
        let s = p.get();
        // All three registered: they did so holding the mutex before counting.
        while {
            s.m.lock(None).unwrap();
            let n = s.value.load(Ordering::SeqCst);
            s.m.unlock().unwrap();
            n < 3
        } {
            std::thread::yield_now();
        }
        s.m.lock(None).unwrap();
        s.cv.notify(2);
        s.m.unlock().unwrap();
        while woken.load(Ordering::SeqCst) < 2 {
            std::thread::yield_now();
        }
        // Past a whole sleep slice, the third is still asleep.
        std::thread::sleep(MAX_SLEEP + Duration::from_millis(200));
        assert_eq!(
            woken.load(Ordering::SeqCst),
            2,
            "notify(2) woke a third waiter"
        );
        s.m.lock(None).unwrap();
        s.cv.notify_all();
        s.m.unlock().unwrap();
        for w in waiters {
            assert!(w.join().unwrap());
        }
        assert_eq!(
            s.cv.counts.load(Ordering::SeqCst),
            0,
            "nothing left registered"
        );
    }

    #[test]
    fn a_timed_out_or_cancelled_waiter_is_not_counted() {
        let p = pair();
        let s = p.get();
        let ticket = s.cv.prepare();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!s.cv.sleep(ticket, Some(deadline), Slices::SleepOn));
        s.cv.cancel(s.cv.prepare());
        assert_eq!(s.cv.counts.load(Ordering::SeqCst), 0);
        // A notify with nobody registered hands out nothing for a later waiter to take.
        s.cv.notify_all();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!s.cv.sleep(s.cv.prepare(), Some(deadline), Slices::SleepOn));
        // A wake-up handed out before the deadline is taken even if the waiter is late.
        let ticket = s.cv.prepare();
        s.cv.notify(1);
        assert!(s.cv.sleep(ticket, Some(Instant::now()), Slices::SleepOn));
        assert_eq!(s.cv.counts.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn recheck_slices_return_spuriously_and_unregister() {
        let p = pair();
        let s = p.get();
        let start = Instant::now();
        assert!(s.cv.sleep(s.cv.prepare(), None, Slices::Recheck));
        assert!(start.elapsed() >= MAX_SLEEP);
        assert_eq!(s.cv.counts.load(Ordering::SeqCst), 0);
    }
}
