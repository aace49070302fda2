//! Slabs and the per-thread free list of stack slots.

use std::cell::RefCell;
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
/// the kernel (`MADV_DONTNEED`) when released.
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

/// Free slots per stack size, on this thread.
#[derive(Default)]
struct Pool {
    classes: Vec<(usize, Vec<Slot>)>,
}

impl Pool {
    fn class(&mut self, stack_size: usize) -> &mut Vec<Slot> {
        let at = match self
            .classes
            .iter()
            .position(|(size, _)| *size == stack_size)
        {
            Some(at) => at,
            None => {
                self.classes.push((stack_size, Vec::new()));
                self.classes.len() - 1
            }
        };
        &mut self.classes[at].1
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
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
        let reused = POOL.with(|pool| pool.borrow_mut().class(stack_size).pop());
        let slot = match reused {
            Some(slot) => slot,
            None => {
                overflow::install_handler();
                let slab = Rc::new(Slab::new(stack_size)?);
                POOL.with(|pool| {
                    let mut pool = pool.borrow_mut();
                    let free = pool.class(stack_size);
                    // Hand out slot 0; keep the rest, highest first so pops go upward.
                    free.extend((1..SLOTS_PER_SLAB).rev().map(|index| Slot {
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
        let (limit, base) = (self.limit.get(), self.base.get());
        let guard = slot.slab.guard;
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            let free = pool.class(self.stack_size);
            if free.len() >= WARM_SLOTS {
                // Give the pages back; the slot stays reserved and guarded.
                // SAFETY: the range is this slot's usable stack, no longer in use; its
                // contents may be discarded.
                unsafe {
                    libc::madvise(
                        (limit + guard) as *mut libc::c_void,
                        base - limit - guard,
                        libc::MADV_DONTNEED,
                    )
                };
            }
            free.push(slot);
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
