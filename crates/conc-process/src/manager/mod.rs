//! `Manager`: Python's `multiprocessing.Manager()`, a server process that owns shared
//! objects and hands out proxies that work from any process.
//!
//! The server (`server`) listens on an abstract Unix socket with a random key, through
//! conc-process's [`Listener`](crate::connection::Listener); each thread of each
//! process that uses a proxy opens one connection to it (as Python does), and each
//! method call is one request and one reply on it (`protocol`). Values cross as their
//! postcard bytes; the typed proxies (`proxies`) encode and decode them, so the server
//! needs none of the user's types.

mod protocol;
mod proxies;
mod served;
mod server;

pub use proxies::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, ListProxy, LockProxy,
    LockProxyGuard, NamespaceProxy, QueueProxy, SemaphoreProxy, SharedObject, ValueProxy,
};
pub use served::{Served, ServedProxy};

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::{Address, Listener, SocketConnection, client};
use crate::wire::{self, Descriptor};
use crate::{Process, ProcessError, StartMethod, sys};

use protocol::{Failure, Kind, Reply, Request};
use server::ServerArgs;

/// How to reach a manager: its socket's abstract name and its key. Every proxy holds
/// one, and so can cross to any process.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManagerRef {
    address: Address,
    authkey: Vec<u8>,
}

thread_local! {
    /// This thread's connections, one per manager and key, with the pid that opened
    /// them (a fork child inherits its parent thread's list and must not use those).
    static CONNECTIONS: RefCell<Vec<(Arc<ManagerRef>, sys::Pid, SocketConnection)>> =
        const { RefCell::new(Vec::new()) };
}

/// The error of every call to a manager that is gone.
fn gone() -> ProcessError {
    ProcessError::Closed("the manager")
}

impl ManagerRef {
    /// Sends `request` on this thread's connection and waits for the reply.
    fn request(&self, request: &Request) -> Result<Reply, ProcessError> {
        CONNECTIONS.with(|all| {
            let mut all = all.borrow_mut();
            let pid = sys::getpid();
            all.retain(|(_, owner, _)| *owner == pid);
            let index = match all.iter().position(|(m, _, _)| **m == *self) {
                Some(i) => i,
                None => {
                    let conn = client(&self.address, Some(&self.authkey)).map_err(|e| match e {
                        ProcessError::AuthenticationError(_) => e,
                        _ => gone(),
                    })?;
                    let key = Arc::new(ManagerRef {
                        address: self.address.clone(),
                        authkey: self.authkey.clone(),
                    });
                    all.push((key, pid, conn));
                    all.len() - 1
                }
            };
            let conn = &all[index].2;
            let reply = conn.send(request).and_then(|()| conn.recv::<Reply>());
            match reply {
                Ok(reply) => Ok(reply),
                Err(ProcessError::Serialization(e)) => Err(ProcessError::Serialization(e)),
                Err(_) => {
                    all.remove(index);
                    Err(gone())
                }
            }
        })
    }

    /// Calls a method of object `id` and checks the reply.
    fn call(&self, id: u64, op: protocol::Op) -> Result<Reply, ProcessError> {
        match self.request(&Request::Call(id, op))? {
            Reply::Failed(failure) => Err(match failure {
                Failure::NoSuchObject => {
                    ProcessError::InvalidState("the manager has no such object")
                }
                Failure::Full => ProcessError::Full,
                Failure::Empty => ProcessError::Empty,
                Failure::Timeout => ProcessError::timed_out(),
                Failure::Invalid(text) => ProcessError::InvalidArgument(text),
                Failure::BrokenBarrier => ProcessError::BrokenBarrier,
                Failure::Panicked(message) => ProcessError::Panicked {
                    name: "SyncManager".into(),
                    message,
                },
                Failure::NoSuchName(name) => {
                    ProcessError::InvalidArgument(format!("nothing is published under '{name}'"))
                }
            }),
            reply => Ok(reply),
        }
    }

    fn create(&self, kind: Kind) -> Result<u64, ProcessError> {
        match self.request(&Request::New(kind))? {
            Reply::Id(id) => Ok(id),
            Reply::Failed(Failure::Invalid(why)) => Err(ProcessError::InvalidArgument(why)),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(reply: &Reply) -> ProcessError {
    ProcessError::BadMessage(format!("the manager answered {reply:?}"))
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ProcessError> {
    wire::encode_plain(value)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProcessError> {
    wire::decode_plain(bytes)
}

/// A manager: a server process holding shared objects, and a factory of the proxies
/// that reach them (Python's `multiprocessing.Manager()`).
///
/// Each factory method creates an object in the server and returns its typed proxy.
/// Proxies are `Serialize`, so they cross to children of every start method, to pool
/// workers and through queues; every method call is one round trip to the server.
/// Values are stored as their serde encoding, so any `Serialize + DeserializeOwned`
/// type works (a value holding a [`Connection`](crate::Connection), a queue or a lock
/// cannot be stored: those cannot leave the process tree through a socket).
///
/// The server lives until [`shutdown`](Self::shutdown) or until the `Manager` is
/// dropped, and dies with the program in any case. Once it is gone, every proxy call
/// fails with [`ProcessError::Closed`] ("the manager is closed"), never a hang. Objects
/// live as long as the server (Python frees an object with its last proxy).
///
/// # Examples
///
/// ```
/// use conc_process::{Manager, Process, StartMethod};
///
/// fn record((d, l): (conc_process::DictProxy<String, u32>, conc_process::ListProxy<u32>)) {
///     d.insert(&"answer".to_string(), &42).unwrap();
///     l.append(&7).unwrap();
/// }
///
/// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
/// let d = manager.dict::<String, u32>().unwrap();
/// let l = manager.list::<u32>(vec![1, 2]).unwrap();
/// let p = Process::new(record, (d.clone(), l.clone())).start_method(StartMethod::Fork);
/// p.start().unwrap();
/// p.join().unwrap();
/// assert_eq!(d.get(&"answer".to_string()).unwrap(), Some(42));
/// assert_eq!(l.to_vec().unwrap(), [1, 2, 7]);
/// ```
pub struct Manager {
    target: Arc<ManagerRef>,
    /// The server, when this manager started it (not for [`Manager::connect`]).
    process: Option<Process<()>>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("address", &self.target.address)
            .field("pid", &self.pid())
            .finish()
    }
}

/// Configures a [`Manager`]'s server (Python's `BaseManager(address, authkey)` and
/// `start()`): where it listens, its key, its start method.
///
/// # Examples
///
/// A manager on TCP that another program reaches with the key:
///
/// ```
/// use conc_process::{Manager, StartMethod};
///
/// let server = Manager::builder()
///     .address("127.0.0.1:0".parse().unwrap())
///     .authkey(b"sesame")
///     .start_method(StartMethod::Fork)
///     .start()
///     .unwrap();
/// let jobs = server.queue::<u32>(0).unwrap();
/// server.publish("jobs", &jobs).unwrap();
///
/// // Elsewhere, with the address and the key:
/// let remote = Manager::connect(server.address(), b"sesame").unwrap();
/// let jobs = remote.lookup::<conc_process::QueueProxy<u32>>("jobs").unwrap();
/// jobs.put(&7).unwrap();
/// assert_eq!(server.lookup::<conc_process::QueueProxy<u32>>("jobs").unwrap().get(), Ok(7));
/// ```
#[derive(Debug, Default)]
#[must_use = "a ManagerBuilder does nothing until `start` is called"]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    start_method: Option<StartMethod>,
}

impl ManagerBuilder {
    /// Where the server listens (default: a fresh name in Linux's abstract socket
    /// namespace, reachable from this machine only). A TCP address makes the manager
    /// reachable from other programs and machines; TCP port 0 picks a free port
    /// ([`Manager::address`] tells which).
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    /// The key every client must prove it knows (default: 32 random bytes, which the
    /// proxies carry to the processes they are sent to).
    pub fn authkey(mut self, authkey: &[u8]) -> Self {
        self.authkey = Some(authkey.to_vec());
        self
    }

    /// The server's start method (default: the program's).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// Starts the server.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] when the address cannot be bound; the errors of
    /// [`Process::start`].
    pub fn start(self) -> Result<Manager, ProcessError> {
        let mut secret = [0u8; 32];
        sys::fill_random(&mut secret)
            .map_err(|e| ProcessError::os("cannot draw a manager key", e))?;
        let authkey = self.authkey.unwrap_or_else(|| secret.to_vec());
        let address = match self.address {
            Some(address) => address,
            None => {
                let name: String = secret[..8].iter().map(|b| format!("{b:02x}")).collect();
                let mut path = vec![0u8];
                path.extend(format!("conc-manager-{}-{name}", std::process::id()).into_bytes());
                let path: std::ffi::OsString = std::os::unix::ffi::OsStringExt::from_vec(path);
                Address::Unix(PathBuf::from(path))
            }
        };
        // Bound here, before the server exists, so that proxies can connect at once.
        let listener = Listener::bind(address, None)?;
        let address = listener.address().clone();
        let args = ServerArgs {
            socket: Descriptor(listener.into_socket()?),
            address: address.clone(),
            authkey: authkey.clone(),
        };
        let process = Process::new(server::serve, args)
            .name("SyncManager")
            .daemon(true);
        let process = match self.start_method {
            Some(method) => process.start_method(method),
            None => process,
        };
        process.start()?;
        Ok(Manager {
            target: Arc::new(ManagerRef { address, authkey }),
            process: Some(process),
        })
    }
}

impl Manager {
    /// Starts a manager with the program's start method (Python's `Manager()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] when the socket cannot be created; the errors of
    /// [`Process::start`].
    pub fn new() -> Result<Manager, ProcessError> {
        Self::builder().start()
    }

    /// Starts a manager whose server uses `method`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_start_method(method: StartMethod) -> Result<Manager, ProcessError> {
        Self::builder().start_method(method).start()
    }

    /// A builder for a manager on a chosen address, with a chosen key.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Connects to a manager another program started (Python's `BaseManager.connect`).
    /// Its objects are found by name with [`lookup`](Self::lookup); it is not shut down
    /// when this handle is dropped.
    ///
    /// # Errors
    ///
    /// [`ProcessError::AuthenticationError`] for a wrong key;
    /// [`ProcessError::Closed`] when nothing serves at `address`.
    pub fn connect(address: &Address, authkey: &[u8]) -> Result<Manager, ProcessError> {
        let target = Arc::new(ManagerRef {
            address: address.clone(),
            authkey: authkey.to_vec(),
        });
        // One round trip proves the server is there and the key right.
        match target.request(&Request::Lookup(String::new()))? {
            Reply::Failed(_) | Reply::Found(..) => Ok(Manager {
                target,
                process: None,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Where the server listens.
    pub fn address(&self) -> &Address {
        &self.target.address
    }

    /// The server's process id (`None` for a manager reached with
    /// [`connect`](Self::connect)).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// Publishes the object behind `proxy` under `name`, for
    /// [`lookup`](Self::lookup) by other programs (Python's `register('get_queue',
    /// callable=lambda: queue)`). A name published again points to the new object.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone;
    /// [`ProcessError::InvalidState`] when the proxy belongs to another manager.
    pub fn publish<P: SharedObject>(&self, name: &str, proxy: &P) -> Result<(), ProcessError> {
        let untyped = proxies::sealed::Proxied::untyped(proxy);
        match self
            .target
            .request(&Request::Publish(name.into(), untyped.id()))?
        {
            Reply::Unit => Ok(()),
            Reply::Failed(_) => Err(ProcessError::InvalidState(
                "the proxy belongs to another manager",
            )),
            other => Err(unexpected(&other)),
        }
    }

    /// The object published under `name`, through a proxy of type `P`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] when nothing is published under `name`, or
    /// the object is of another kind than `P` reaches (the element types are not
    /// checked: they are the publisher's word); [`ProcessError::Closed`] when the
    /// manager is gone.
    pub fn lookup<P: SharedObject>(&self, name: &str) -> Result<P, ProcessError> {
        match self.target.request(&Request::Lookup(name.into()))? {
            Reply::Found(id, kind) if kind == <P as proxies::sealed::Proxied>::KIND => Ok(
                proxies::sealed::Proxied::typed(proxies::Proxy::new(self.target.clone(), id)),
            ),
            Reply::Found(_, kind) => Err(ProcessError::InvalidArgument(format!(
                "'{name}' is a {kind}, not a {}",
                <P as proxies::sealed::Proxied>::KIND
            ))),
            Reply::Failed(_) => Err(ProcessError::InvalidArgument(format!(
                "nothing is published under '{name}'"
            ))),
            other => Err(unexpected(&other)),
        }
    }

    /// Stops the server and waits for it (Python's `shutdown`). Proxies fail with
    /// [`ProcessError::Closed`] afterwards. Calling it twice is harmless.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] for a manager reached with
    /// [`connect`](Self::connect) (its owner shuts it down); the server's exit, if it
    /// accepted the request and then did not end cleanly. A server that had already
    /// died (killed from outside, say) is only reaped: shutdown returns `Ok`.
    pub fn shutdown(&self) -> Result<(), ProcessError> {
        let Some(process) = &self.process else {
            return Err(ProcessError::InvalidState(
                "only the program that started a manager can shut it down",
            ));
        };
        if !process.is_alive() {
            return Ok(());
        }
        // A server that cannot be asked was already gone (killed, crashed): like
        // Python's, shutdown then only reaps it. Only a server that accepted the request
        // and then ended badly is reported.
        let asked = self.target.request(&Request::Shutdown).is_ok();
        match process.join_timeout(Duration::from_secs(5)) {
            Err(ProcessError::Timeout { .. }) => {
                let _ = process.kill();
                let _ = process.join();
                Ok(())
            }
            Err(ProcessError::Died { .. }) if !asked => Ok(()),
            other => other,
        }
    }

    fn proxy<P: From<proxies::Proxy>>(&self, kind: Kind) -> Result<P, ProcessError> {
        let id = self.target.create(kind)?;
        Ok(P::from(proxies::Proxy::new(self.target.clone(), id)))
    }

    /// A shared dict (Python's `Manager().dict()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ProcessError> {
        self.proxy(Kind::Dict)
    }

    /// A shared list holding `items` (Python's `Manager().list(items)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone;
    /// [`ProcessError::Serialization`] when an item cannot be encoded.
    pub fn list<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ProcessError> {
        let items = items
            .into_iter()
            .map(|i| encode(&i))
            .collect::<Result<_, _>>()?;
        self.proxy(Kind::List(items))
    }

    /// A namespace of named values (Python's `Manager().Namespace()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn namespace(&self) -> Result<NamespaceProxy, ProcessError> {
        self.proxy(Kind::Namespace)
    }

    /// A single shared value (Python's `Manager().Value(typecode, value)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone;
    /// [`ProcessError::Serialization`] when the value cannot be encoded.
    pub fn value<T: Serialize>(&self, value: T) -> Result<ValueProxy<T>, ProcessError> {
        self.proxy(Kind::Value(encode(&value)?))
    }

    /// A queue (Python's `Manager().Queue(maxsize)`; 0 for no bound), which pool
    /// workers can share. It also has `task_done` and `join`, as Python's has, so it
    /// serves as `Manager().JoinableQueue()` too.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>, ProcessError> {
        self.proxy(Kind::Queue { maxsize })
    }

    /// The same as [`queue`](Self::queue), by Python's other name.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn joinable_queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>, ProcessError> {
        self.queue(maxsize)
    }

    /// A lock (Python's `Manager().Lock()`): any holder may release it.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn lock(&self) -> Result<LockProxy, ProcessError> {
        self.proxy(Kind::Lock { reentrant: false })
    }

    /// A re-entrant lock (Python's `Manager().RLock()`): owned by the thread that
    /// acquired it, which may acquire it again.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn rlock(&self) -> Result<LockProxy, ProcessError> {
        self.proxy(Kind::Lock { reentrant: true })
    }

    /// A semaphore (Python's `Manager().Semaphore(value)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn semaphore(&self, value: usize) -> Result<SemaphoreProxy, ProcessError> {
        self.proxy(Kind::Semaphore {
            value,
            bounded: false,
        })
    }

    /// A bounded semaphore (Python's `Manager().BoundedSemaphore(value)`): releasing
    /// it above `value` is an error.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn bounded_semaphore(&self, value: usize) -> Result<SemaphoreProxy, ProcessError> {
        self.proxy(Kind::Semaphore {
            value,
            bounded: true,
        })
    }

    /// Serves `value`, a user's own type, in the manager (Python's
    /// `BaseManager.register`): see [`Served`].
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] on a manager reached with
    /// [`connect`](Self::connect): its server may be another program, which cannot run
    /// this program's code; [`ProcessError::Serialization`] when `value` cannot be
    /// encoded; [`ProcessError::Closed`] when the manager is gone.
    pub fn serve<T: Served>(&self, value: T) -> Result<ServedProxy<T>, ProcessError> {
        if self.process.is_none() {
            return Err(ProcessError::InvalidState(
                "only the program that started a manager can serve its own types in it",
            ));
        }
        self.proxy(served::kind_of(&value)?)
    }

    /// A fixed-length array holding `items` (Python's `Manager().Array(typecode,
    /// items)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone;
    /// [`ProcessError::Serialization`] when an item cannot be encoded.
    pub fn array<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>, ProcessError> {
        let items = items
            .into_iter()
            .map(|i| encode(&i))
            .collect::<Result<_, _>>()?;
        self.proxy(Kind::Array(items))
    }

    /// A condition variable with its own re-entrant lock (Python's
    /// `Manager().Condition()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn condition(&self) -> Result<ConditionProxy, ProcessError> {
        self.proxy(Kind::Condition)
    }

    /// A barrier for `parties` participants (Python's `Manager().Barrier(parties)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] for zero parties (Python raises
    /// `ValueError`); [`ProcessError::Closed`] when the manager is gone.
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy, ProcessError> {
        if parties == 0 {
            return Err(ProcessError::InvalidArgument(
                "a barrier needs at least one party".into(),
            ));
        }
        self.proxy(Kind::Barrier(parties))
    }

    /// An event (Python's `Manager().Event()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] when the manager is gone.
    pub fn event(&self) -> Result<EventProxy, ProcessError> {
        self.proxy(Kind::Event)
    }
}

impl Drop for Manager {
    /// Shuts the server down, as Python's manager does when it is collected (a manager
    /// reached with [`connect`](Manager::connect) is left running).
    fn drop(&mut self) {
        if self.process.is_some() {
            let _ = self.shutdown();
        }
    }
}
