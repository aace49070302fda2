//! Auto-trait guarantees: every shared primitive is `Send + Sync`, handles that may move
//! between threads are `Send`, and guards that must stay on their thread are not (those
//! are checked by `compile_fail` doctests on `RLockGuard`).

use std::rc::Rc;

use conc_thread::*;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn primitives_are_send_and_sync() {
    send_sync::<Lock>();
    send_sync::<RLock>();
    send_sync::<Condition>();
    send_sync::<Condition<Lock>>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Event>();
    send_sync::<Barrier>();
    send_sync::<Thread>();
    send_sync::<ThreadError>();
    send_sync::<GetError>();
    send_sync::<PutError<u8>>();
    send_sync::<TaskDoneError>();
}

#[test]
fn queues_are_send_and_sync_for_send_items() {
    send_sync::<Queue<String>>();
    send_sync::<LifoQueue<String>>();
    send_sync::<PriorityQueue<String>>();
    send_sync::<SimpleQueue<String>>();
}

#[test]
fn handles_are_send() {
    send::<JoinHandle<String>>();
    send::<Timer>();
    send::<LockGuard<'static>>(); // a Lock may be released by any thread
    send::<SemaphoreGuard<'static>>();
}

#[test]
fn local_is_shareable_even_for_non_send_values() {
    // Values never leave the thread that created them, so the Local itself can be
    // shared whatever `T` is.
    send_sync::<Local<Rc<u8>>>();
}
