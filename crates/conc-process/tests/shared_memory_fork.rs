//! `SharedMemory` across processes. Ported, where they apply, from CPython's
//! `Lib/test/_test_multiprocessing.py` `_TestSharedMemory`.

mod common;

use common::{code, fork, fork_with, join};
use conc_process::{ProcessError, SharedMemory};

fn unique(tag: &str) -> String {
    format!("conc_test_{}_{tag}", std::process::id())
}

/// `_TestSharedMemory.test_shared_memory_basics`.
#[test]
fn basics() {
    let name = unique("basics");
    let shm = SharedMemory::create(Some(&name), 512).unwrap();
    assert_eq!(shm.name(), name);
    assert_eq!(shm.size(), 512);
    shm.write(0, b"howdy").unwrap();
    let mut buf = [0u8; 5];
    shm.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"howdy");

    // Attach by name: same bytes, both ways.
    let also = SharedMemory::attach(&name).unwrap();
    assert_eq!(also.size(), 512);
    also.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"howdy");
    also.write(510, &[1, 2]).unwrap();
    let mut tail = [0u8; 2];
    shm.read(510, &mut tail).unwrap();
    assert_eq!(tail, [1, 2]);
    // A leading slash names the same block.
    drop(SharedMemory::attach(&format!("/{name}")).unwrap());

    // Bounds.
    assert!(matches!(
        shm.read(510, &mut buf),
        Err(ProcessError::InvalidArgument(_))
    ));
    assert!(matches!(
        shm.write(usize::MAX, &[1]),
        Err(ProcessError::InvalidArgument(_))
    ));

    // Creating an existing name fails (Python: FileExistsError).
    match SharedMemory::create(Some(&name), 10) {
        Err(ProcessError::Os { context, message }) => {
            assert_eq!(context, "shm_open");
            assert!(message.contains("exists"), "{message}");
        }
        other => panic!("expected an OS error, got {other:?}"),
    }
    also.close();
    shm.unlink().unwrap();
    // Attaching a missing name fails (Python: FileNotFoundError); so does a 2nd unlink.
    assert!(matches!(
        SharedMemory::attach(&name),
        Err(ProcessError::Os { .. })
    ));
    assert!(shm.unlink().is_err());
}

/// `test_shared_memory_basics`' argument checks.
#[test]
fn bad_arguments() {
    assert!(matches!(
        SharedMemory::create(None, 0),
        Err(ProcessError::InvalidArgument(_))
    ));
    for bad in ["", "/", "a/b", "x\0y"] {
        assert!(
            matches!(
                SharedMemory::create(Some(bad), 1),
                Err(ProcessError::InvalidArgument(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(
                SharedMemory::attach(bad),
                Err(ProcessError::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    // The longest name fits (Linux allows 255-byte file names in /dev/shm).
    let prefix = unique("L");
    let longest = format!("{prefix}{}", "n".repeat(252 - prefix.len()));
    SharedMemory::create(Some(&longest), 1)
        .unwrap()
        .unlink()
        .unwrap();
    let too_long = format!("{longest}n");
    assert!(matches!(
        SharedMemory::create(Some(&too_long), 1),
        Err(ProcessError::InvalidArgument(_))
    ));
    let long = "n".repeat(300);
    assert!(matches!(
        SharedMemory::create(Some(&long), 1),
        Err(ProcessError::InvalidArgument(_))
    ));
}

/// Random names look like Python's and do not collide.
#[test]
fn random_names() {
    let a = SharedMemory::create(None, 8).unwrap();
    let b = SharedMemory::create(None, 8).unwrap();
    assert!(
        a.name().starts_with("psm_") && a.name().len() == 12,
        "{}",
        a.name()
    );
    assert_ne!(a.name(), b.name());
    a.unlink().unwrap();
    b.unlink().unwrap();
}

/// `_TestSharedMemory.test_shared_memory_across_processes`: a child attaches by name
/// (received through a channel, which serializes the name) and writes.
#[test]
fn across_processes() {
    let shm = SharedMemory::create(None, 64).unwrap();
    let child = fork_with(&shm.name().to_owned(), |name: String| {
        let shm = SharedMemory::attach(&name).unwrap();
        shm.write(0, b"from child").unwrap();
        0
    });
    join(child);
    let mut buf = [0u8; 10];
    shm.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"from child");

    // Sending the `SharedMemory` itself attaches on receipt.
    let (rx, tx) = conc_process::pipe::<SharedMemory>(false).unwrap();
    tx.send(SharedMemory::attach(shm.name()).unwrap()).unwrap();
    let child = fork(move || {
        let shm = rx.recv().unwrap();
        shm.write(0, b"by channel").unwrap();
        0
    });
    join(child);
    shm.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"by channel");
    shm.unlink().unwrap();
}

/// A forked child inherits the mapping itself.
#[test]
fn inherited_mapping() {
    let shm = SharedMemory::create(None, 16).unwrap();
    let child = {
        let ptr = shm.as_ptr() as usize;
        fork(move || {
            // SAFETY: the child inherited the mapping at the same address; in bounds.
            unsafe { (ptr as *mut u8).add(3).write(42) };
            0
        })
    };
    join(child);
    let mut b = [0u8; 1];
    shm.read(3, &mut b).unwrap();
    assert_eq!(b, [42]);
    shm.unlink().unwrap();
}

/// A name this process created and unlinked is not touched by the tracker later, and a
/// created name survives as long as its creator: a forked child that exits does not
/// trigger cleanup of the parent's names (the parent still holds the tracker socket).
#[test]
fn child_exit_does_not_unlink_parent_names() {
    let shm = SharedMemory::create(None, 16).unwrap();
    let child = fork(|| {
        // Registers with the inherited tracker, then exits without unlinking.
        let own = SharedMemory::create(None, 4).unwrap();
        std::mem::forget(own);
        0
    });
    join(child);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(SharedMemory::attach(shm.name()).is_ok());
    shm.unlink().unwrap();
}

/// Review regression: the tracker's table holds 4096 names; the next `create` must fail
/// instead of leaving that name uncleaned. In a forked child, so the count is its own.
#[test]
fn more_names_than_the_tracker_holds_are_refused() {
    let pid = fork(|| {
        let mut made = Vec::new();
        let refused = loop {
            match SharedMemory::create(None, 1) {
                Ok(shm) => made.push(shm),
                Err(e) => break e,
            }
            if made.len() > 5000 {
                break ProcessError::InvalidState("no limit");
            }
        };
        let ok = made.len() <= 4096
            && matches!(refused, ProcessError::InvalidState(m) if m.contains("4096"));
        for shm in &made {
            shm.unlink().unwrap();
        }
        // Unlinking gave the places back.
        let again = SharedMemory::create(None, 1).map(|s| s.unlink().is_ok());
        code(ok && again == Ok(true))
    });
    join(pid);
}
