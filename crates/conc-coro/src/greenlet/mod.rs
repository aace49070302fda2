//! Greenlets: the handles users hold (`handle`), the record behind each (`node`), the
//! thread's state (`state`), the switch and every way a greenlet ends (`switch`), and
//! what the tracer is told (`event`). See docs/coro-design.md for the design.

mod event;
pub(crate) mod handle;
mod node;
mod state;
mod switch;

pub use event::TraceEvent;
pub use handle::{
    Greenlet, Tracer, WeakGreenlet, getcurrent, main_greenlet, set_stack_size, settrace,
};
