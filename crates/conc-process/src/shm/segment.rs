//! `Segment`: a fixed-size block of memory shared between processes, and `ShmBox<T>`,
//! a typed header (plus an optional tail) placed in one.
//!
//! The memory is a `memfd` mapped `MAP_SHARED`. Three ways reach the *same* memory:
//!
//! * `fork`: the child inherits the mapping (and `MAP_SHARED` stays shared);
//! * sending in a message (see [`crate::wire`]): serialization passes the fd, the
//!   receiver maps it again (possibly at another address);
//! * `Clone` in one process: an `Arc`, the same mapping.
//!
//! Everything placed in a segment must therefore be position-independent: no pointers,
//! only integers, atomics and pthread objects initialized `PTHREAD_PROCESS_SHARED`.
//!
//! # Lifetime
//!
//! The memory is freed by the kernel when the last mapping and the last fd go, in every
//! process. Nothing is ever "destroyed" explicitly: another process may still use it.
//!
//! One process-local rule comes from glibc's robust mutexes: while this process holds a
//! robust mutex, glibc keeps it in a per-thread linked list *through the mutex's memory*
//! and writes to it when a neighbouring mutex is unlocked. Unmapping a segment whose mutex
//! is still held would let glibc write into unmapped (or reused) memory. So whoever keeps
//! a mutex locked beyond one borrow of its segment calls [`Segment::hold`] after locking
//! and [`Segment::unhold`] after unlocking; a segment dropped with holds outstanding
//! leaks its mapping instead of unmapping it.

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use std::os::fd::{AsFd, OwnedFd};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProcessError;

/// A block of process-shared memory. Cheap to clone (an `Arc`), `Send + Sync`, and
/// serializable in a message to another process, which then maps the same memory.
#[derive(Clone)]
pub(crate) struct Segment {
    inner: Arc<Inner>,
}

struct Inner {
    /// The memfd, to send the memory on to other processes.
    fd: OwnedFd,
    /// The start of this process's `MAP_SHARED` mapping of `len` bytes of `fd`.
    ptr: *mut u8,
    len: usize,
    /// Robust mutexes in this segment currently held by this process (see module docs).
    holds: AtomicUsize,
}

// SAFETY: `ptr` points into a mapping owned by `Inner` (unmapped on drop); the
// memory is only ever accessed through atomics, pthread objects, or under the rules of
// the types placed in it, all of which are designed for concurrent use (by other
// processes, so a fortiori by other threads).
unsafe impl Send for Inner {}
// SAFETY: as for `Send`.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.holds.load(Ordering::Acquire) == 0 {
            // SAFETY: the mapping was made by `map` with this address and length and is
            // unmapped exactly once, here; no reference into it outlives `Inner` (all
            // access goes through clones of the `Arc` that owns it).
            let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
        }
        // Otherwise leak the mapping: glibc's robust list may still point into it.
    }
}

impl Segment {
    /// A new zero-filled segment of `len` bytes, or why the OS refused it (descriptor
    /// limit, memory, address space, `vm.max_map_count`).
    pub(crate) fn try_new(len: usize) -> Result<Segment, ProcessError> {
        if len == 0 {
            return Err(ProcessError::InvalidArgument(
                "a shared memory segment cannot be empty".into(),
            ));
        }
        let fail = |e: rustix::io::Errno| {
            let hint = if e == rustix::io::Errno::NOMEM {
                " (memory, address space or `sysctl vm.max_map_count` exhausted)"
            } else {
                ""
            };
            ProcessError::os(
                "cannot create shared memory",
                std::io::Error::other(format!("{e}{hint}")),
            )
        };
        let fd = rustix::fs::memfd_create(c"conc-process", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(fail)?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(fail)?;
        Segment::map(fd, len).map_err(fail)
    }

    /// Maps `len` bytes of the memfd `fd` (fresh from `memfd_create`, or received).
    fn map(fd: OwnedFd, len: usize) -> Result<Segment, rustix::io::Errno> {
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a new shared mapping at an address the kernel chooses: it aliases no
        // Rust object. The memory is only accessed through raw pointers under the rules
        // of the module docs, and unmapped once, when `Inner` drops.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }?;
        Ok(Segment {
            inner: Arc::new(Inner {
                fd,
                ptr: ptr.cast(),
                len,
                holds: AtomicUsize::new(0),
            }),
        })
    }

    /// The first byte of this process's mapping. Valid while any clone of `self` lives
    /// (or longer, while holds are outstanding).
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.inner.ptr
    }

    /// The size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.inner.len
    }

    /// A typed pointer to `offset`, checked to be in bounds and aligned for `T`.
    ///
    /// # Panics
    ///
    /// If `offset + size_of::<T>()` exceeds the length or the address is misaligned.
    pub(crate) fn ptr_at<T>(&self, offset: usize) -> *mut T {
        let end = offset.checked_add(size_of::<T>()).expect("offset overflow");
        assert!(end <= self.len(), "offset {offset} out of the segment");
        // SAFETY: `offset` is within the mapping (checked above).
        let p = unsafe { self.as_ptr().add(offset) };
        assert!(
            (p as usize).is_multiple_of(align_of::<T>()),
            "misaligned shared value"
        );
        p.cast()
    }

    /// Records that a robust mutex in this segment is now held by this process and may
    /// stay held after the caller's borrow of the segment ends.
    pub(crate) fn hold(&self) {
        self.inner.holds.fetch_add(1, Ordering::AcqRel);
    }

    /// Undoes one [`hold`](Self::hold), after the mutex was unlocked.
    pub(crate) fn unhold(&self) {
        let _ = self
            .inner
            .holds
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| h.checked_sub(1));
    }

    /// Whether two handles map the same memory *through the same mapping* (same process).
    #[cfg(test)]
    pub(crate) fn same_mapping(&self, other: &Segment) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("ptr", &self.inner.ptr)
            .field("len", &self.inner.len)
            .finish()
    }
}

impl Serialize for Segment {
    /// Serializes the memory itself (its fd, and its length) into a message; other
    /// serializers cannot carry it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        crate::wire::refuse_in_plain::<S::Error>("a lock or shared value")?;
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&crate::wire::DescriptorRef(self.inner.fd.as_fd()))?;
        tuple.serialize_element(&(self.inner.len as u64))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Segment {
    /// Maps the memory a message carried, after checking it is as long as it says (a
    /// shorter file would fault on access past its end).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (fd, len) = <(crate::wire::Descriptor, u64)>::deserialize(deserializer)?;
        let size = rustix::fs::fstat(&fd)
            .map_err(crate::wire::de_error::<D::Error>)?
            .st_size;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len > 0 && u64::try_from(size).is_ok_and(|size| size >= len as u64))
            .ok_or_else(|| {
                crate::wire::de_error::<D::Error>(format!(
                    "a shared memory segment of {len} bytes arrived backed by {size} bytes"
                ))
            })?;
        Segment::map(fd.0, len).map_err(|e| {
            crate::wire::de_error::<D::Error>(format!("cannot map shared memory: {e}"))
        })
    }
}

/// A type that can live at the start of a [`ShmBox`].
///
/// # Safety
///
/// Implementors must be `#[repr(C)]`, valid when all bytes are zero, contain no
/// pointers (the memory is mapped at different addresses in different processes) and
/// be usable through `&Self` from several processes at once (atomics, pthread objects
/// in `UnsafeCell`s, or fields only touched under a process-shared mutex). `MAGIC` must
/// be unique among implementors, so that a segment made for one type is not accepted
/// as another when deserialized.
pub(crate) unsafe trait ShmLayout: Sized {
    /// Identifies the type in the segment header.
    const MAGIC: u64;
}

/// The first bytes of every `ShmBox` segment.
#[repr(C)]
struct Header {
    /// `T::MAGIC` once initialization is complete (`Release`), zero before.
    magic: AtomicU64,
    /// Byte offset of the tail, and its length.
    tail_offset: AtomicU64,
    tail_len: AtomicU64,
}

/// Offset of `T` in the segment: after the header, aligned.
const fn value_offset<T>() -> usize {
    size_of::<Header>().next_multiple_of(align_of::<T>())
}

/// A `T` (plus `tail_len` untyped bytes) in its own [`Segment`]: the building block of
/// every shared primitive. `Clone` shares; serialization passes the memory.
pub(crate) struct ShmBox<T: ShmLayout> {
    seg: Segment,
    /// Where the tail is, as validated when this handle was made. Kept here, not read
    /// from the shared header on each use: another process may rewrite the header
    /// (by bug or malice), and must not be able to move this process's reads and
    /// writes outside the mapping.
    tail_offset: usize,
    tail_len: usize,
    _type: PhantomData<T>,
}

impl<T: ShmLayout> Clone for ShmBox<T> {
    fn clone(&self) -> Self {
        ShmBox {
            seg: self.seg.clone(),
            tail_offset: self.tail_offset,
            tail_len: self.tail_len,
            _type: PhantomData,
        }
    }
}

impl<T: ShmLayout> ShmBox<T> {
    /// A new zeroed `T` with `tail_len` bytes after it (aligned to `tail_align`); `init`
    /// runs once, before any other process can see the memory, to set it up in place
    /// (pthread objects must be initialized at their final address).
    ///
    /// # Panics
    ///
    /// If the OS refuses the memory, or `tail_align` is not a power of two.
    pub(crate) fn new(tail_len: usize, tail_align: usize, init: impl FnOnce(&T, *mut u8)) -> Self {
        Self::try_new(tail_len, tail_align, |value, tail| {
            init(value, tail);
            Ok(())
        })
        .unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`new`](Self::new), with the refusals (of the OS, or of `init`) as errors.
    ///
    /// # Panics
    ///
    /// If `tail_align` is not a power of two (a bug of this crate).
    pub(crate) fn try_new(
        tail_len: usize,
        tail_align: usize,
        init: impl FnOnce(&T, *mut u8) -> Result<(), ProcessError>,
    ) -> Result<Self, ProcessError> {
        assert!(tail_align.is_power_of_two());
        let tail_offset = (value_offset::<T>() + size_of::<T>()).next_multiple_of(tail_align);
        let len = tail_offset
            .checked_add(tail_len)
            .ok_or_else(|| ProcessError::InvalidArgument("shared memory size overflows".into()))?;
        let seg = Segment::try_new(len)?;
        let boxed = ShmBox {
            seg,
            tail_offset,
            tail_len,
            _type: PhantomData,
        };
        // SAFETY: in bounds (the segment covers the tail) and only this thread knows the
        // segment yet.
        let tail = unsafe { boxed.seg.as_ptr().add(tail_offset) };
        init(boxed.get(), tail)?;
        let header = boxed.header();
        header
            .tail_offset
            .store(tail_offset as u64, Ordering::Relaxed);
        header.tail_len.store(tail_len as u64, Ordering::Relaxed);
        header.magic.store(T::MAGIC, Ordering::Release);
        Ok(boxed)
    }

    fn header(&self) -> &Header {
        // SAFETY: the segment is at least a header long (checked at construction and
        // deserialization), `Header` is valid zeroed and made of atomics.
        unsafe { &*self.seg.ptr_at::<Header>(0) }
    }

    /// The shared value.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: in bounds and aligned (`ptr_at` checks); `ShmLayout` promises zero is a
        // valid `T` usable through `&T` concurrently; the mapping lives as long as `self`.
        unsafe { &*self.seg.ptr_at::<T>(value_offset::<T>()) }
    }

    /// The tail bytes: pointer and length (as validated when this handle was made).
    pub(crate) fn tail(&self) -> (*mut u8, usize) {
        // SAFETY: offset + len fits in the segment (checked at construction or
        // deserialization, and kept in this handle since).
        (
            unsafe { self.seg.as_ptr().add(self.tail_offset) },
            self.tail_len,
        )
    }

    /// The segment, for [`Segment::hold`]/[`Segment::unhold`].
    pub(crate) fn segment(&self) -> &Segment {
        &self.seg
    }
}

impl<T: ShmLayout> Serialize for ShmBox<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.seg.serialize(serializer)
    }
}

impl<'de, T: ShmLayout> Deserialize<'de> for ShmBox<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seg = Segment::deserialize(deserializer)?;
        if seg.len() < value_offset::<T>() + size_of::<T>() {
            return Err(crate::wire::de_error::<D::Error>(
                "shared memory segment too small for its type",
            ));
        }
        let mut boxed = ShmBox {
            seg,
            tail_offset: 0,
            tail_len: 0,
            _type: PhantomData,
        };
        let header = boxed.header();
        if header.magic.load(Ordering::Acquire) != T::MAGIC {
            return Err(crate::wire::de_error::<D::Error>(
                "shared memory segment holds another type",
            ));
        }
        let offset = header.tail_offset.load(Ordering::Relaxed);
        let len = header.tail_len.load(Ordering::Relaxed);
        let values_end = (value_offset::<T>() + size_of::<T>()) as u64;
        if offset < values_end
            || offset
                .checked_add(len)
                .is_none_or(|end| end > boxed.seg.len() as u64)
        {
            return Err(crate::wire::de_error::<D::Error>(
                "shared memory segment header is corrupt",
            ));
        }
        (boxed.tail_offset, boxed.tail_len) = (offset as usize, len as usize);
        Ok(boxed)
    }
}

impl<T: ShmLayout> std::fmt::Debug for ShmBox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.seg.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[repr(C)]
    struct Counter {
        n: AtomicU32,
    }
    // SAFETY: repr(C), one atomic, valid zeroed; unique magic.
    unsafe impl ShmLayout for Counter {
        const MAGIC: u64 = 0x7465_7374_0000_0001;
    }

    #[test]
    fn clone_shares_one_mapping() {
        let a = ShmBox::<Counter>::new(8, 8, |c, _| c.n.store(5, Ordering::Relaxed));
        let b = a.clone();
        assert!(a.segment().same_mapping(b.segment()));
        b.get().n.fetch_add(1, Ordering::Relaxed);
        assert_eq!(a.get().n.load(Ordering::Relaxed), 6);
        let (tail, len) = a.tail();
        assert_eq!(len, 8);
        assert_eq!(tail as usize % 8, 0);
    }

    #[test]
    fn through_a_channel_maps_the_same_memory() {
        let a = ShmBox::<Counter>::new(0, 1, |_, _| {});
        let (tx, mut rx) = crate::ipc::channel().unwrap();
        tx.send(a.clone()).unwrap();
        let b: ShmBox<Counter> = rx.recv().unwrap();
        assert!(!a.segment().same_mapping(b.segment()));
        assert_ne!(a.segment().as_ptr(), b.segment().as_ptr());
        b.get().n.store(42, Ordering::Relaxed);
        assert_eq!(a.get().n.load(Ordering::Relaxed), 42);
    }

    /// A peer rewriting the shared header cannot move this handle's tail, and a handle
    /// made from a corrupt header is refused.
    #[test]
    fn the_tail_is_validated_once_and_kept() {
        let a = ShmBox::<Counter>::new(64, 8, |_, _| {});
        let (ptr, len) = a.tail();
        a.header().tail_len.store(u64::MAX / 2, Ordering::Relaxed);
        assert_eq!(a.tail(), (ptr, len), "the header was re-read");
        let (tx, mut rx) = crate::ipc::channel::<ShmBox<Counter>>().unwrap();
        tx.send(a.clone()).unwrap();
        assert!(rx.recv().is_err(), "a corrupt header must be refused");
        a.header().tail_len.store(64, Ordering::Relaxed);
        a.header().tail_offset.store(0, Ordering::Relaxed); // over the header itself
        tx.send(a.clone()).unwrap();
        assert!(rx.recv().is_err(), "a tail over the value must be refused");
    }

    #[test]
    fn wrong_type_is_rejected() {
        #[repr(C)]
        struct Other {
            n: AtomicU32,
        }
        // SAFETY: as for Counter.
        unsafe impl ShmLayout for Other {
            const MAGIC: u64 = 0x7465_7374_0000_0002;
        }
        let a = ShmBox::<Counter>::new(0, 1, |_, _| {});
        let (tx, rx) = crate::ipc::channel::<ShmBox<Counter>>().unwrap();
        tx.send(a).unwrap();
        // Receive the same bytes as the wrong type through an untyped route.
        let mut rx = crate::ipc::Receiver::<ShmBox<Other>>::from_fd(rx.into_fd());
        assert!(rx.recv().is_err());
    }

    /// A received segment shorter than it claims is refused (it would fault past its
    /// end), not mapped.
    #[test]
    fn a_segment_shorter_than_it_claims_is_refused() {
        let seg = Segment::try_new(4096).unwrap();
        let (tx, mut rx) = crate::ipc::channel::<Segment>().unwrap();
        tx.send(seg.clone()).unwrap();
        let _ok = rx.recv().unwrap();
        rustix::fs::ftruncate(&seg.inner.fd, 16).unwrap();
        tx.send(seg.clone()).unwrap();
        let err = rx.recv().unwrap_err();
        assert!(err.to_string().contains("backed by 16 bytes"), "{err}");
    }

    #[test]
    fn ptr_at_checks_bounds() {
        let seg = Segment::try_new(16).unwrap();
        let _ok: *mut u64 = seg.ptr_at(8);
        let r = std::panic::catch_unwind(|| seg.ptr_at::<u64>(12));
        assert!(r.is_err());
    }
}
