//! The spawn handshake's meeting point: a listening socket under an abstract name
//! (Linux: no file on disk), with each side checking the other's pid (`SO_PEERCRED`),
//! since anyone may connect to an abstract name.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::frame::readable;
use crate::ProcessError;
use crate::sys::Pid;

/// A listening socket under a fresh abstract name (Linux's abstract namespace: no file
/// on disk, and the name is gone with the socket), and that name.
///
/// # Errors
///
/// [`ProcessError::Os`] if no socket can be bound.
pub(crate) fn listen_abstract(prefix: &str) -> Result<(OwnedFd, String), ProcessError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let fail =
        |e: rustix::io::Errno| ProcessError::os("cannot create a handshake socket", e.into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}/{}/{n}/{nanos:x}", crate::sys::getpid());
        let (socket, addr) = abstract_socket(&name).map_err(fail)?;
        match rustix::net::bind(&socket, &addr) {
            Ok(()) => {}
            // Someone else's socket has this name: take the next.
            Err(rustix::io::Errno::ADDRINUSE) => continue,
            Err(e) => return Err(fail(e)),
        }
        rustix::net::listen(&socket, 4).map_err(fail)?;
        return Ok((socket, name));
    }
}

/// Accepts a connection on `listener` from process `pid` within `deadline`: `None` on
/// timeout. Connections from any other process are closed and ignored (anyone may
/// connect to an abstract name; only the expected child gets an answer).
///
/// # Errors
///
/// [`ProcessError::Os`] if `accept` fails.
pub(crate) fn accept_from(
    listener: BorrowedFd<'_>,
    pid: Pid,
    deadline: Instant,
) -> Result<Option<OwnedFd>, ProcessError> {
    loop {
        if !readable(listener, Some(deadline))? {
            return Ok(None);
        }
        let socket = match rustix::net::accept_with(listener, rustix::net::SocketFlags::CLOEXEC) {
            Ok(socket) => socket,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::CONNABORTED) => continue,
            Err(e) => return Err(ProcessError::os("cannot accept a handshake", e.into())),
        };
        if peer_pid(&socket) == Some(pid) {
            return Ok(Some(socket));
        }
    }
}

/// Connects to the abstract socket `name`, which must belong to process `owner`.
///
/// # Errors
///
/// [`ProcessError::Os`] if the connection fails or the socket is someone else's.
pub(crate) fn connect_abstract(name: &str, owner: Pid) -> Result<OwnedFd, ProcessError> {
    let fail = |e: rustix::io::Errno| ProcessError::os("cannot reach the parent", e.into());
    let (socket, addr) = abstract_socket(name).map_err(fail)?;
    rustix::net::connect(&socket, &addr).map_err(fail)?;
    if peer_pid(&socket) != Some(owner) {
        return Err(ProcessError::os(
            "cannot reach the parent",
            std::io::Error::other("the handshake socket belongs to another process"),
        ));
    }
    Ok(socket)
}

/// The process at the other end of a connected Unix socket (as of the connection).
fn peer_pid(socket: &OwnedFd) -> Option<Pid> {
    let cred = rustix::net::sockopt::socket_peercred(socket).ok()?;
    Some(cred.pid.as_raw_nonzero().get())
}

/// A new Unix stream socket (close-on-exec) and the abstract address `name`.
fn abstract_socket(name: &str) -> rustix::io::Result<(OwnedFd, SocketAddrUnix)> {
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((socket, SocketAddrUnix::new_abstract_name(name.as_bytes())?))
}
