//! `SharedMemoryManager`: Python's `multiprocessing.managers.SharedMemoryManager`, the
//! owner of the shared memory blocks it creates, which unlinks them all at its end.

use std::sync::Mutex;

use super::SharedMemory;
use crate::{ProcessError, sys};

/// Creates [`SharedMemory`] blocks and unlinks every one of them when it is shut down
/// or dropped (Python's `SharedMemoryManager`, used as `with SharedMemoryManager() as
/// smm:`).
///
/// Python runs a server process for this, so that the blocks are freed even if the
/// program crashes. Here no server is needed: every block is also registered with the
/// crate's cleanup tracker, which unlinks it when the program's process tree has ended,
/// however it ended. Only the process that created the manager unlinks on drop (a
/// `fork` child holding a copy leaves the blocks alone).
///
/// # Examples
///
/// ```
/// use conc_process::{SharedMemory, SharedMemoryManager};
///
/// let name = {
///     let smm = SharedMemoryManager::new();
///     let block = smm.shared_memory(128).unwrap();
///     block.write(0, b"hello").unwrap();
///     let mut buf = [0u8; 5];
///     SharedMemory::attach(block.name()).unwrap().read(0, &mut buf).unwrap();
///     assert_eq!(&buf, b"hello");
///     block.name().to_string()
/// }; // the manager is dropped: the block is unlinked
/// assert!(SharedMemory::attach(&name).is_err());
/// ```
#[derive(Debug)]
pub struct SharedMemoryManager {
    owner: sys::Pid,
    blocks: Mutex<Blocks>,
}

#[derive(Debug, Default)]
struct Blocks {
    names: Vec<String>,
    shut_down: bool,
}

impl Default for SharedMemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedMemoryManager {
    /// A manager with no blocks yet.
    pub fn new() -> Self {
        SharedMemoryManager {
            owner: sys::getpid(),
            blocks: Mutex::default(),
        }
    }

    /// Creates a block of `size` bytes under a fresh name, to be unlinked with the
    /// manager (Python's `smm.SharedMemory(size)`).
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::create`]; [`ProcessError::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory, ProcessError> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        if blocks.shut_down {
            return Err(ProcessError::Closed("the shared memory manager"));
        }
        let block = SharedMemory::create(None, size)?;
        blocks.names.push(block.name().to_string());
        Ok(block)
    }

    /// Unlinks every block this manager created that still exists (Python's
    /// `shutdown`); their mappings stay usable until dropped, and no new block can be
    /// made. Calling it again does nothing.
    pub fn shutdown(&self) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        blocks.shut_down = true;
        for name in blocks.names.drain(..) {
            if let Ok(block) = SharedMemory::attach(&name) {
                // Already unlinked by someone else is fine: it is gone either way.
                let _ = block.unlink();
            }
        }
    }
}

impl Drop for SharedMemoryManager {
    fn drop(&mut self) {
        if self.owner == sys::getpid() {
            self.shutdown();
        }
    }
}
