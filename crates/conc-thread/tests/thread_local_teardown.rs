//! Thread identity asked for from a thread-local destructor, after the crate's own
//! thread-locals may be gone: it must answer, not panic.

use std::sync::Mutex;

static SEEN: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

struct Probe;

impl Drop for Probe {
    fn drop(&mut self) {
        let ident = conc_thread::get_ident();
        let thread = conc_thread::current_thread();
        SEEN.lock().unwrap().push((ident, thread.ident()));
    }
}

thread_local! {
    static PROBE: Probe = const { Probe };
}

#[test]
fn get_ident_from_a_thread_local_destructor() {
    // The probe's destructor is registered before the crate's record of the thread,
    // so it runs after that record is torn down (destructors run in reverse), and asks
    // for the ident for the first time there.
    let first = std::thread::spawn(|| {
        PROBE.with(|_| ());
        let _ = conc_thread::current_thread();
    });
    first.join().expect("no panic in the destructor");
    // Here the crate's thread-locals exist before the probe's: either order works.
    let second = std::thread::spawn(|| {
        let me = conc_thread::get_ident();
        let _ = conc_thread::current_thread();
        PROBE.with(|_| ());
        me
    });
    let second_ident = second.join().expect("no panic in the destructor");
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_ne!(seen[0].0, 0);
    assert_eq!(
        seen[1].0, second_ident,
        "the ident a thread had stays its own"
    );
    assert_eq!(seen[0].0, seen[0].1, "get_ident and current_thread agree");
}
