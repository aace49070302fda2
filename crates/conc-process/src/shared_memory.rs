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
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProcessError;

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
const MAX_NAME: usize = RECORD - 4;

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
    let mut bytes = [0u8; 4];
    // SAFETY: writes at most 4 bytes into `bytes`.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != 4 {
        // No entropy source: fall back on time and pid, still unlikely to collide (and
        // O_EXCL catches collisions).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes = (nanos ^ std::process::id().rotate_left(16)).to_le_bytes();
    }
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
            // SAFETY: `cname` is a valid C string; flags and mode are plain integers.
            let fd = unsafe {
                libc::shm_open(
                    cname.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd >= 0 {
                break (cname, fd);
            }
            let err = std::io::Error::last_os_error();
            if name.is_none() && err.raw_os_error() == Some(libc::EEXIST) {
                continue; // random name taken: draw another
            }
            return Err(ProcessError::os("shm_open", err));
        };
        let result = Self::size_and_map(fd, Some(size), &cname);
        // SAFETY: `fd` is ours; the mapping (if any) stays valid after closing it.
        unsafe { libc::close(fd) };
        let shm = match result {
            Ok(shm) => shm,
            Err(err) => {
                // SAFETY: `cname` is valid; we created the name and must not leak it.
                unsafe { libc::shm_unlink(cname.as_ptr()) };
                return Err(err);
            }
        };
        if let Err(err) = tracker::register(&cname) {
            // Without the tracker the name could outlive a crash; refuse rather than
            // leak silently.
            // SAFETY: as above.
            unsafe { libc::shm_unlink(cname.as_ptr()) };
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
        // SAFETY: valid C string, plain flags.
        let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
        if fd < 0 {
            return Err(ProcessError::last_os("shm_open"));
        }
        let result = Self::size_and_map(fd, None, &cname);
        // SAFETY: `fd` is ours; the mapping stays valid after closing it.
        unsafe { libc::close(fd) };
        result
    }

    /// Sets (when `size` is given) or reads the size of `fd`, and maps it.
    fn size_and_map(
        fd: libc::c_int,
        size: Option<usize>,
        cname: &CStr,
    ) -> Result<SharedMemory, ProcessError> {
        let size = match size {
            Some(size) => {
                let len = libc::off_t::try_from(size)
                    .map_err(|_| ProcessError::InvalidArgument(format!("size {size} too large")))?;
                // SAFETY: plain syscall on our fd.
                if unsafe { libc::ftruncate(fd, len) } != 0 {
                    return Err(ProcessError::last_os("ftruncate"));
                }
                size
            }
            None => {
                // SAFETY: `st` is a valid out-pointer for fstat.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                if unsafe { libc::fstat(fd, &mut st) } != 0 {
                    return Err(ProcessError::last_os("fstat"));
                }
                let size = st.st_size as usize;
                if size == 0 {
                    return Err(ProcessError::InvalidArgument(
                        "the shared memory block is empty".into(),
                    ));
                }
                size
            }
        };
        // SAFETY: a fresh shared mapping of `size` bytes of our fd; no existing memory is
        // affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(ProcessError::last_os("mmap"));
        }
        let name = cname.to_str().expect("made from a str")[1..].to_owned();
        Ok(SharedMemory {
            name,
            size,
            ptr: ptr.cast(),
        })
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
        // SAFETY: valid C string.
        if unsafe { libc::shm_unlink(cname.as_ptr()) } != 0 {
            return Err(ProcessError::last_os("shm_unlink"));
        }
        tracker::unregister(&cname);
        Ok(())
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`size` are the mapping made in `size_and_map`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.size) };
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
        SharedMemory::attach(&name).map_err(serde::de::Error::custom)
    }
}

/// One tracker message: op, name length, `/name`, NUL.
const RECORD: usize = 256;

mod tracker {
    use super::*;

    /// Names one tracker can hold at once; more are not tracked (and reported).
    const CAPACITY: usize = 4096;

    /// This process's end of the tracker socket, or -1. Inherited by `fork`.
    static FD: AtomicI32 = AtomicI32::new(-1);
    /// Device and inode of that socket, to notice when the fd number was closed and
    /// reused by something else (a child that closed its descriptors).
    static DEV: AtomicU64 = AtomicU64::new(0);
    static INO: AtomicU64 = AtomicU64::new(0);
    /// Pid of the process one of whose threads is registering (and maybe starting a
    /// tracker), 0 when free. Not a `Mutex`: a child forked (by other code) while a
    /// thread of its parent held it would inherit it locked forever. A value that is not
    /// our pid was inherited that way, and is ours to take.
    static BUSY: AtomicU32 = AtomicU32::new(0);

    /// Serializes registration within this process (see [`BUSY`]).
    struct Busy;

    impl Busy {
        fn enter() -> Busy {
            let me = std::process::id();
            loop {
                let holder = BUSY.load(Ordering::Acquire);
                // 0 is free; another pid was inherited from a parent through fork.
                if holder != me
                    && BUSY
                        .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return Busy;
                }
                // Another thread of this process is registering: a few system calls.
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }

    impl Drop for Busy {
        fn drop(&mut self) {
            BUSY.store(0, Ordering::Release);
        }
    }

    fn identity(fd: libc::c_int) -> Option<(u64, u64)> {
        // SAFETY: `st` is a valid out-pointer; a bad fd just fails.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
    }

    /// Our live tracker socket, if any.
    fn current() -> Option<libc::c_int> {
        let fd = FD.load(Ordering::Acquire);
        (fd >= 0
            && identity(fd) == Some((DEV.load(Ordering::Acquire), INO.load(Ordering::Acquire))))
        .then_some(fd)
    }

    fn record(op: u8, name: &CStr) -> [u8; RECORD] {
        let bytes = name.to_bytes_with_nul();
        let mut rec = [0u8; RECORD];
        rec[0] = op;
        rec[1] = bytes.len() as u8;
        rec[2..2 + bytes.len()].copy_from_slice(bytes);
        rec
    }

    fn send(fd: libc::c_int, rec: &[u8; RECORD]) -> Result<(), std::io::Error> {
        loop {
            // SAFETY: `rec` is a live buffer of RECORD bytes; MSG_NOSIGNAL turns a dead
            // tracker into EPIPE instead of SIGPIPE.
            let n = unsafe { libc::send(fd, rec.as_ptr().cast(), RECORD, libc::MSG_NOSIGNAL) };
            if n == RECORD as isize {
                return Ok(());
            }
            let err = std::io::Error::last_os_error();
            if n < 0 && err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
    }

    /// Whether a failed `send` means the tracker is gone (rather than, say, a
    /// momentary lack of memory, after which replacing a live tracker would make it
    /// unlink every name it holds).
    fn tracker_gone(err: &std::io::Error) -> bool {
        matches!(
            err.raw_os_error(),
            Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
        )
    }

    /// Registers `name` for unlinking when this process tree is gone, starting the
    /// tracker if needed.
    pub(super) fn register(name: &CStr) -> Result<(), ProcessError> {
        // The tracker's table is fixed (it cannot allocate after the fork): refuse a
        // name it could not hold instead of leaving it uncleaned silently. Counted per
        // process (a fork child starts from its parent's count, which shares the
        // tracker).
        if LIVE.load(Ordering::SeqCst) >= CAPACITY {
            return Err(ProcessError::InvalidState(
                "the shared memory tracker already holds 4096 names; unlink some first",
            ));
        }
        let rec = record(b'R', name);
        let _busy = Busy::enter();
        if let Some(fd) = current() {
            match send(fd, &rec) {
                Ok(()) => {
                    LIVE.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) if !tracker_gone(&e) => {
                    return Err(ProcessError::os(
                        "registering with the shared memory tracker",
                        e,
                    ));
                }
                Err(_) => {}
            }
        }
        // No tracker, or it died: start one.
        let fd = start()?;
        send(fd, &rec)
            .map_err(|e| ProcessError::os("registering with the shared memory tracker", e))?;
        LIVE.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Cancels the cleanup of `name` (best effort: without a tracker there is nothing
    /// to cancel).
    pub(super) fn unregister(name: &CStr) {
        // Under `Busy`, like `register`: a concurrent tracker restart must not close
        // and reuse the descriptor between our check and our send.
        let _busy = Busy::enter();
        if let Some(fd) = current()
            && send(fd, &record(b'U', name)).is_ok()
        {
            let _ = LIVE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
    }

    /// Names this process registered and did not unregister.
    static LIVE: AtomicUsize = AtomicUsize::new(0);

    /// Starts a tracker; returns our end of its socket.
    fn start() -> Result<libc::c_int, ProcessError> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid out-array of two ints.
        if unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        } != 0
        {
            return Err(ProcessError::last_os("socketpair (shared memory tracker)"));
        }
        let (ours, theirs) = (fds[0], fds[1]);
        // Allocated before the fork: the tracker must not allocate.
        let mut table = vec![0u8; CAPACITY * RECORD];
        let table_ptr = table.as_mut_ptr();
        // SAFETY: fork; the child branch below only calls async-signal-safe functions.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // Intermediate child: fork the tracker and leave, so the tracker is
            // reparented and never our child to reap.
            // SAFETY: async-signal-safe calls only; `tracker_main` never returns.
            unsafe {
                if libc::fork() == 0 {
                    tracker_main(theirs, table_ptr);
                }
                libc::_exit(0);
            }
        }
        drop(table);
        // SAFETY: `theirs` is our copy of the tracker's end: close it so that only the
        // tracker holds it.
        unsafe { libc::close(theirs) };
        if pid < 0 {
            let err = ProcessError::last_os("fork (shared memory tracker)");
            // SAFETY: our own fd.
            unsafe { libc::close(ours) };
            return Err(err);
        }
        let mut status = 0;
        // SAFETY: waiting for the intermediate child we just forked.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
        // The fd of an old, dead tracker (if any) is replaced; close it unless it was
        // reused for something else.
        if let Some(old) = current() {
            // SAFETY: verified to be our old tracker socket.
            unsafe { libc::close(old) };
        }
        let (dev, ino) = identity(ours).expect("fstat of a fresh socket");
        DEV.store(dev, Ordering::Release);
        INO.store(ino, Ordering::Release);
        FD.store(ours, Ordering::Release);
        Ok(ours)
    }

    /// The tracker process. Async-signal-safe calls only (we may have been forked from a
    /// multi-threaded program): no allocation, no locks, no Rust std I/O.
    ///
    /// # Safety
    ///
    /// Call only in a freshly forked child; `table` must point to `CAPACITY * RECORD`
    /// zeroed bytes.
    unsafe fn tracker_main(sock: libc::c_int, table: *mut u8) -> ! {
        // SAFETY: every call below is async-signal-safe (close, syscall, setsid, chdir,
        // sigaction, recv, shm_unlink, _exit) and uses only our stack and `table`.
        unsafe {
            close_all_except(sock);
            libc::setsid();
            // Do not keep the creator's working directory (and its mount) busy.
            libc::chdir(c"/".as_ptr());
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
                libc::sigaction(sig, &ignore, std::ptr::null_mut());
            }
            let mut rec = [0u8; RECORD];
            loop {
                let n = libc::recv(sock, rec.as_mut_ptr().cast(), RECORD, 0);
                if n == 0 {
                    break; // every holder of the other end is gone
                }
                if n < 0 {
                    if *libc::__errno_location() == libc::EINTR {
                        continue;
                    }
                    break;
                }
                if n as usize != RECORD {
                    continue;
                }
                let len = rec[1] as usize;
                if len == 0 || len > RECORD - 2 {
                    continue;
                }
                let name = &rec[2..2 + len];
                match rec[0] {
                    b'R' => {
                        // First free slot (slot byte 0 is the length, 0 = free).
                        for i in 0..CAPACITY {
                            let slot = table.add(i * RECORD);
                            if *slot == 0 {
                                *slot = len as u8;
                                std::ptr::copy_nonoverlapping(name.as_ptr(), slot.add(1), len);
                                break;
                            }
                        }
                    }
                    b'U' => {
                        for i in 0..CAPACITY {
                            let slot = table.add(i * RECORD);
                            if *slot as usize == len
                                && std::slice::from_raw_parts(slot.add(1), len) == name
                            {
                                *slot = 0;
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            for i in 0..CAPACITY {
                let slot = table.add(i * RECORD);
                if *slot != 0 {
                    // The stored name ends with its NUL.
                    libc::shm_unlink(slot.add(1).cast());
                }
            }
            libc::_exit(0)
        }
    }

    /// Closes every descriptor except `keep`.
    ///
    /// # Safety
    ///
    /// Only in a forked child that owns nothing else.
    unsafe fn close_all_except(keep: libc::c_int) {
        let keep = keep as libc::c_uint;
        // SAFETY: close_range only closes descriptors; the raw syscall needs no glibc
        // 2.34 wrapper. Fallback: a close loop up to the descriptor limit.
        unsafe {
            let ok = (keep == 0 || libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) == 0)
                && libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32) == 0;
            if !ok {
                let mut lim: libc::rlimit = std::mem::zeroed();
                let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                    lim.rlim_cur.min(1 << 20) as libc::c_uint
                } else {
                    1024
                };
                for fd in 0..max {
                    if fd != keep {
                        libc::close(fd as libc::c_int);
                    }
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A registration lock inherited through fork (held by "another pid") is taken
        /// over instead of waited for.
        #[test]
        fn inherited_busy_flag_is_taken_over() {
            BUSY.store(std::process::id().wrapping_add(1), Ordering::Release);
            let busy = Busy::enter();
            assert_eq!(BUSY.load(Ordering::Acquire), std::process::id());
            drop(busy);
            assert_eq!(BUSY.load(Ordering::Acquire), 0);
        }
    }
}
