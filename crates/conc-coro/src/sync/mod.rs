//! Green synchronisation: primitives that park greenlets, not threads (gevent's
//! `gevent.event`, `gevent.queue`, `gevent.lock`). They are for the greenlets of one
//! thread (not `Send`); across threads use conc-thread's.

mod event;
mod semaphore;

pub use event::{AsyncResult, Event};
pub use semaphore::Semaphore;
