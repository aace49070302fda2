//! The manager's server process: it owns the shared objects and serves each client
//! connection on a thread of its own, one request at a time, as Python's
//! `BaseManager` server does. A lock held through a connection that goes away (its
//! thread ended, its process died) is released then, where Python keeps it locked
//! forever.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::protocol::{Bytes, Failure, Kind, Op, Reply, Request};
use super::served::ServedObject;
use crate::connection::{Address, Listener, SocketConnection};
use crate::sync;
use crate::wire::Descriptor;

/// What the server process is started with.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ServerArgs {
    /// The listening socket, bound by the parent before the server started.
    pub(crate) socket: Descriptor,
    pub(crate) address: Address,
    pub(crate) authkey: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` until `ready` holds or `timeout` passes; whether it holds.
fn wait_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Option<Duration>,
    ready: impl Fn(&T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    let deadline = timeout.and_then(sync::deadline_after);
    sync::wait_while_not(cv, guard, deadline, ready)
}

/// A dict that remembers insertion order, as Python's does.
#[derive(Default)]
struct Dict {
    entries: HashMap<Bytes, (u64, Bytes)>,
    next: u64,
}

impl Dict {
    fn insert(&mut self, key: Bytes, value: Bytes) {
        let seq = self.next;
        self.next += 1;
        self.entries
            .entry(key)
            .and_modify(|e| e.1 = value.clone())
            .or_insert((seq, value));
    }

    fn ordered(&self) -> Vec<(&Bytes, &Bytes)> {
        let mut all: Vec<_> = self.entries.iter().map(|(k, (s, v))| (*s, k, v)).collect();
        all.sort_unstable_by_key(|e| e.0);
        all.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

struct QueueState {
    items: VecDeque<Bytes>,
    unfinished: usize,
}

#[derive(Default)]
struct LockState {
    /// The connection holding it.
    owner: Option<u64>,
    depth: usize,
}

impl LockState {
    /// Lets go of the lock if `conn` holds it (its client is gone); whether it did.
    fn release_if_held_by(&mut self, conn: u64) -> bool {
        let held = self.owner == Some(conn);
        if held {
            *self = LockState::default();
        }
        held
    }
}

/// A state holding a connection-owned lock: a lock's own, or a condition's.
trait HoldsLock {
    fn held(&self) -> &LockState;
    fn held_mut(&mut self) -> &mut LockState;
}

impl HoldsLock for LockState {
    fn held(&self) -> &LockState {
        self
    }
    fn held_mut(&mut self) -> &mut LockState {
        self
    }
}

impl HoldsLock for ConditionState {
    fn held(&self) -> &LockState {
        &self.lock
    }
    fn held_mut(&mut self) -> &mut LockState {
        &mut self.lock
    }
}

/// Acquires the lock in `state` for `conn`, waiting at most `timeout`; a re-entrant
/// lock its holder asks again for goes one level deeper. Whether it was acquired.
fn acquire<'a, T: HoldsLock>(
    cv: &Condvar,
    mut state: MutexGuard<'a, T>,
    timeout: Option<Duration>,
    conn: u64,
    reentrant: bool,
) -> (MutexGuard<'a, T>, bool) {
    if reentrant && state.held().owner == Some(conn) {
        state.held_mut().depth += 1;
        return (state, true);
    }
    let (mut state, free) = wait_until(cv, state, timeout, |s| s.held().owner.is_none());
    if free {
        *state.held_mut() = LockState {
            owner: Some(conn),
            depth: 1,
        };
    }
    (state, free)
}

enum Object {
    Dict(Mutex<Dict>),
    List(Mutex<Vec<Bytes>>),
    Namespace(Mutex<Vec<(String, Bytes)>>),
    Value(Mutex<Bytes>),
    Queue {
        state: Mutex<QueueState>,
        changed: Condvar,
        maxsize: usize,
    },
    Lock {
        state: Mutex<LockState>,
        freed: Condvar,
        reentrant: bool,
    },
    Semaphore {
        value: Mutex<usize>,
        raised: Condvar,
        bound: Option<usize>,
    },
    Event {
        flag: Mutex<bool>,
        changed: Condvar,
    },
    Served(Mutex<ServedObject>),
    Condition {
        state: Mutex<ConditionState>,
        changed: Condvar,
    },
    Barrier {
        state: Mutex<BarrierState>,
        changed: Condvar,
    },
}

/// A condition's lock (owned by a connection, re-entrant) and its waiters, each with a
/// ticket so that `notify(n)` wakes exactly the first `n` of them.
#[derive(Default)]
struct ConditionState {
    lock: LockState,
    waiting: VecDeque<u64>,
    woken: Vec<u64>,
    next_ticket: u64,
}

struct BarrierState {
    parties: usize,
    arrived: usize,
    /// The round now filling.
    generation: u64,
    broken: bool,
    /// How ended rounds ended (passed or reset), and how many of their waiters have
    /// yet to learn it.
    outcomes: HashMap<u64, (bool, usize)>,
}

impl Object {
    fn new(kind: Kind) -> Result<Object, String> {
        Ok(match kind {
            Kind::Dict => Object::Dict(Mutex::default()),
            Kind::List(items) => Object::List(Mutex::new(items)),
            Kind::Namespace => Object::Namespace(Mutex::default()),
            Kind::Value(v) => Object::Value(Mutex::new(v)),
            Kind::Queue { maxsize } => Object::Queue {
                state: Mutex::new(QueueState {
                    items: VecDeque::new(),
                    unfinished: 0,
                }),
                changed: Condvar::new(),
                maxsize,
            },
            Kind::Lock { reentrant } => Object::Lock {
                state: Mutex::new(LockState {
                    owner: None,
                    depth: 0,
                }),
                freed: Condvar::new(),
                reentrant,
            },
            Kind::Semaphore { value, bounded } => Object::Semaphore {
                value: Mutex::new(value),
                raised: Condvar::new(),
                bound: bounded.then_some(value),
            },
            Kind::Event => Object::Event {
                flag: Mutex::new(false),
                changed: Condvar::new(),
            },
            Kind::Array(items) => Object::List(Mutex::new(items)),
            Kind::Condition => Object::Condition {
                state: Mutex::default(),
                changed: Condvar::new(),
            },
            Kind::Barrier(parties) => Object::Barrier {
                state: Mutex::new(BarrierState {
                    parties,
                    arrived: 0,
                    generation: 0,
                    broken: false,
                    outcomes: HashMap::new(),
                }),
                changed: Condvar::new(),
            },
            Kind::Served { init, call, state } => {
                Object::Served(Mutex::new(ServedObject::new(init, call, &state)?))
            }
        })
    }
}

/// Python's index rule: negative counts from the end; `None` when out of range.
fn position(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { i + len } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn invalid(text: &str) -> Reply {
    Reply::Failed(Failure::Invalid(text.into()))
}

struct Server {
    objects: RwLock<HashMap<u64, Arc<Object>>>,
    /// Each object's kind, and the published names.
    kinds: Mutex<HashMap<u64, &'static str>>,
    names: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

impl Server {
    fn object(&self, id: u64) -> Option<Arc<Object>> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn create(&self, kind: Kind) -> Reply {
        let name = kind.name();
        let object = match Object::new(kind) {
            Ok(object) => object,
            Err(why) => return Reply::Failed(Failure::Invalid(why)),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.kinds).insert(id, name);
        self.objects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::new(object));
        Reply::Id(id)
    }

    fn publish(&self, name: String, id: u64) -> Reply {
        if !lock(&self.kinds).contains_key(&id) {
            return Reply::Failed(Failure::NoSuchObject);
        }
        lock(&self.names).insert(name, id);
        Reply::Unit
    }

    fn lookup(&self, name: String) -> Reply {
        let Some(id) = lock(&self.names).get(&name).copied() else {
            return Reply::Failed(Failure::NoSuchName(name));
        };
        let kind = lock(&self.kinds).get(&id).copied().unwrap_or("unknown");
        Reply::Found(id, kind.into())
    }

    /// Releases every lock `conn` holds: its client is gone.
    fn release_all(&self, conn: u64) {
        let objects: Vec<Arc<Object>> = self
            .objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for object in objects {
            match &*object {
                Object::Lock { state, freed, .. } if lock(state).release_if_held_by(conn) => {
                    freed.notify_one();
                }
                Object::Condition { state, changed }
                    if lock(state).lock.release_if_held_by(conn) =>
                {
                    changed.notify_all();
                }
                _ => {}
            }
        }
    }
}

/// Runs a call on an object; `conn` identifies the caller for lock ownership.
fn call(object: &Object, op: Op, conn: u64) -> Reply {
    match (object, op) {
        (Object::Dict(d), op) => dict_call(&mut lock(d), op),
        (Object::List(l), op) => list_call(&mut lock(l), op),
        (Object::Namespace(n), op) => namespace_call(&mut lock(n), op),
        (Object::Value(v), Op::Get) => Reply::Value(Some(lock(v).clone())),
        (Object::Value(v), Op::Set(new)) => {
            *lock(v) = new;
            Reply::Unit
        }
        (
            Object::Queue {
                state,
                changed,
                maxsize,
            },
            op,
        ) => queue_call(state, changed, *maxsize, op),
        (
            Object::Lock {
                state,
                freed,
                reentrant,
            },
            op,
        ) => lock_call(state, freed, *reentrant, op, conn),
        (
            Object::Semaphore {
                value,
                raised,
                bound,
            },
            op,
        ) => semaphore_call(value, raised, *bound, op),
        (Object::Event { flag, changed }, op) => event_call(flag, changed, op),
        (Object::Served(o), Op::Serve(request)) => lock(o).call(&request),
        (Object::Condition { state, changed }, op) => condition_call(state, changed, op, conn),
        (Object::Barrier { state, changed }, op) => barrier_call(state, changed, op),
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn dict_call(d: &mut Dict, op: Op) -> Reply {
    match op {
        Op::DictGet(k) => Reply::Value(d.entries.get(&k).map(|e| e.1.clone())),
        Op::DictSet(k, v) => {
            d.insert(k, v);
            Reply::Unit
        }
        Op::DictDel(k) => Reply::Bool(d.entries.remove(&k).is_some()),
        Op::DictContains(k) => Reply::Bool(d.entries.contains_key(&k)),
        Op::DictPop(k) => Reply::Value(d.entries.remove(&k).map(|e| e.1)),
        Op::DictSetDefault(k, v) => {
            if let Some(e) = d.entries.get(&k) {
                return Reply::Value(Some(e.1.clone()));
            }
            d.insert(k, v.clone());
            Reply::Value(Some(v))
        }
        Op::DictKeys => Reply::Values(d.ordered().into_iter().map(|(k, _)| k.clone()).collect()),
        Op::DictValues => Reply::Values(d.ordered().into_iter().map(|(_, v)| v.clone()).collect()),
        Op::DictItems => Reply::Items(
            d.ordered()
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Op::DictUpdate(pairs) => {
            for (k, v) in pairs {
                d.insert(k, v);
            }
            Reply::Unit
        }
        Op::Len => Reply::Len(d.entries.len()),
        Op::Clear => {
            d.entries.clear();
            Reply::Unit
        }
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn list_call(l: &mut Vec<Bytes>, op: Op) -> Reply {
    const OUT_OF_RANGE: &str = "list index out of range";
    match op {
        Op::ListAppend(v) => {
            l.push(v);
            Reply::Unit
        }
        Op::ListExtend(vs) => {
            l.extend(vs);
            Reply::Unit
        }
        Op::ListGet(i) => match position(i, l.len()) {
            Some(i) => Reply::Value(Some(l[i].clone())),
            None => invalid(OUT_OF_RANGE),
        },
        Op::ListSet(i, v) => match position(i, l.len()) {
            Some(i) => {
                l[i] = v;
                Reply::Unit
            }
            None => invalid("list assignment index out of range"),
        },
        Op::ListDel(i) => match position(i, l.len()) {
            Some(i) => {
                l.remove(i);
                Reply::Unit
            }
            None => invalid("list assignment index out of range"),
        },
        Op::ListPop(i) if l.is_empty() => {
            let _ = i;
            invalid("pop from empty list")
        }
        Op::ListPop(i) => match position(i, l.len()) {
            Some(i) => Reply::Value(Some(l.remove(i))),
            None => invalid("pop index out of range"),
        },
        Op::ListInsert(i, v) => {
            // Python clamps an insertion index into the list.
            let len = i64::try_from(l.len()).unwrap_or(i64::MAX);
            let at = if i < 0 { (i + len).max(0) } else { i.min(len) };
            l.insert(at as usize, v);
            Reply::Unit
        }
        Op::ListRemove(v) => match l.iter().position(|x| *x == v) {
            Some(i) => {
                l.remove(i);
                Reply::Unit
            }
            None => invalid("list.remove(x): x not in list"),
        },
        Op::ListIndex(v) => Reply::Index(l.iter().position(|x| *x == v)),
        Op::ListCount(v) => Reply::Len(l.iter().filter(|x| **x == v).count()),
        Op::ListAll => Reply::Values(l.clone()),
        Op::Len => Reply::Len(l.len()),
        Op::Clear => {
            l.clear();
            Reply::Unit
        }
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn namespace_call(n: &mut Vec<(String, Bytes)>, op: Op) -> Reply {
    let find = |n: &Vec<(String, Bytes)>, name: &str| n.iter().position(|(k, _)| k == name);
    match op {
        Op::GetAttr(name) => Reply::Value(find(n, &name).map(|i| n[i].1.clone())),
        Op::SetAttr(name, v) => {
            match find(n, &name) {
                Some(i) => n[i].1 = v,
                None => n.push((name, v)),
            }
            Reply::Unit
        }
        Op::DelAttr(name) => Reply::Bool(find(n, &name).map(|i| n.remove(i)).is_some()),
        Op::Attrs => Reply::Named(n.clone()),
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn queue_call(state: &Mutex<QueueState>, changed: &Condvar, maxsize: usize, op: Op) -> Reply {
    let s = lock(state);
    match op {
        Op::Put(v, timeout) => {
            let (mut s, room) = wait_until(changed, s, timeout, |s| {
                maxsize == 0 || s.items.len() < maxsize
            });
            if !room {
                return Reply::Failed(Failure::Full);
            }
            s.items.push_back(v);
            s.unfinished += 1;
            changed.notify_all();
            Reply::Unit
        }
        Op::Take(timeout) => {
            let (mut s, some) = wait_until(changed, s, timeout, |s| !s.items.is_empty());
            if !some {
                return Reply::Failed(Failure::Empty);
            }
            let v = s.items.pop_front();
            changed.notify_all();
            Reply::Value(v)
        }
        Op::Len => Reply::Len(s.items.len()),
        Op::TaskDone => {
            let mut s = s;
            if s.unfinished == 0 {
                return invalid("task_done() called too many times");
            }
            s.unfinished -= 1;
            changed.notify_all();
            Reply::Unit
        }
        Op::Join => {
            let _ = wait_until(changed, s, None, |s| s.unfinished == 0);
            Reply::Unit
        }
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn lock_call(
    state: &Mutex<LockState>,
    freed: &Condvar,
    reentrant: bool,
    op: Op,
    conn: u64,
) -> Reply {
    let mut s = lock(state);
    match op {
        Op::Acquire(timeout) => Reply::Bool(acquire(freed, s, timeout, conn, reentrant).1),
        Op::Release => {
            match s.owner {
                None if reentrant => return invalid("cannot release un-acquired lock"),
                None => return invalid("release unlocked lock"),
                Some(owner) if reentrant && owner != conn => {
                    return invalid("cannot release un-acquired lock");
                }
                Some(_) => {}
            }
            s.depth -= 1;
            if s.depth == 0 || !reentrant {
                *s = LockState::default();
                freed.notify_one();
            }
            Reply::Unit
        }
        Op::IsSet => Reply::Bool(s.owner.is_some()),
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn semaphore_call(value: &Mutex<usize>, raised: &Condvar, bound: Option<usize>, op: Op) -> Reply {
    let v = lock(value);
    match op {
        Op::Acquire(timeout) => {
            let (mut v, got) = wait_until(raised, v, timeout, |v| *v > 0);
            if got {
                *v -= 1;
            }
            Reply::Bool(got)
        }
        Op::Release => {
            let mut v = v;
            if bound.is_some_and(|b| *v >= b) {
                return invalid("Semaphore released too many times");
            }
            *v += 1;
            raised.notify_one();
            Reply::Unit
        }
        Op::Len => Reply::Len(*v),
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn event_call(flag: &Mutex<bool>, changed: &Condvar, op: Op) -> Reply {
    let mut f = lock(flag);
    match op {
        Op::IsSet => Reply::Bool(*f),
        Op::SetFlag => {
            *f = true;
            changed.notify_all();
            Reply::Unit
        }
        Op::ClearFlag => {
            *f = false;
            Reply::Unit
        }
        Op::Wait(timeout) => Reply::Bool(wait_until(changed, f, timeout, |f| *f).1),
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn condition_call(state: &Mutex<ConditionState>, changed: &Condvar, op: Op, conn: u64) -> Reply {
    const UNOWNED: &str = "cannot release un-acquired lock";
    let mut s = lock(state);
    match op {
        Op::Acquire(timeout) => Reply::Bool(acquire(changed, s, timeout, conn, true).1),
        Op::Release => {
            if s.lock.owner != Some(conn) {
                return invalid(UNOWNED);
            }
            s.lock.depth -= 1;
            if s.lock.depth == 0 {
                s.lock = LockState::default();
                changed.notify_all();
            }
            Reply::Unit
        }
        Op::Wait(timeout) => {
            if s.lock.owner != Some(conn) {
                return invalid("cannot wait on un-acquired lock");
            }
            let depth = s.lock.depth;
            let ticket = s.next_ticket;
            s.next_ticket += 1;
            s.waiting.push_back(ticket);
            s.lock = LockState::default();
            changed.notify_all();
            let (mut s, woken) = wait_until(changed, s, timeout, |s| s.woken.contains(&ticket));
            s.woken.retain(|t| *t != ticket);
            s.waiting.retain(|t| *t != ticket);
            // Take the lock back, however long that takes, as Python's `wait` does.
            let (mut s, _) = acquire(changed, s, None, conn, false);
            s.lock.depth = depth;
            Reply::Bool(woken)
        }
        Op::Notify(_) if s.lock.owner != Some(conn) => invalid("cannot notify on un-acquired lock"),
        Op::Notify(n) => {
            let n = n.min(s.waiting.len());
            let woken: Vec<u64> = s.waiting.drain(..n).collect();
            s.woken.extend(woken);
            changed.notify_all();
            Reply::Unit
        }
        Op::NotifyAll if s.lock.owner != Some(conn) => invalid("cannot notify on un-acquired lock"),
        Op::NotifyAll => {
            let woken: Vec<u64> = s.waiting.drain(..).collect();
            s.woken.extend(woken);
            changed.notify_all();
            Reply::Unit
        }
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

fn barrier_call(state: &Mutex<BarrierState>, changed: &Condvar, op: Op) -> Reply {
    let mut s = lock(state);
    match op {
        Op::Wait(timeout) => {
            if s.broken {
                return Reply::Failed(Failure::BrokenBarrier);
            }
            let index = s.arrived;
            s.arrived += 1;
            let round = s.generation;
            if s.arrived == s.parties {
                s.end_round(true);
                changed.notify_all();
                return Reply::Len(index);
            }
            let (mut s, _) = wait_until(changed, s, timeout, |s| s.generation != round || s.broken);
            if s.generation != round {
                return if s.read_outcome(round) {
                    Reply::Len(index)
                } else {
                    Reply::Failed(Failure::BrokenBarrier)
                };
            }
            // Broken meanwhile, or timed out: a timed-out waiter breaks the barrier
            // for everyone, as in Python.
            s.broken = true;
            s.arrived = 0;
            changed.notify_all();
            Reply::Failed(Failure::BrokenBarrier)
        }
        Op::Abort => {
            s.broken = true;
            s.arrived = 0;
            changed.notify_all();
            Reply::Unit
        }
        Op::Reset => {
            if s.arrived > 0 {
                // The waiters of this round see a broken barrier.
                s.end_round(false);
            } else {
                s.generation += 1;
            }
            s.broken = false;
            changed.notify_all();
            Reply::Unit
        }
        Op::Parties => Reply::Len(s.parties),
        Op::Waiting => Reply::Len(s.arrived),
        Op::Broken => Reply::Bool(s.broken),
        _ => Reply::Failed(Failure::NoSuchObject),
    }
}

impl BarrierState {
    /// Ends the current round, passed or not, for the waiters still to wake.
    fn end_round(&mut self, passed: bool) {
        let waiters = if passed {
            self.parties - 1
        } else {
            self.arrived
        };
        if waiters > 0 {
            self.outcomes.insert(self.generation, (passed, waiters));
        }
        self.generation += 1;
        self.arrived = 0;
    }

    /// How round `round` ended, for one of its waiters.
    fn read_outcome(&mut self, round: u64) -> bool {
        let Some((passed, left)) = self.outcomes.get_mut(&round) else {
            return false;
        };
        let passed = *passed;
        *left -= 1;
        if *left == 0 {
            self.outcomes.remove(&round);
        }
        passed
    }
}

/// Serves one client connection until it closes.
fn serve_connection(server: &Server, listener: &Listener, conn: SocketConnection, id: u64) {
    if listener.authenticate(&conn).is_err() {
        return;
    }
    while let Ok(request) = conn.recv::<Request>() {
        // The queue an item is taken from, to give it back if the taker is gone.
        let mut taken_from = None;
        let reply = match request {
            Request::New(kind) => server.create(kind),
            Request::Publish(name, id) => server.publish(name, id),
            Request::Lookup(name) => server.lookup(name),
            Request::Call(object, op) => match server.object(object) {
                Some(object) => {
                    if matches!(op, Op::Take(_)) {
                        taken_from = Some(object.clone());
                    }
                    call(&object, op, id)
                }
                None => Reply::Failed(Failure::NoSuchObject),
            },
            Request::Shutdown => {
                server.stopping.store(true, Ordering::SeqCst);
                // Wakes the accepting thread, which then ends the server.
                let _ = rustix::net::shutdown(listener.socket_fd(), rustix::net::Shutdown::Read);
                let _ = conn.send(&Reply::Unit);
                break;
            }
        };
        if conn.send(&reply).is_err() {
            if let (Some(queue), Reply::Value(Some(item))) = (taken_from, reply) {
                give_back(&queue, item);
            }
            break;
        }
    }
    server.release_all(id);
}

/// Puts an item back at the head of its queue: the client that took it died waiting
/// (the item would be lost otherwise; Python's manager loses it).
fn give_back(queue: &Object, item: Bytes) {
    if let Object::Queue { state, changed, .. } = queue {
        lock(state).items.push_front(item);
        changed.notify_all();
    }
}

/// The server process's body: accept and serve until told to stop.
pub(crate) fn serve(args: ServerArgs) {
    let listener = Arc::new(Listener::from_fd(args.socket.0, args.address, args.authkey));
    let server = Arc::new(Server {
        objects: RwLock::new(HashMap::new()),
        kinds: Mutex::default(),
        names: Mutex::default(),
        next_id: AtomicU64::new(1),
        stopping: AtomicBool::new(false),
    });
    let mut connections = 0u64;
    loop {
        let conn = match listener.accept_unauthenticated() {
            Ok(conn) => conn,
            Err(_) if server.stopping.load(Ordering::SeqCst) => return,
            Err(e) => {
                log::warn!("a manager could not accept a connection: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        connections += 1;
        let (server, listener, id) = (server.clone(), listener.clone(), connections);
        let spawned = std::thread::Builder::new()
            .name(format!("conc-manager-conn-{id}"))
            .spawn(move || serve_connection(&server, &listener, conn, id));
        if let Err(e) = spawned {
            log::error!("a manager could not start a thread for a connection: {e}");
        }
    }
}
