//! Named POSIX shared memory (`shm_open`) and shared mappings of a descriptor, for
//! [`SharedMemory`](crate::SharedMemory).

use std::ffi::CStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::Mode;
use rustix::shm::OFlags;

/// Creates the shared memory object `name` (a leading slash, no other), readable and
/// writable by this user only; `EEXIST` if it exists. Close-on-exec.
pub(crate) fn shm_create(name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR;
    Ok(rustix::shm::open(name, flags, Mode::RUSR | Mode::WUSR)?)
}

/// Opens the existing shared memory object `name` for reading and writing.
pub(crate) fn shm_attach(name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::shm::open(name, OFlags::RDWR, Mode::empty())?)
}

/// Removes the name `name` (mappings made from it stay valid).
pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
    Ok(rustix::shm::unlink(name)?)
}

/// Sets the size of the file `fd` (new bytes read as zero).
pub(crate) fn set_file_size(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    Ok(rustix::fs::ftruncate(fd, len)?)
}

/// The size of the file `fd`.
pub(crate) fn file_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // A negative size does not exist; read it as empty.
    Ok(u64::try_from(rustix::fs::fstat(fd)?.st_size).unwrap_or(0))
}

/// Maps `len` bytes of `fd`, shared and writable.
pub(crate) fn map_shared(fd: BorrowedFd<'_>, len: usize) -> io::Result<*mut u8> {
    use rustix::mm::{MapFlags, ProtFlags};
    let prot = ProtFlags::READ | ProtFlags::WRITE;
    // SAFETY: a fresh mapping at an address the kernel chooses: no existing memory is
    // affected. The caller owns the mapping and unmaps it with `unmap`.
    let ptr =
        unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0)? };
    Ok(ptr.cast())
}

/// Unmaps a mapping made by [`map_shared`].
///
/// # Safety
///
/// `ptr` and `len` are those of one mapping from [`map_shared`], unmapped once, and
/// nothing uses the memory afterwards.
pub(crate) unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: the caller upholds the contract above.
    let _ = unsafe { rustix::mm::munmap(ptr.cast(), len) };
}

/// Four random bytes from the kernel, or `None` without an entropy source.
pub(crate) fn random_bytes() -> Option<[u8; 4]> {
    let mut bytes = [0u8; 4];
    let n = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).ok()?;
    (n == bytes.len()).then_some(bytes)
}
