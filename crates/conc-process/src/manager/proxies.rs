//! The typed proxies: each encodes its arguments, makes one request of the manager and
//! decodes the answer.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::protocol::{Op, Reply};
use super::{ManagerRef, decode, encode, unexpected};
use crate::ProcessError;

/// An untyped proxy: which manager, which object.
#[derive(Clone)]
pub(crate) struct Proxy {
    target: Arc<ManagerRef>,
    id: u64,
}

impl Proxy {
    pub(crate) fn new(target: Arc<ManagerRef>, id: u64) -> Self {
        Proxy { target, id }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    fn call(&self, op: Op) -> Result<Reply, ProcessError> {
        self.target.call(self.id, op)
    }

    /// A call whose reply the caller checks.
    pub(crate) fn call_raw(&self, op: Op) -> Result<Reply, ProcessError> {
        self.call(op)
    }

    fn unit(&self, op: Op) -> Result<(), ProcessError> {
        match self.call(op)? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn boolean(&self, op: Op) -> Result<bool, ProcessError> {
        match self.call(op)? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    fn len(&self, op: Op) -> Result<usize, ProcessError> {
        match self.call(op)? {
            Reply::Len(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    fn value<T: DeserializeOwned>(&self, op: Op) -> Result<Option<T>, ProcessError> {
        match self.call(op)? {
            Reply::Value(v) => v.as_deref().map(decode).transpose(),
            other => Err(unexpected(&other)),
        }
    }

    /// A value the server always sends for `op`.
    fn required<T: DeserializeOwned>(&self, op: Op) -> Result<T, ProcessError> {
        self.value(op)?
            .ok_or_else(|| ProcessError::BadMessage("the manager answered no value".into()))
    }

    fn values<T: DeserializeOwned>(&self, op: Op) -> Result<Vec<T>, ProcessError> {
        match self.call(op)? {
            Reply::Values(vs) => vs.iter().map(|v| decode(v)).collect(),
            other => Err(unexpected(&other)),
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "object {} of the manager at {}",
            self.id, self.target.address
        )
    }
}

impl Serialize for Proxy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&*self.target, self.id).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (target, id) = <(ManagerRef, u64)>::deserialize(d)?;
        Ok(Proxy {
            target: Arc::new(target),
            id,
        })
    }
}

/// A typed proxy that a [`Manager`](crate::Manager) can
/// [`publish`](crate::Manager::publish) under a name and
/// [`lookup`](crate::Manager::lookup) again (Python's `BaseManager.register` for the
/// objects a remote program shares). Implemented by every proxy type of this crate.
///
/// # Examples
///
/// ```
/// use conc_process::{EventProxy, Manager, StartMethod};
///
/// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
/// manager.publish("ready", &manager.event().unwrap()).unwrap();
/// let ready: EventProxy = manager.lookup("ready").unwrap();
/// ready.set().unwrap();
/// assert!(manager.lookup::<EventProxy>("ready").unwrap().is_set().unwrap());
/// ```
pub trait SharedObject: sealed::Proxied {}

pub(crate) mod sealed {
    /// The untyped side of a typed proxy. Sealed: it cannot be named outside this
    /// crate, so `Proxy` stays private.
    #[allow(private_interfaces)]
    pub trait Proxied {
        /// The kind of object it reaches, as the server names it.
        const KIND: &'static str;
        /// The untyped proxy.
        fn untyped(&self) -> &super::Proxy;
        /// The typed proxy over an untyped one.
        fn typed(proxy: super::Proxy) -> Self;
    }
}

/// Declares a typed proxy over [`Proxy`]: `Clone`, `Debug`, serde, `From<Proxy>`.
macro_rules! typed_proxy {
    ($(#[$doc:meta])* $name:ident < $($t:ident),* > = $kind:literal) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            proxy: Proxy,
            types: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                $name { proxy: self.proxy.clone(), types: PhantomData }
            }
        }

        impl<$($t),*> fmt::Debug for $name<$($t),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.proxy)
            }
        }

        impl<$($t),*> Serialize for $name<$($t),*> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.proxy.serialize(s)
            }
        }

        impl<'de, $($t),*> Deserialize<'de> for $name<$($t),*> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($name { proxy: Proxy::deserialize(d)?, types: PhantomData })
            }
        }

        impl<$($t),*> From<Proxy> for $name<$($t),*> {
            fn from(proxy: Proxy) -> Self {
                $name { proxy, types: PhantomData }
            }
        }

        // Sealed: `Proxied` cannot be named outside this crate, so `Proxy` stays private.
        #[allow(private_interfaces)]
        impl<$($t),*> sealed::Proxied for $name<$($t),*> {
            const KIND: &'static str = $kind;

            fn untyped(&self) -> &Proxy {
                &self.proxy
            }

            fn typed(proxy: Proxy) -> Self {
                $name { proxy, types: PhantomData }
            }
        }

        impl<$($t),*> SharedObject for $name<$($t),*> {}
    };
}

/// `acquire`, `acquire_timeout`, `try_acquire` and `release`, shared by the lock,
/// semaphore and condition proxies; `$name` is the receiver in Python's spelling.
macro_rules! acquire_release_methods {
    ($name:literal) => {
        #[doc = concat!("`", $name, ".acquire()`, waiting as long as it takes.")]
        pub fn acquire(&self) -> Result<(), ProcessError> {
            self.proxy.boolean(Op::Acquire(None)).map(drop)
        }

        #[doc = concat!("`", $name, ".acquire(timeout=...)`: whether it was acquired.")]
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
            self.proxy.boolean(Op::Acquire(Some(timeout)))
        }

        #[doc = concat!("`", $name, ".acquire(blocking=False)`.")]
        pub fn try_acquire(&self) -> Result<bool, ProcessError> {
            self.acquire_timeout(Duration::ZERO)
        }

        #[doc = concat!("`", $name, ".release()`.")]
        pub fn release(&self) -> Result<(), ProcessError> {
            self.proxy.unit(Op::Release)
        }
    };
}

typed_proxy! {
    /// A dict in a [`Manager`](crate::Manager) (Python's `DictProxy`), in insertion
    /// order. Keys are compared by their serde encoding.
    ///
    /// # Errors
    ///
    /// Every method fails with [`ProcessError::Closed`] once the manager is gone, and
    /// with [`ProcessError::Serialization`] for a value that cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let d = manager.dict::<String, i32>().unwrap();
    /// d.insert(&"a".into(), &1).unwrap();
    /// d.update([("b".to_string(), 2)]).unwrap();
    /// assert_eq!(d.len().unwrap(), 2);
    /// assert_eq!(d.items().unwrap(), [("a".to_string(), 1), ("b".to_string(), 2)]);
    /// assert_eq!(d.pop(&"a".into()).unwrap(), Some(1));
    /// assert!(!d.contains_key(&"a".into()).unwrap());
    /// ```
    DictProxy<K, V> = "dict"
}

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// `d.get(key)`.
    pub fn get(&self, key: &K) -> Result<Option<V>, ProcessError> {
        self.proxy.value(Op::DictGet(encode(key)?))
    }

    /// `d[key] = value`.
    pub fn insert(&self, key: &K, value: &V) -> Result<(), ProcessError> {
        self.proxy.unit(Op::DictSet(encode(key)?, encode(value)?))
    }

    /// `del d[key]`; whether the key was there (Python raises `KeyError` if not).
    pub fn remove(&self, key: &K) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::DictDel(encode(key)?))
    }

    /// `key in d`.
    pub fn contains_key(&self, key: &K) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::DictContains(encode(key)?))
    }

    /// `d.pop(key, None)`.
    pub fn pop(&self, key: &K) -> Result<Option<V>, ProcessError> {
        self.proxy.value(Op::DictPop(encode(key)?))
    }

    /// `d.setdefault(key, default)`: the value now under `key`.
    pub fn setdefault(&self, key: &K, default: &V) -> Result<V, ProcessError> {
        self.proxy
            .required(Op::DictSetDefault(encode(key)?, encode(default)?))
    }

    /// `d.update(pairs)`, in one round trip.
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<(), ProcessError> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
            .collect::<Result<_, ProcessError>>()?;
        self.proxy.unit(Op::DictUpdate(pairs))
    }

    /// `list(d.keys())`.
    pub fn keys(&self) -> Result<Vec<K>, ProcessError> {
        self.proxy.values(Op::DictKeys)
    }

    /// `list(d.values())`.
    pub fn values(&self) -> Result<Vec<V>, ProcessError> {
        self.proxy.values(Op::DictValues)
    }

    /// `list(d.items())`.
    pub fn items(&self) -> Result<Vec<(K, V)>, ProcessError> {
        match self.proxy.call(Op::DictItems)? {
            Reply::Items(items) => items
                .iter()
                .map(|(k, v)| Ok((decode(k)?, decode(v)?)))
                .collect(),
            other => Err(unexpected(&other)),
        }
    }

    /// `len(d)`.
    pub fn len(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Len)
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool, ProcessError> {
        Ok(self.len()? == 0)
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Clear)
    }
}

typed_proxy! {
    /// A list in a [`Manager`](crate::Manager) (Python's `ListProxy`). Indices follow
    /// Python: negative ones count from the end.
    ///
    /// # Errors
    ///
    /// Every method fails with [`ProcessError::Closed`] once the manager is gone;
    /// an index out of range is [`ProcessError::InvalidArgument`] with Python's text
    /// (`IndexError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let l = manager.list([3, 1]).unwrap();
    /// l.append(&2).unwrap();
    /// assert_eq!(l.get(-1).unwrap(), 2);
    /// assert_eq!(l.pop().unwrap(), 2);
    /// l.insert(0, &9).unwrap();
    /// assert_eq!(l.to_vec().unwrap(), [9, 3, 1]);
    /// assert!(l.get(5).is_err());
    /// ```
    ListProxy<T> = "list"
}

impl<T> ListProxy<T>
where
    T: Serialize + DeserializeOwned,
{
    /// `l.append(value)`.
    pub fn append(&self, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ListAppend(encode(value)?))
    }

    /// `l.extend(values)`, in one round trip.
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), ProcessError> {
        let values = values
            .into_iter()
            .map(|v| encode(&v))
            .collect::<Result<_, _>>()?;
        self.proxy.unit(Op::ListExtend(values))
    }

    /// `l[index]`.
    pub fn get(&self, index: i64) -> Result<T, ProcessError> {
        self.proxy.required(Op::ListGet(index))
    }

    /// `l[index] = value`.
    pub fn set(&self, index: i64, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ListSet(index, encode(value)?))
    }

    /// `del l[index]`.
    pub fn delete(&self, index: i64) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ListDel(index))
    }

    /// `l.pop()`: the last item.
    pub fn pop(&self) -> Result<T, ProcessError> {
        self.pop_at(-1)
    }

    /// `l.pop(index)`.
    pub fn pop_at(&self, index: i64) -> Result<T, ProcessError> {
        self.proxy.required(Op::ListPop(index))
    }

    /// `l.insert(index, value)` (an index past either end inserts at that end).
    pub fn insert(&self, index: i64, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ListInsert(index, encode(value)?))
    }

    /// `l.remove(value)`: the first equal item.
    pub fn remove(&self, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ListRemove(encode(value)?))
    }

    /// `l.index(value)`, `None` where Python raises `ValueError`.
    pub fn index(&self, value: &T) -> Result<Option<usize>, ProcessError> {
        match self.proxy.call(Op::ListIndex(encode(value)?))? {
            Reply::Index(i) => Ok(i),
            other => Err(unexpected(&other)),
        }
    }

    /// `l.count(value)`.
    pub fn count(&self, value: &T) -> Result<usize, ProcessError> {
        self.proxy.len(Op::ListCount(encode(value)?))
    }

    /// `list(l)`: a copy of every item.
    pub fn to_vec(&self) -> Result<Vec<T>, ProcessError> {
        self.proxy.values(Op::ListAll)
    }

    /// `len(l)`.
    pub fn len(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Len)
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> Result<bool, ProcessError> {
        Ok(self.len()? == 0)
    }

    /// `l.clear()`.
    pub fn clear(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Clear)
    }
}

typed_proxy! {
    /// A namespace in a [`Manager`](crate::Manager) (Python's `Namespace`): named
    /// values of any types, `ns.x = 1` being `ns.set("x", &1)`.
    ///
    /// # Errors
    ///
    /// Every method fails with [`ProcessError::Closed`] once the manager is gone, and
    /// `get` with [`ProcessError::Serialization`] when the value is not a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let ns = manager.namespace().unwrap();
    /// ns.set("x", &10).unwrap();
    /// ns.set("name", &"bob").unwrap();
    /// assert_eq!(ns.get::<i32>("x").unwrap(), Some(10));
    /// assert_eq!(ns.names().unwrap(), ["x", "name"]);
    /// assert!(ns.delete("x").unwrap());
    /// assert_eq!(ns.get::<i32>("x").unwrap(), None);
    /// ```
    NamespaceProxy<> = "namespace"
}

impl NamespaceProxy {
    /// `getattr(ns, name, None)`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ProcessError> {
        self.proxy.value(Op::GetAttr(name.into()))
    }

    /// `setattr(ns, name, value)`.
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::SetAttr(name.into(), encode(value)?))
    }

    /// `delattr(ns, name)`; whether it was there.
    pub fn delete(&self, name: &str) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::DelAttr(name.into()))
    }

    /// The names set, in the order they were first set.
    pub fn names(&self) -> Result<Vec<String>, ProcessError> {
        match self.proxy.call(Op::Attrs)? {
            Reply::Named(all) => Ok(all.into_iter().map(|(name, _)| name).collect()),
            other => Err(unexpected(&other)),
        }
    }
}

typed_proxy! {
    /// One value in a [`Manager`](crate::Manager) (Python's `Manager().Value`).
    ///
    /// Each `get` and `set` is atomic; a read-modify-write is not (as in Python): guard
    /// it with a [`LockProxy`].
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let v = manager.value(3.25f64).unwrap();
    /// v.set(&6.5).unwrap();
    /// assert_eq!(v.get().unwrap(), 6.5);
    /// ```
    ValueProxy<T> = "value"
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// `v.value`.
    pub fn get(&self) -> Result<T, ProcessError> {
        self.proxy.required(Op::Get)
    }

    /// `v.value = value`.
    pub fn set(&self, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Set(encode(value)?))
    }
}

typed_proxy! {
    /// A queue in a [`Manager`](crate::Manager) (Python's `Manager().Queue()`), with
    /// `task_done` and `join`. Unlike [`Queue`](crate::Queue), it can be handed to pool
    /// workers through a task's argument, as the seeds do.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone; [`ProcessError::Full`] and
    /// [`ProcessError::Empty`] from the timed and non-blocking calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Manager, ProcessError, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let q = manager.queue::<String>(1).unwrap();
    /// q.put(&"one".into()).unwrap();
    /// assert_eq!(q.put_timeout(&"two".into(), Duration::from_millis(10)), Err(ProcessError::Full));
    /// assert_eq!(q.get().unwrap(), "one");
    /// assert_eq!(q.get_nowait(), Err(ProcessError::Empty));
    /// q.task_done().unwrap();
    /// q.join().unwrap();
    /// ```
    QueueProxy<T> = "queue"
}

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// `q.put(item)`, waiting for room.
    pub fn put(&self, item: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Put(encode(item)?, None))
    }

    /// `q.put(item, timeout=...)`.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), ProcessError> {
        self.proxy
            .unit(Op::Put(encode(item)?, Some(timeout)))
            .map_err(|e| e.waited_for("room in the manager's queue", timeout))
    }

    /// `q.put_nowait(item)`.
    pub fn put_nowait(&self, item: &T) -> Result<(), ProcessError> {
        self.put_timeout(item, Duration::ZERO)
    }

    /// `q.get()`, waiting for an item.
    pub fn get(&self) -> Result<T, ProcessError> {
        self.take(None)
    }

    /// `q.get(timeout=...)`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ProcessError> {
        self.take(Some(timeout))
            .map_err(|e| e.waited_for("an item of the manager's queue", timeout))
    }

    /// `q.get_nowait()`.
    pub fn get_nowait(&self) -> Result<T, ProcessError> {
        self.take(Some(Duration::ZERO))
    }

    fn take(&self, timeout: Option<Duration>) -> Result<T, ProcessError> {
        self.proxy
            .value(Op::Take(timeout))?
            .ok_or(ProcessError::Empty)
    }

    /// `q.qsize()`.
    pub fn qsize(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Len)
    }

    /// `q.empty()`.
    pub fn empty(&self) -> Result<bool, ProcessError> {
        Ok(self.qsize()? == 0)
    }

    /// `q.task_done()`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] when called more times than items were put.
    pub fn task_done(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::TaskDone)
    }

    /// `q.join()`: waits until every item put was marked done.
    pub fn join(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Join)
    }
}

typed_proxy! {
    /// A `Lock` or `RLock` in a [`Manager`](crate::Manager). An `RLock` is owned by the
    /// thread that acquired it; a holder whose thread or process ends releases it
    /// (Python's manager keeps it locked forever).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone; releasing a lock that is not
    /// held (or, for an `RLock`, held by another thread) is
    /// [`ProcessError::InvalidArgument`] with Python's text.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let lock = manager.lock().unwrap();
    /// lock.acquire().unwrap();
    /// assert!(!lock.acquire_timeout(Duration::from_millis(10)).unwrap());
    /// lock.release().unwrap();
    /// {
    ///     let _held = lock.lock().unwrap();
    ///     assert!(lock.locked().unwrap());
    /// }
    /// assert!(!lock.locked().unwrap());
    /// ```
    LockProxy<> = "lock"
}

impl LockProxy {
    acquire_release_methods!("lock");

    /// Whether some thread holds it.
    pub fn locked(&self) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::IsSet)
    }

    /// `with lock:`: acquires, and releases when the guard is dropped.
    pub fn lock(&self) -> Result<LockProxyGuard<'_>, ProcessError> {
        self.acquire()?;
        Ok(LockProxyGuard { lock: self })
    }
}

/// Holds a [`LockProxy`] until dropped (see [`LockProxy::lock`]).
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockProxyGuard<'a> {
    lock: &'a LockProxy,
}

impl Drop for LockProxyGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.lock.release() {
            log::warn!("a manager lock could not be released: {e}");
        }
    }
}

typed_proxy! {
    /// A `Semaphore` or `BoundedSemaphore` in a [`Manager`](crate::Manager).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone; releasing a bounded
    /// semaphore above its start value is [`ProcessError::InvalidArgument`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let s = manager.bounded_semaphore(1).unwrap();
    /// assert!(s.try_acquire().unwrap());
    /// assert!(!s.try_acquire().unwrap());
    /// s.release().unwrap();
    /// assert!(s.release().is_err());
    /// ```
    SemaphoreProxy<> = "semaphore"
}

impl SemaphoreProxy {
    acquire_release_methods!("s");

    /// The current value.
    pub fn value(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Len)
    }
}

typed_proxy! {
    /// An `Event` in a [`Manager`](crate::Manager).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let e = manager.event().unwrap();
    /// assert!(!e.wait(Some(Duration::from_millis(10))).unwrap());
    /// e.set().unwrap();
    /// assert!(e.is_set().unwrap() && e.wait(None).unwrap());
    /// e.clear().unwrap();
    /// ```
    EventProxy<> = "event"
}

impl EventProxy {
    /// `e.set()`.
    pub fn set(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::SetFlag)
    }

    /// `e.clear()`.
    pub fn clear(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ClearFlag)
    }

    /// `e.is_set()`.
    pub fn is_set(&self) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::IsSet)
    }

    /// `e.wait(timeout)`: whether the flag is set.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::Wait(timeout))
    }
}

typed_proxy! {
    /// A fixed-length array in a [`Manager`](crate::Manager) (Python's
    /// `Manager().Array`). Indices follow Python: negative ones count from the end.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone; an index out of range is
    /// [`ProcessError::InvalidArgument`] (`IndexError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let a = manager.array([1.5f64, 2.5, 3.5]).unwrap();
    /// a.set(-1, &-3.5).unwrap();
    /// assert_eq!(a.get(2).unwrap(), -3.5);
    /// assert_eq!(a.len().unwrap(), 3);
    /// assert_eq!(a.to_vec().unwrap(), [1.5, 2.5, -3.5]);
    /// ```
    ArrayProxy<T> = "array"
}

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// `a[index]`.
    pub fn get(&self, index: i64) -> Result<T, ProcessError> {
        self.proxy.required(Op::ListGet(index))
    }

    /// `a[index] = value`.
    pub fn set(&self, index: i64, value: &T) -> Result<(), ProcessError> {
        self.proxy.unit(Op::ListSet(index, encode(value)?))
    }

    /// `len(a)`.
    pub fn len(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Len)
    }

    /// `len(a) == 0`.
    pub fn is_empty(&self) -> Result<bool, ProcessError> {
        Ok(self.len()? == 0)
    }

    /// `a[:]`: a copy of every item.
    pub fn to_vec(&self) -> Result<Vec<T>, ProcessError> {
        self.proxy.values(Op::ListAll)
    }
}

typed_proxy! {
    /// A condition variable in a [`Manager`](crate::Manager) (Python's
    /// `Manager().Condition()`), with its own re-entrant lock owned by the thread that
    /// acquired it.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] once the manager is gone; `wait`, `notify` and
    /// `release` without holding the lock are [`ProcessError::InvalidArgument`] with
    /// Python's text (`RuntimeError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let cond = manager.condition().unwrap();
    /// let flag = manager.value(false).unwrap();
    /// let (c, f) = (cond.clone(), flag.clone());
    /// let waiter = std::thread::spawn(move || {
    ///     c.acquire().unwrap();
    ///     while !f.get().unwrap() {
    ///         c.wait(Some(Duration::from_secs(30))).unwrap();
    ///     }
    ///     c.release().unwrap();
    /// });
    /// cond.acquire().unwrap();
    /// flag.set(&true).unwrap();
    /// cond.notify_all().unwrap();
    /// cond.release().unwrap();
    /// waiter.join().unwrap();
    /// ```
    ConditionProxy<> = "condition"
}

impl ConditionProxy {
    acquire_release_methods!("c");

    /// `c.wait(timeout)`: releases the lock, waits for a notification (or the
    /// timeout), takes the lock back; whether it was notified.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::Wait(timeout))
    }

    /// `c.notify(n)`: wakes the first `n` waiters.
    pub fn notify(&self, n: usize) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Notify(n))
    }

    /// `c.notify_all()`.
    pub fn notify_all(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::NotifyAll)
    }
}

typed_proxy! {
    /// A barrier in a [`Manager`](crate::Manager) (Python's `Manager().Barrier`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::BrokenBarrier`] when the barrier was aborted, reset while the
    /// caller waited, or broken by a waiter's timeout; [`ProcessError::Closed`] once
    /// the manager is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Manager, StartMethod};
    ///
    /// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    /// let barrier = manager.barrier(2).unwrap();
    /// let other = barrier.clone();
    /// let t = std::thread::spawn(move || other.wait(None).unwrap());
    /// let mine = barrier.wait(None).unwrap();
    /// let theirs = t.join().unwrap();
    /// assert_eq!(mine + theirs, 1); // indices 0 and 1
    /// ```
    BarrierProxy<> = "barrier"
}

impl BarrierProxy {
    /// `b.wait(timeout)`: this caller's arrival index, once every party arrived.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Wait(timeout))
    }

    /// `b.abort()`: breaks the barrier for every waiter, now and later.
    pub fn abort(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Abort)
    }

    /// `b.reset()`: back to empty; current waiters get
    /// [`ProcessError::BrokenBarrier`].
    pub fn reset(&self) -> Result<(), ProcessError> {
        self.proxy.unit(Op::Reset)
    }

    /// `b.parties`.
    pub fn parties(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Parties)
    }

    /// `b.n_waiting`.
    pub fn n_waiting(&self) -> Result<usize, ProcessError> {
        self.proxy.len(Op::Waiting)
    }

    /// `b.broken`.
    pub fn broken(&self) -> Result<bool, ProcessError> {
        self.proxy.boolean(Op::Broken)
    }
}
