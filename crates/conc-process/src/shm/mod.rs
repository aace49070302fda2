//! Process-shared memory blocks: the carrier every shared primitive lives in.

mod segment;

// `Segment` is for the queue (a ring buffer plus a mutex and condvars in one block).
#[allow(unused_imports)]
pub(crate) use segment::{Segment, ShmBox, ShmLayout};
