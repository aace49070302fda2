//! `SharedMemoryManager` (Python's `multiprocessing.managers.SharedMemoryManager`).
//! Apart from the cleanup tracker's tests: this binary's own process creates blocks,
//! and with them a tracker, which those tests must not have.

/// `SharedMemoryManager`: its blocks are unlinked at shutdown and on drop, and no block
/// is made after shutdown.
#[test]
fn a_shared_memory_manager_unlinks_its_blocks() {
    let smm = conc_process::SharedMemoryManager::new();
    let a = smm.shared_memory(64).unwrap();
    let b = smm.shared_memory(4096).unwrap();
    a.write(0, b"kept while mapped").unwrap();
    let names = [a.name().to_string(), b.name().to_string()];
    b.unlink().unwrap(); // unlinked early by hand: shutdown copes
    smm.shutdown();
    for name in &names {
        assert!(
            conc_process::SharedMemory::attach(name).is_err(),
            "{name} still exists"
        );
    }
    let mut buf = [0u8; 4];
    a.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"kept");
    assert!(matches!(
        smm.shared_memory(8),
        Err(conc_process::ProcessError::Closed(_))
    ));
    smm.shutdown();
}
