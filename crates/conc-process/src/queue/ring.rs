//! The shared half of a process queue: a byte ring of framed items, its counters, and
//! the mutex and condition variables that guard them, all in one shared segment.
//!
//! ```text
//! segment: [ ShmBox header | RingState (mutex, condvars, counters) | ring bytes ........ ]
//!                                                                     ^head      ^tail
//! frame:   [ len: u32 little-endian | len bytes of postcard ]   (may wrap around the end)
//! ```
//!
//! `head` and `tail` are byte counters that only grow; the ring offset is the counter
//! modulo the capacity. A frame is written whole under the mutex and `tail` moves past
//! it in one store, so a writer killed mid-copy leaves nothing visible; a reader killed
//! mid-copy has not moved `head` yet, so the item stays for the next reader.
//!
//! # A process killed while holding the mutex
//!
//! The robust mutex hands the next locker [`ProcessError::OwnerDied`]. Two things are
//! then repaired before anything else happens:
//!
//! - **Counters.** Updates that change more than one counter (`read`: `head` and
//!   `admitted`; `admit`: `admitted` and `unfinished`) are journaled: the old values
//!   are saved and a flag raised first, and the flag dropped last. A half-done update
//!   is rolled back (the dead reader never handed its item to anyone, so the item is
//!   simply still there).
//! - **Wake-ups.** The dead process may have changed the state and died before
//!   notifying; every condition variable is notified. (Sleepers also wake at least
//!   once a second on their own; see `RawCondvar::sleep`.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};
use crate::sync::raw::{RawCondvar, RawMutex};

/// Bytes of the length prefix of each frame.
const LEN_BYTES: u64 = 4;

#[repr(C)]
pub(crate) struct RingState {
    mutex: RawMutex,
    /// Signalled when a frame is added.
    not_empty: RawCondvar,
    /// Signalled when bytes are freed or an admission is returned.
    not_full: RawCondvar,
    /// Signalled when `unfinished` drops to zero.
    all_done: RawCondvar,
    /// Ring capacity in bytes (fixed at creation).
    capacity: AtomicU64,
    /// Bytes consumed and produced so far (ring offsets modulo `capacity`).
    head: AtomicU64,
    tail: AtomicU64,
    /// Python's `maxsize`: 0 means unbounded.
    maxsize: AtomicU64,
    /// Items admitted by `put` and not yet taken by `get`, including items still in a
    /// producer's feeder: Python's `qsize()`.
    admitted: AtomicU64,
    /// `JoinableQueue`: items put and not yet marked `task_done`.
    unfinished: AtomicU64,
    /// 1 while a multi-counter update is under way (module docs), with the values to
    /// restore if its process dies before finishing.
    journal: AtomicU64,
    saved_head: AtomicU64,
    saved_admitted: AtomicU64,
    saved_unfinished: AtomicU64,
}

// SAFETY: repr(C); all-zero is a valid state (the mutex is initialized by `Ring::new`
// before the segment is shared; the condvars need no initialization); no pointers;
// counters are atomics, only changed under `mutex`.
unsafe impl ShmLayout for RingState {
    const MAGIC: u64 = u64::from_le_bytes(*b"conc-que");
}

/// A handle on the shared ring (cheap to clone; serializes as its segment).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ring {
    shm: ShmBox<RingState>,
}

/// The mutex, held; unlocks on drop.
struct Held<'a> {
    ring: &'a Ring,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // We hold it: unlock cannot fail with "not owner".
        let _ = self.ring.state().mutex.unlock();
    }
}

impl std::fmt::Debug for RingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingState").finish_non_exhaustive()
    }
}

/// The error for a ring whose shared counters or frame lengths make no sense: another
/// process wrote over them. Nothing is read out of bounds or allocated for it.
fn corrupt() -> ProcessError {
    ProcessError::InvalidState(
        "the queue's shared memory is corrupt (a frame length or counter is out of range)",
    )
}

impl Ring {
    /// A new ring of `capacity` bytes; `maxsize` 0 is unbounded.
    pub(crate) fn new(capacity: usize, maxsize: usize) -> Result<Self, ProcessError> {
        let mut init_result = Ok(());
        let shm = ShmBox::<RingState>::new(capacity, 8, |state, _tail| {
            // SAFETY: called once, on the fresh segment, before anyone else can see it.
            init_result = unsafe { state.mutex.init() };
            state.capacity.store(capacity as u64, Ordering::Relaxed);
            state.maxsize.store(maxsize as u64, Ordering::Relaxed);
        });
        init_result?;
        Ok(Ring { shm })
    }

    fn state(&self) -> &RingState {
        self.shm.get()
    }

    /// Locks the mutex until `deadline`, repairing what a dead previous owner left
    /// (module docs).
    fn lock(&self, deadline: Option<Instant>) -> Result<Held<'_>, ProcessError> {
        match self.state().mutex.lock(deadline) {
            Ok(()) => Ok(Held { ring: self }),
            Err(ProcessError::OwnerDied) => {
                let held = Held { ring: self };
                self.recover();
                Ok(held)
            }
            Err(e) => Err(e),
        }
    }

    /// Rolls back a half-done update and wakes everyone (mutex held).
    fn recover(&self) {
        let s = self.state();
        if s.journal.load(Ordering::SeqCst) != 0 {
            s.head
                .store(s.saved_head.load(Ordering::SeqCst), Ordering::SeqCst);
            s.admitted
                .store(s.saved_admitted.load(Ordering::SeqCst), Ordering::SeqCst);
            s.unfinished
                .store(s.saved_unfinished.load(Ordering::SeqCst), Ordering::SeqCst);
            s.journal.store(0, Ordering::SeqCst);
        }
        s.not_empty.notify_all();
        s.not_full.notify_all();
        s.all_done.notify_all();
    }

    /// Starts a journaled update (mutex held): saves the counters it may change.
    fn begin(&self) {
        let s = self.state();
        s.saved_head
            .store(s.head.load(Ordering::SeqCst), Ordering::SeqCst);
        s.saved_admitted
            .store(s.admitted.load(Ordering::SeqCst), Ordering::SeqCst);
        s.saved_unfinished
            .store(s.unfinished.load(Ordering::SeqCst), Ordering::SeqCst);
        s.journal.store(1, Ordering::SeqCst);
    }

    /// Ends a journaled update.
    fn commit(&self) {
        self.state().journal.store(0, Ordering::SeqCst);
    }

    /// Waits on `cv` with the mutex held; `false` on timeout.
    fn wait(&self, cv: &RawCondvar, deadline: Option<Instant>) -> Result<bool, ProcessError> {
        match cv.wait(&self.state().mutex, deadline) {
            Ok(notified) => Ok(notified),
            Err(ProcessError::OwnerDied) => {
                self.recover();
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// The ring's size, from this handle's validated mapping (the shared `capacity`
    /// field is only informational: a peer could rewrite it).
    pub(crate) fn capacity(&self) -> usize {
        self.shm.tail().1
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.state().maxsize.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn admitted(&self) -> usize {
        self.state().admitted.load(Ordering::Relaxed) as usize
    }

    /// The largest item (encoded) that fits.
    pub(crate) fn max_item(&self) -> usize {
        self.capacity().saturating_sub(LEN_BYTES as usize)
    }

    /// Reserves a place for one item under `maxsize` (Python's semaphore acquire in
    /// `put`), waiting until `deadline`. Also counts the item as unfinished.
    pub(crate) fn admit(&self, deadline: Option<Instant>) -> Result<(), ProcessError> {
        // The deadline bounds the wait for room, not for the (short) critical section:
        // a busy lock is not a full queue.
        let _held = self.lock(None)?;
        let s = self.state();
        loop {
            let max = s.maxsize.load(Ordering::Relaxed);
            if max == 0 || s.admitted.load(Ordering::Relaxed) < max {
                self.begin();
                s.admitted.fetch_add(1, Ordering::SeqCst);
                s.unfinished.fetch_add(1, Ordering::SeqCst);
                self.commit();
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) || !self.wait(&s.not_full, deadline)? {
                return Err(ProcessError::Full);
            }
        }
    }

    /// Gives back an admission whose item will never be written (its feeder could not
    /// write it).
    pub(crate) fn unadmit(&self) {
        if let Ok(_held) = self.lock(None) {
            let s = self.state();
            self.begin();
            s.admitted.fetch_sub(1, Ordering::SeqCst);
            s.unfinished.fetch_sub(1, Ordering::SeqCst);
            self.commit();
            s.not_full.notify_all();
            s.all_done.notify_all();
        }
    }

    /// Writes one frame, waiting for room until `deadline`: `Ok(true)` once written,
    /// `Ok(false)` if the deadline passed first (`Some(now)` just tries).
    pub(crate) fn write(
        &self,
        frame: &[u8],
        deadline: Option<Instant>,
    ) -> Result<bool, ProcessError> {
        let need = LEN_BYTES + frame.len() as u64;
        let _held = match self.lock(deadline) {
            Err(ProcessError::Timeout { .. }) => return Ok(false),
            other => other?,
        };
        let s = self.state();
        let capacity = self.capacity() as u64;
        loop {
            let used = s
                .tail
                .load(Ordering::Relaxed)
                .wrapping_sub(s.head.load(Ordering::Relaxed));
            if used > capacity {
                return Err(corrupt());
            }
            if capacity - used >= need {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            if !self.wait(&s.not_full, deadline)? {
                return Ok(false);
            }
        }
        let tail = s.tail.load(Ordering::Relaxed);
        self.copy_in(tail, &(frame.len() as u32).to_le_bytes());
        self.copy_in(tail + LEN_BYTES, frame);
        // Publishing the frame is this one store (module docs).
        s.tail.store(tail + need, Ordering::Release);
        s.not_empty.notify_one();
        Ok(true)
    }

    /// Takes the next frame, waiting until `deadline` (`Err(Empty)`).
    pub(crate) fn read(&self, deadline: Option<Instant>) -> Result<Vec<u8>, ProcessError> {
        // As in `admit`: the deadline is for the wait, a busy lock is not an empty queue.
        let _held = self.lock(None)?;
        let s = self.state();
        while s.tail.load(Ordering::Acquire) == s.head.load(Ordering::Relaxed) {
            if deadline.is_some_and(|d| Instant::now() >= d)
                || !self.wait(&s.not_empty, deadline)?
            {
                return Err(ProcessError::Empty);
            }
        }
        let head = s.head.load(Ordering::Relaxed);
        let used = s.tail.load(Ordering::Relaxed).wrapping_sub(head);
        let mut len = [0u8; LEN_BYTES as usize];
        if used < LEN_BYTES || used > self.capacity() as u64 {
            return Err(corrupt());
        }
        self.copy_out(head, &mut len);
        let len = u32::from_le_bytes(len) as u64;
        // Checked before allocating: a frame cannot be longer than what is in the ring.
        if len > used - LEN_BYTES {
            return Err(corrupt());
        }
        let mut frame = vec![0u8; len as usize];
        self.copy_out(head + LEN_BYTES, &mut frame);
        self.begin();
        s.head.store(head + LEN_BYTES + len, Ordering::SeqCst);
        s.admitted.fetch_sub(1, Ordering::SeqCst);
        self.commit();
        // Room for bytes and for an admission: wake producers and feeders alike.
        s.not_full.notify_all();
        Ok(frame)
    }

    /// Copies `src` into the ring at byte counter `at`, wrapping around.
    fn copy_in(&self, at: u64, src: &[u8]) {
        let (base, capacity) = self.shm.tail();
        let start = (at % capacity as u64) as usize;
        let first = src.len().min(capacity - start);
        // SAFETY: `start + first <= capacity` and the rest goes to the ring's start
        // (`src.len() <= capacity`, checked by the caller's space test); the ring is
        // mapped for the life of `self`, and we hold the mutex, so no one else touches
        // these bytes (they lie between `tail` and `head + capacity`).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(start), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), base, src.len() - first);
        }
    }

    /// Copies from the ring at byte counter `at` into `dst`, wrapping around.
    fn copy_out(&self, at: u64, dst: &mut [u8]) {
        let (base, capacity) = self.shm.tail();
        let start = (at % capacity as u64) as usize;
        let first = dst.len().min(capacity - start);
        // SAFETY: as in `copy_in`; these bytes lie between `head` and `tail`, written by
        // a finished `write` and not reused until `head` moves past them, under the mutex.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(start), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(base, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }

    /// `JoinableQueue.task_done`.
    pub(crate) fn task_done(&self) -> Result<(), ProcessError> {
        let _held = self.lock(None)?;
        let s = self.state();
        let left = s.unfinished.load(Ordering::Relaxed);
        if left == 0 {
            return Err(ProcessError::InvalidState(
                "task_done() called too many times",
            ));
        }
        s.unfinished.store(left - 1, Ordering::Relaxed);
        if left == 1 {
            s.all_done.notify_all();
        }
        Ok(())
    }

    /// `JoinableQueue.join`, until `deadline` (`Err(Timeout)`).
    pub(crate) fn join(&self, deadline: Option<Instant>) -> Result<(), ProcessError> {
        let _held = self.lock(deadline)?;
        let s = self.state();
        while s.unfinished.load(Ordering::Relaxed) != 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) || !self.wait(&s.all_done, deadline)? {
                return Err(ProcessError::timed_out());
            }
        }
        Ok(())
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.state().unfinished.load(Ordering::Relaxed) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Ends a thread while it holds the ring's mutex, as a killed process would: the
    /// robust mutex then reports the owner's death to the next locker.
    fn die_holding(ring: &Ring, before_dying: impl FnOnce(&Ring) + Send) {
        std::thread::scope(|s| {
            s.spawn(|| {
                let held = ring.lock(None).unwrap();
                before_dying(ring);
                std::mem::forget(held);
            });
        });
    }

    #[test]
    fn a_half_done_read_is_rolled_back() {
        let ring = Ring::new(1024, 0).unwrap();
        ring.admit(None).unwrap();
        assert!(ring.write(b"item", None).unwrap());
        die_holding(&ring, |r| {
            r.begin();
            // The reader moved `head` past the item, then died before `admitted`.
            let s = r.state();
            s.head
                .store(s.tail.load(Ordering::SeqCst), Ordering::SeqCst);
        });
        // The next locker restores both: the item is still there, counted once.
        assert_eq!(ring.read(Some(Instant::now())).unwrap(), b"item");
        assert_eq!(ring.admitted(), 0);
    }

    #[test]
    fn a_writer_dying_before_its_notify_does_not_strand_a_reader() {
        let ring = Ring::new(1024, 0).unwrap();
        std::thread::scope(|s| {
            let reader = s.spawn(|| ring.read(Some(Instant::now() + Duration::from_secs(30))));
            std::thread::sleep(Duration::from_millis(100)); // the reader is asleep
            die_holding(&ring, |r| {
                // Publish a frame the way `write` does, then die before notifying.
                let s = r.state();
                let tail = s.tail.load(Ordering::SeqCst);
                r.copy_in(tail, &3u32.to_le_bytes());
                r.copy_in(tail + LEN_BYTES, b"abc");
                s.admitted.fetch_add(1, Ordering::SeqCst);
                s.tail.store(tail + LEN_BYTES + 3, Ordering::SeqCst);
            });
            assert_eq!(reader.join().unwrap().unwrap(), b"abc");
        });
    }

    #[test]
    fn a_dying_task_done_does_not_strand_join() {
        let ring = Ring::new(1024, 0).unwrap();
        ring.admit(None).unwrap();
        std::thread::scope(|s| {
            let joiner = s.spawn(|| ring.join(Some(Instant::now() + Duration::from_secs(30))));
            std::thread::sleep(Duration::from_millis(100));
            die_holding(&ring, |r| r.state().unfinished.store(0, Ordering::SeqCst));
            joiner.join().unwrap().unwrap();
        });
    }

    #[test]
    fn a_busy_lock_is_not_a_full_or_empty_queue() {
        let ring = Ring::new(1024, 0).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let held = ring.lock(None).unwrap();
                std::thread::sleep(Duration::from_millis(200));
                drop(held);
            });
            std::thread::sleep(Duration::from_millis(50));
            // Unbounded: admitting never reports Full, even with the lock busy.
            ring.admit(Some(Instant::now())).unwrap();
        });
        assert!(ring.write(b"x", None).unwrap());
        assert_eq!(ring.read(Some(Instant::now())).unwrap(), b"x");
    }

    /// Another process overwrites a frame's length prefix, the shared capacity, or the
    /// counters: reads and writes stay inside the mapping, nothing huge is allocated,
    /// and the damage is reported.
    #[test]
    fn corrupt_shared_fields_are_errors_not_out_of_bounds_access() {
        let ring = Ring::new(256, 0).unwrap();
        ring.admit(None).unwrap();
        assert!(ring.write(b"hello", None).unwrap());
        // A length prefix claiming 4 GiB.
        let (base, _) = ring.shm.tail();
        // SAFETY: the first frame's prefix lies at the ring's start; no one else uses
        // this ring.
        unsafe { std::ptr::write_bytes(base, 0xff, LEN_BYTES as usize) };
        assert!(matches!(
            ring.read(None),
            Err(ProcessError::InvalidState(_))
        ));

        // A shared capacity rewritten to something huge changes nothing here.
        let ring = Ring::new(256, 0).unwrap();
        ring.state().capacity.store(u64::MAX / 2, Ordering::Relaxed);
        assert_eq!(ring.capacity(), 256);
        ring.admit(None).unwrap();
        assert!(ring.write(&[1; 100], None).unwrap());
        ring.admit(None).unwrap();
        assert!(
            !ring.write(&[2; 200], Some(Instant::now())).unwrap(),
            "the real size bounds the space check"
        );
        assert_eq!(ring.read(None).unwrap(), vec![1; 100]);

        // Counters moved apart by more than the ring holds.
        let ring = Ring::new(256, 0).unwrap();
        ring.admit(None).unwrap();
        assert!(ring.write(b"x", None).unwrap());
        ring.state().tail.store(1 << 40, Ordering::Relaxed);
        assert!(matches!(
            ring.read(None),
            Err(ProcessError::InvalidState(_))
        ));
        assert!(matches!(
            ring.write(b"y", None),
            Err(ProcessError::InvalidState(_))
        ));
    }
}
