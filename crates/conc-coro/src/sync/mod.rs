//! Green synchronisation: primitives that park greenlets, not threads (gevent's
//! `gevent.event`, `gevent.queue`, `gevent.lock`). They are for the greenlets of one
//! thread (not `Send`); across threads use conc-thread's.

mod event;
mod queue;
mod rlock;
mod semaphore;

pub use event::{AsyncResult, Event};
pub use queue::{Channel, JoinableQueue, LifoQueue, PriorityQueue, PutError, Queue};
pub use rlock::RLock;
pub use semaphore::Semaphore;
