//! `SharedMemory`: Python's `multiprocessing.shared_memory.SharedMemory`, a named POSIX
//! shared memory block (`shm_open`) any process can attach to by name.
//!
//! # Cleanup of names
//!
//! A name outlives every process until someone unlinks it. Like Python's
//! `resource_tracker`, the first [`SharedMemory::create`] in a process starts a small
//! tracker process; each created name is registered with it and [`SharedMemory::unlink`]
//! unregisters it. The tracker holds one end of a `SOCK_SEQPACKET` socket pair; this
//! process (and every child `fork`ed from it, which inherits the other end) holds the
//! other. When they have all exited, however they exited, the tracker reads end-of-file
//! and unlinks every name still registered.
//!
//! The tracker is forked, possibly from a multi-threaded program, so it only calls
//! async-signal-safe functions: it first closes every inherited descriptor except its
//! socket (otherwise it would keep other pipes open and hide their end-of-file), ignores
//! terminal signals and leaves the session (so Ctrl-C on the program does not kill it
//! before it cleans up), then `recv`s fixed-size records into memory allocated before the
//! fork and finally calls `shm_unlink` and `_exit`. It is double-forked, so it is never a
//! child this program has to reap.
//!
//! One tracker holds up to 4096 live names; names registered beyond that are not
//! cleaned up automatically (unlink them yourself).
//!
//! Programs started by `exec` (`spawn` children, subprocesses) do not inherit the socket
//! (close-on-exec): a `spawn` child that creates segments has its own tracker, which
//! cleans up when *that* child's tree exits.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ProcessError, sys};

/// A named block of shared memory, like Python's
/// `multiprocessing.shared_memory.SharedMemory`.
///
/// # Data races
///
/// The bytes are shared with other processes that may write them at any time. The safe
/// [`read`](SharedMemory::read) and [`write`](SharedMemory::write) copy bytes in and
/// out one relaxed atomic byte at a time; if another thread or process writes the same
/// bytes concurrently, the bytes read are a mix of old and new, never undefined
/// behaviour.
/// Order access with a process-shared [`Lock`](crate::Lock) when that matters, as in
/// Python. [`as_ptr`](SharedMemory::as_ptr) gives the raw address for `unsafe` use;
/// references made from it must respect the same rule.
///
/// # Examples
///
/// ```
/// use conc_process::SharedMemory;
///
/// let shm = SharedMemory::create(None, 16).unwrap();
/// shm.write(0, b"hello").unwrap();
/// let other = SharedMemory::attach(shm.name()).unwrap(); // e.g. in another process
/// let mut buf = [0u8; 5];
/// other.read(0, &mut buf).unwrap();
/// assert_eq!(&buf, b"hello");
/// drop(other);
/// shm.unlink().unwrap();
/// ```
pub struct SharedMemory {
    /// The name without the leading slash, as Python shows it.
    name: String,
    size: usize,
    ptr: *mut u8,
}

// SAFETY: the mapping is process-wide memory owned by this value; every access through
// the safe API is a relaxed atomic byte access, so racing copies only tear.
unsafe impl Send for SharedMemory {}
// SAFETY: as for `Send`: `&self` methods only copy bytes in or out.
unsafe impl Sync for SharedMemory {}

/// Longest accepted name (without the slash): a tracker record holds the op, the
/// length, the slash, the name and a NUL.
const MAX_NAME: usize = tracker::RECORD - 4;

fn validate_name(name: &str) -> Result<CString, ProcessError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.len() > MAX_NAME || bare.contains('/') || bare.contains('\0') {
        return Err(ProcessError::InvalidArgument(format!(
            "invalid shared memory name {name:?} (1 to {MAX_NAME} bytes, no '/' or NUL)"
        )));
    }
    Ok(CString::new(format!("/{bare}")).expect("checked for NUL"))
}

/// Python's `psm_` plus eight random hex digits.
fn random_name() -> String {
    let bytes = sys::random_bytes().unwrap_or_else(|| {
        // No entropy source: fall back on time and pid, still unlikely to collide (and
        // O_EXCL catches collisions).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        (nanos ^ std::process::id().rotate_left(16)).to_le_bytes()
    });
    format!(
        "psm_{:02x}{:02x}{:02x}{:02x}",
        bytes[0], bytes[1], bytes[2], bytes[3]
    )
}

impl SharedMemory {
    /// Creates a new block of `size` bytes, zero-filled, named `name` or a random
    /// `psm_xxxxxxxx` name when `None`. The name is registered for cleanup (see the
    /// module docs) until [`unlink`](Self::unlink).
    ///
    /// # Errors
    ///
    /// * [`ProcessError::InvalidArgument`] if `size` is zero or the name is invalid.
    /// * [`ProcessError::Os`] if the name exists already (context `"shm_open"`, message
    ///   "File exists", Python's `FileExistsError`) or the OS refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 100).unwrap();
    /// assert!(shm.name().starts_with("psm_"));
    /// assert_eq!(shm.size(), 100);
    /// shm.unlink().unwrap();
    /// ```
    pub fn create(name: Option<&str>, size: usize) -> Result<SharedMemory, ProcessError> {
        if size == 0 {
            return Err(ProcessError::InvalidArgument(
                "'size' must be a positive number different from zero".into(),
            ));
        }
        let (cname, fd) = loop {
            let cname = validate_name(&name.map_or_else(random_name, str::to_owned))?;
            match sys::shm_create(&cname) {
                Ok(fd) => break (cname, fd),
                // Random name taken: draw another.
                Err(err) if name.is_none() && err.raw_os_error() == Some(libc::EEXIST) => {}
                Err(err) => return Err(ProcessError::os("shm_open", err)),
            }
        };
        // The descriptor is closed here; the mapping (if any) stays valid.
        let shm = match Self::size_and_map(fd.as_fd(), Some(size), &cname) {
            Ok(shm) => shm,
            Err(err) => {
                // We created the name and must not leak it.
                let _ = sys::shm_unlink(&cname);
                return Err(err);
            }
        };
        if let Err(err) = tracker::register(&cname) {
            // Without the tracker the name could outlive a crash; refuse rather than
            // leak silently.
            let _ = sys::shm_unlink(&cname);
            return Err(err);
        }
        Ok(shm)
    }

    /// Attaches to the existing block called `name` (Python: `SharedMemory(name)`).
    ///
    /// # Errors
    ///
    /// * [`ProcessError::InvalidArgument`] if the name is invalid or the block is empty.
    /// * [`ProcessError::Os`] if no block has that name (message "No such file or
    ///   directory", Python's `FileNotFoundError`) or the OS refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::SharedMemory;
    ///
    /// assert!(SharedMemory::attach("psm_surely_not_there_42").is_err());
    /// ```
    pub fn attach(name: &str) -> Result<SharedMemory, ProcessError> {
        let cname = validate_name(name)?;
        let fd = sys::shm_attach(&cname).map_err(|e| ProcessError::os("shm_open", e))?;
        // The descriptor is closed here; the mapping stays valid.
        Self::size_and_map(fd.as_fd(), None, &cname)
    }

    /// Sets (when `size` is given) or reads the size of `fd`, and maps it.
    fn size_and_map(
        fd: BorrowedFd<'_>,
        size: Option<usize>,
        cname: &CStr,
    ) -> Result<SharedMemory, ProcessError> {
        let size = match size {
            Some(size) => {
                if i64::try_from(size).is_err() {
                    return Err(ProcessError::InvalidArgument(format!(
                        "size {size} too large"
                    )));
                }
                sys::set_file_size(fd, size as u64)
                    .map_err(|e| ProcessError::os("ftruncate", e))?;
                size
            }
            None => {
                let size = sys::file_size(fd).map_err(|e| ProcessError::os("fstat", e))?;
                let size = usize::try_from(size).map_err(|_| {
                    ProcessError::InvalidArgument(format!("size {size} too large to map"))
                })?;
                if size == 0 {
                    return Err(ProcessError::InvalidArgument(
                        "the shared memory block is empty".into(),
                    ));
                }
                size
            }
        };
        let ptr = sys::map_shared(fd, size).map_err(|e| ProcessError::os("mmap", e))?;
        let name = cname.to_str().expect("made from a str")[1..].to_owned();
        Ok(SharedMemory { name, size, ptr })
    }

    /// The name, without a leading slash (pass it to [`attach`](Self::attach)).
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 1).unwrap();
    /// assert_eq!(shm.name().len(), "psm_".len() + 8);
    /// shm.unlink().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 10).unwrap();
    /// assert_eq!(shm.size(), 10);
    /// shm.unlink().unwrap();
    /// ```
    pub fn size(&self) -> usize {
        self.size
    }

    /// The first byte of this process's mapping, valid until `self` is closed or
    /// dropped. See the type's docs for the data-race rules of `unsafe` access.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 4).unwrap();
    /// // SAFETY: in bounds, and no other process knows the name yet.
    /// unsafe { shm.as_ptr().write(7) };
    /// let mut b = [0u8; 1];
    /// shm.read(0, &mut b).unwrap();
    /// assert_eq!(b, [7]);
    /// shm.unlink().unwrap();
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<(), ProcessError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(ProcessError::InvalidArgument(format!(
                "range {offset}..{offset}+{len} out of a {}-byte block",
                self.size
            ))),
        }
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] if the range passes the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 4).unwrap();
    /// let mut buf = [1u8; 4];
    /// shm.read(0, &mut buf).unwrap();
    /// assert_eq!(buf, [0; 4]);
    /// assert!(shm.read(1, &mut buf).is_err());
    /// shm.unlink().unwrap();
    /// ```
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), ProcessError> {
        self.check_range(offset, buf.len())?;
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = self.byte(offset + i).load(Ordering::Relaxed);
        }
        Ok(())
    }

    /// The byte at `index` as an atomic: threads of this process may read and write the
    /// block concurrently through `&self`, and only atomic accesses make that defined
    /// (a plain copy racing with another would be a data race). Relaxed byte accesses
    /// compile to plain loads and stores.
    fn byte(&self, index: usize) -> &AtomicU8 {
        debug_assert!(index < self.size);
        // SAFETY: `index` is in bounds (callers check the range); the mapping lives as
        // long as `self`; `AtomicU8` has the size and alignment of `u8`; every access
        // this type makes to the block goes through such atomics.
        unsafe { AtomicU8::from_ptr(self.ptr.add(index)) }
    }

    /// Copies `buf` into the block at `offset`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] if the range passes the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 4).unwrap();
    /// shm.write(2, &[9, 9]).unwrap();
    /// assert!(shm.write(3, &[9, 9]).is_err());
    /// shm.unlink().unwrap();
    /// ```
    pub fn write(&self, offset: usize, buf: &[u8]) -> Result<(), ProcessError> {
        self.check_range(offset, buf.len())?;
        for (i, &byte) in buf.iter().enumerate() {
            self.byte(offset + i).store(byte, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Unmaps the block from this process (Python: `close()`); dropping does the same.
    /// The block and its name stay for other processes. Unlike Python's, the handle is
    /// consumed, so it cannot be used after closing.
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 4).unwrap();
    /// let name = shm.name().to_owned();
    /// shm.close();
    /// conc_process::SharedMemory::attach(&name).unwrap().unlink().unwrap();
    /// ```
    pub fn close(self) {
        drop(self);
    }

    /// Removes the name (Python: `unlink()`): no new process can attach; the memory is
    /// freed when every mapping is gone. Also cancels the automatic cleanup of the name.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the name no longer exists (already unlinked).
    ///
    /// # Examples
    ///
    /// ```
    /// let shm = conc_process::SharedMemory::create(None, 4).unwrap();
    /// shm.unlink().unwrap();
    /// assert!(conc_process::SharedMemory::attach(shm.name()).is_err());
    /// assert!(shm.unlink().is_err());
    /// ```
    pub fn unlink(&self) -> Result<(), ProcessError> {
        let cname = validate_name(&self.name)?;
        sys::shm_unlink(&cname).map_err(|e| ProcessError::os("shm_unlink", e))?;
        tracker::unregister(&cname);
        Ok(())
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`size` are the mapping made in `size_and_map`, unmapped once,
        // here, where the last user of its memory goes away.
        unsafe { sys::unmap(self.ptr, self.size) };
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish()
    }
}

impl Serialize for SharedMemory {
    /// By name: the receiver attaches.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.name.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    /// Attaches to the name; fails if it was unlinked meanwhile.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        SharedMemory::attach(&name).map_err(crate::wire::de_error)
    }
}

mod manager;
mod tracker;

pub use manager::SharedMemoryManager;
