//! Slabs and the per-thread free list of stack slots.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::rc::Rc;
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicU8, Ordering};

use corosensei::stack::{Stack, StackPointer};

use super::overflow;

/// Slots per slab: one `mmap` (and, with guard install, one memory area) per 256 stacks.
const SLOTS_PER_SLAB: usize = 256;
/// Bytes at the bottom of every slot that fault on access.
const GUARD: usize = 16 * 1024;
/// Free slots kept committed per stack size; beyond this their pages are returned to
/// the kernel (`MADV_DONTNEED`): at once on a thread without a hub, and when the hub
/// is about to sleep on a thread with one ([`trim_idle`]), so a busy hub never pays
/// for it and a burst of greenlets reuses warm stacks.
const WARM_SLOTS: usize = 1024;
/// Whether `MADV_GUARD_INSTALL` works here: not yet known, yes, no.
#[cfg(target_os = "linux")]
const UNKNOWN: u8 = 0;
#[cfg(target_os = "linux")]
const SUPPORTED: u8 = 1;
#[cfg(target_os = "linux")]
const UNSUPPORTED: u8 = 2;

/// `MADV_GUARD_INSTALL` (Linux 6.13); the same value on every architecture.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// One mapping holding `SLOTS_PER_SLAB` guarded stacks.
struct Slab {
    base: usize,
    len: usize,
    slot_size: usize,
    guard: usize,
    registration: Option<overflow::Registration>,
}

impl Slab {
    fn new(stack_size: usize) -> io::Result<Slab> {
        let page = page_size();
        let too_large = || io::Error::other("greenlet stack size too large");
        let usable = stack_size
            .max(corosensei::stack::MIN_STACK_SIZE)
            .checked_next_multiple_of(page)
            .ok_or_else(too_large)?;
        let guard = GUARD.next_multiple_of(page);
        let slot_size = usable.checked_add(guard).ok_or_else(too_large)?;
        let len = slot_size
            .checked_mul(SLOTS_PER_SLAB)
            .ok_or_else(too_large)?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // aliases nothing; the result is checked against MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let error = io::Error::last_os_error();
            return Err(io::Error::new(
                error.kind(),
                format!(
                    "cannot map {len} bytes for greenlet stacks ({error}); each 256 stacks \
                     take one memory mapping: check `ulimit -v` and `sysctl vm.max_map_count`"
                ),
            ));
        }
        let mut slab = Slab {
            base: base as usize,
            len,
            slot_size,
            guard,
            registration: None,
        };
        #[cfg(target_os = "linux")]
        {
            // Huge pages would commit 2 MiB per touched stack.
            // SAFETY: the range is our own fresh mapping; the advice changes no contents.
            unsafe { libc::madvise(base, len, libc::MADV_NOHUGEPAGE) };
        }
        for slot in 0..SLOTS_PER_SLAB {
            slab.install_guard(slot * slot_size, guard)?;
        }
        slab.registration = overflow::register(slab.base, len, slot_size, guard);
        Ok(slab)
    }

    /// Makes `[offset, offset + guard)` fault on access.
    fn install_guard(&self, offset: usize, guard: usize) -> io::Result<()> {
        let addr = (self.base + offset) as *mut libc::c_void;
        #[cfg(target_os = "linux")]
        {
            // Probed once per process: on a kernel without it, every guard would
            // otherwise pay a failing system call first.
            static GUARD_INSTALL: AtomicU8 = AtomicU8::new(UNKNOWN);
            if GUARD_INSTALL.load(Ordering::Relaxed) != UNSUPPORTED {
                // SAFETY: the range lies inside our mapping and holds no live data yet.
                if unsafe { libc::madvise(addr, guard, MADV_GUARD_INSTALL) } == 0 {
                    GUARD_INSTALL.store(SUPPORTED, Ordering::Relaxed);
                    return Ok(());
                }
                if GUARD_INSTALL.load(Ordering::Relaxed) == UNKNOWN
                    && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
                {
                    GUARD_INSTALL.store(UNSUPPORTED, Ordering::Relaxed);
                }
            }
        }
        // SAFETY: as above; PROT_NONE only removes access to a range nobody uses.
        if unsafe { libc::mprotect(addr, guard, libc::PROT_NONE) } == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        Err(io::Error::new(
            error.kind(),
            format!(
                "cannot install a greenlet stack guard ({error}); without MADV_GUARD_INSTALL \
                 (Linux 6.13+) every guarded stack costs two memory mappings: raise \
                 `sysctl vm.max_map_count` for more live greenlets"
            ),
        ))
    }

    #[inline]
    fn slot_bounds(&self, index: usize) -> (usize, usize) {
        let limit = self.base + index * self.slot_size;
        (limit, limit + self.slot_size)
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // Unregister before unmapping so the fault handler never reads a stale range.
        drop(self.registration.take());
        // SAFETY: the mapping is ours and no stack in it is in use: every slot holds an
        // `Rc` to the slab, so the last one is gone.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// A free slot: which slab, which index.
struct Slot {
    slab: Rc<Slab>,
    index: usize,
}

/// The free slots of one stack size.
#[derive(Default)]
struct Class {
    stack_size: usize,
    /// Freed slots whose pages may still be committed, the most recently freed (the
    /// warmest) at the back.
    warm: VecDeque<Slot>,
    /// Slots never used, or whose pages were given back.
    cold: Vec<Slot>,
}

impl Class {
    fn take(&mut self) -> Option<Slot> {
        self.warm.pop_back().or_else(|| self.cold.pop())
    }

    /// Gives the pages of up to `budget` of the coldest warm slots beyond
    /// [`WARM_SLOTS`] back to the kernel; returns how many.
    fn trim(&mut self, budget: usize) -> usize {
        let excess = self.warm.len().saturating_sub(WARM_SLOTS).min(budget);
        if excess == 0 {
            return 0;
        }
        let mut batch: Vec<Slot> = self.warm.drain(..excess).collect();
        // One system call per run of neighbouring slots rather than per slot: the
        // cost is mostly the TLB flush each call does. The guards between them stay:
        // `MADV_DONTNEED` keeps guard markers, and a `PROT_NONE` range has no pages.
        batch.sort_by_key(|slot| (slot.slab.base, slot.index));
        let mut run_start = 0;
        for i in 1..=batch.len() {
            let continues = i < batch.len()
                && Rc::ptr_eq(&batch[i].slab, &batch[i - 1].slab)
                && batch[i].index == batch[i - 1].index + 1;
            if !continues {
                let (first, last) = (&batch[run_start], &batch[i - 1]);
                let slab = &first.slab;
                let (limit, _) = slab.slot_bounds(first.index);
                let (_, base) = slab.slot_bounds(last.index);
                // SAFETY: the slots of the run are free (in no greenlet's use); their
                // contents may be discarded, and the range lies in their slab.
                unsafe {
                    libc::madvise(
                        (limit + slab.guard) as *mut libc::c_void,
                        base - limit - slab.guard,
                        libc::MADV_DONTNEED,
                    )
                };
                run_start = i;
            }
        }
        self.cold.append(&mut batch);
        excess
    }
}

/// Free slots per stack size, on this thread.
#[derive(Default)]
struct Pool {
    classes: Vec<Class>,
    /// Set by the thread's hub: trimming waits until the hub is idle.
    defer_trim: bool,
}

impl Pool {
    fn class(&mut self, stack_size: usize) -> &mut Class {
        let at = match self
            .classes
            .iter()
            .position(|class| class.stack_size == stack_size)
        {
            Some(at) => at,
            None => {
                self.classes.push(Class {
                    stack_size,
                    ..Class::default()
                });
                self.classes.len() - 1
            }
        };
        &mut self.classes[at]
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// How many slots one [`trim_idle`] gives back at most, so an idle hub wakes up
/// promptly when work comes.
const TRIM_BATCH: usize = 1024;

/// Called by the thread's hub when it is created: from then on, released stacks
/// beyond [`WARM_SLOTS`] are trimmed by [`trim_idle`] instead of at once.
pub(crate) fn defer_trimming() {
    let _ = POOL.try_with(|pool| pool.borrow_mut().defer_trim = true);
}

/// Gives the pages of surplus free stacks back to the kernel, a batch at a time;
/// called by the hub before it sleeps. Returns whether more is left to trim.
pub(crate) fn trim_idle() -> bool {
    POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let mut budget = TRIM_BATCH;
        for class in &mut pool.classes {
            budget -= class.trim(budget);
        }
        pool.classes
            .iter()
            .any(|class| class.warm.len() > WARM_SLOTS)
    })
    .unwrap_or(false)
}

/// A guarded stack slot for one greenlet; goes back to its thread's free list on drop.
pub(crate) struct GreenletStack {
    /// Taken back by `drop`, which returns the slot to the free list without touching
    /// the slab's reference count.
    slot: ManuallyDrop<Slot>,
    stack_size: usize,
    /// The slot's bounds, computed once: corosensei asks for `base` on every resume.
    limit: StackPointer,
    base: StackPointer,
}

impl GreenletStack {
    /// A free slot for `stack_size`-byte stacks, mapping a new slab if none is free.
    pub(crate) fn take(stack_size: usize) -> io::Result<GreenletStack> {
        let reused = POOL.with(|pool| pool.borrow_mut().class(stack_size).take());
        let slot = match reused {
            Some(slot) => slot,
            None => {
                overflow::install_handler();
                let slab = Rc::new(Slab::new(stack_size)?);
                POOL.with(|pool| {
                    let mut pool = pool.borrow_mut();
                    let free = pool.class(stack_size);
                    // Hand out slot 0; keep the rest, highest first so pops go upward.
                    free.cold
                        .extend((1..SLOTS_PER_SLAB).rev().map(|index| Slot {
                            slab: slab.clone(),
                            index,
                        }));
                });
                Slot { slab, index: 0 }
            }
        };
        let (limit, base) = slot.slab.slot_bounds(slot.index);
        let nonzero = |addr| StackPointer::new(addr).expect("a mapping is never at address 0");
        Ok(GreenletStack {
            limit: nonzero(limit),
            base: nonzero(base),
            slot: ManuallyDrop::new(slot),
            stack_size,
        })
    }
}

impl Drop for GreenletStack {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the field is not used afterwards.
        let slot = unsafe { ManuallyDrop::take(&mut self.slot) };
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            let defer = pool.defer_trim;
            let free = pool.class(self.stack_size);
            free.warm.push_back(slot);
            if !defer && free.warm.len() > WARM_SLOTS {
                // No hub to trim when idle: give this surplus back now.
                free.trim(usize::MAX);
            }
        });
    }
}

// SAFETY: every slot begins with a guard region that faults on access (installed in
// `Slab::new`, or the slab creation fails), and holds at least MIN_STACK_SIZE usable
// bytes above it; both bounds are page-aligned, hence aligned to STACK_ALIGNMENT.
unsafe impl Stack for GreenletStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.base
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.limit
    }
}
