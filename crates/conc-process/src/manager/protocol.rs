//! What a proxy asks the manager's server and what it answers. Values travel as their
//! postcard bytes: the server keeps bytes and never needs the user's types, so one
//! server serves a `DictProxy<String, u32>` and a `ListProxy<MyStruct>` alike. Two
//! equal keys encode to the same bytes, which is what the dict compares.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A value's postcard bytes.
pub(crate) type Bytes = Vec<u8>;

/// The shared objects a manager can create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Kind {
    Dict,
    List(Vec<Bytes>),
    Namespace,
    Value(Bytes),
    Queue {
        maxsize: usize,
    },
    Lock {
        reentrant: bool,
    },
    Semaphore {
        value: usize,
        bounded: bool,
    },
    Event,
    /// A fixed-length list (Python's `Manager().Array`).
    Array(Vec<Bytes>),
    /// A condition variable with its own re-entrant lock.
    Condition,
    /// A barrier for this many parties.
    Barrier(usize),
    /// A user's `Served` type: the code offsets of its `init` and `call` entries (the
    /// server is this very program), and its encoded first state.
    Served {
        init: isize,
        call: isize,
        state: Bytes,
    },
}

impl Kind {
    /// The name of the kind, as the proxy types know it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::Dict => "dict",
            Kind::List(_) => "list",
            Kind::Namespace => "namespace",
            Kind::Value(_) => "value",
            Kind::Queue { .. } => "queue",
            Kind::Lock { .. } => "lock",
            Kind::Semaphore { .. } => "semaphore",
            Kind::Event => "event",
            Kind::Served { .. } => "served",
            Kind::Array(_) => "array",
            Kind::Condition => "condition",
            Kind::Barrier(_) => "barrier",
        }
    }
}

/// One request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Creates an object; answered with [`Reply::Id`].
    New(Kind),
    /// Calls a method of object `id`.
    Call(u64, Op),
    /// Gives object `id` a name other programs can look it up by.
    Publish(String, u64),
    /// The object published under a name: [`Reply::Found`].
    Lookup(String),
    /// Stops the server.
    Shutdown,
}

/// A method call. Indices are Python's: negative ones count from the end.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    // dict
    DictGet(Bytes),
    DictSet(Bytes, Bytes),
    DictDel(Bytes),
    DictContains(Bytes),
    DictPop(Bytes),
    DictSetDefault(Bytes, Bytes),
    DictKeys,
    DictValues,
    DictItems,
    DictUpdate(Vec<(Bytes, Bytes)>),
    // list
    ListAppend(Bytes),
    ListExtend(Vec<Bytes>),
    ListGet(i64),
    ListSet(i64, Bytes),
    ListDel(i64),
    ListPop(i64),
    ListInsert(i64, Bytes),
    ListRemove(Bytes),
    ListIndex(Bytes),
    ListCount(Bytes),
    ListAll,
    // dict, list, namespace, queue
    Len,
    Clear,
    // namespace
    GetAttr(String),
    SetAttr(String, Bytes),
    DelAttr(String),
    Attrs,
    // value
    Get,
    Set(Bytes),
    // queue
    Put(Bytes, Option<Duration>),
    Take(Option<Duration>),
    TaskDone,
    Join,
    // lock, semaphore
    Acquire(Option<Duration>),
    Release,
    // served
    Serve(Bytes),
    // condition (with Acquire, Release, Wait)
    Notify(usize),
    NotifyAll,
    // barrier (with Wait)
    Abort,
    Reset,
    Parties,
    Waiting,
    Broken,
    // event
    IsSet,
    SetFlag,
    ClearFlag,
    Wait(Option<Duration>),
}

/// An answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Unit,
    Id(u64),
    Bool(bool),
    Len(usize),
    Value(Option<Bytes>),
    Values(Vec<Bytes>),
    Items(Vec<(Bytes, Bytes)>),
    Named(Vec<(String, Bytes)>),
    Index(Option<usize>),
    /// A published object: its id and its kind's name.
    Found(u64, String),
    /// The call failed; the proxy turns this into a `ProcessError`.
    Failed(Failure),
}

/// Why a call failed, typed so that the proxy can give the matching error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// No object with that id, or not of the kind the method needs.
    NoSuchObject,
    /// Python's `queue.Full` / `queue.Empty`.
    Full,
    Empty,
    /// A timed wait ran out.
    Timeout,
    /// The barrier is broken (Python's `BrokenBarrierError`).
    BrokenBarrier,
    /// A served type's `call` panicked, with this message.
    Panicked(String),
    /// Nothing is published under that name.
    NoSuchName(String),
    /// Python's `ValueError` / `RuntimeError` / `IndexError`, with its text.
    Invalid(String),
}
