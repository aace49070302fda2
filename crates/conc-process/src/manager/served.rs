//! A user's own type served by a manager (Python's `BaseManager.register`), typed on
//! both ends: the type says which calls it takes and what it answers; the server runs
//! them on its one copy of the value.
//!
//! The server finds the type's code the way a spawned child finds its function (see
//! `bootstrap`): by offsets of two monomorphised entries, `init::<T>` and `call::<T>`.
//! That is only sound in a server that runs this very program, so only the program
//! that started a manager may create served objects; any process may call them.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::protocol::{Bytes, Failure, Kind, Op, Reply};
use super::proxies::{Proxy, SharedObject, sealed};
use super::{decode, encode, unexpected};
use crate::{ProcessError, bootstrap};

/// A type a [`Manager`](crate::Manager) can hold and serve, with the calls it takes
/// (Python's `BaseManager.register(typeid, callable)` with the methods exposed).
///
/// The value lives in the manager's server; [`ServedProxy::call`] sends a
/// [`Call`](Self::Call) there, the server runs [`call`](Self::call) on the value, one
/// call at a time, and the [`Reply`](Self::Reply) comes back.
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use conc_process::{Manager, Served, StartMethod};
///
/// #[derive(Serialize, Deserialize)]
/// struct Counter {
///     hits: u64,
/// }
///
/// #[derive(Serialize, Deserialize)]
/// enum CounterCall {
///     Hit(u64),
///     Read,
/// }
///
/// impl Served for Counter {
///     type Call = CounterCall;
///     type Reply = u64;
///     fn call(&mut self, call: CounterCall) -> u64 {
///         if let CounterCall::Hit(n) = call {
///             self.hits += n;
///         }
///         self.hits
///     }
/// }
///
/// let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
/// let counter = manager.serve(Counter { hits: 0 }).unwrap();
/// counter.call(&CounterCall::Hit(2)).unwrap();
/// assert_eq!(counter.call(&CounterCall::Read).unwrap(), 2);
/// ```
pub trait Served: Serialize + DeserializeOwned + Send + 'static {
    /// What a proxy asks.
    type Call: Serialize + DeserializeOwned;
    /// What the server answers.
    type Reply: Serialize + DeserializeOwned;

    /// Runs one call on the served value, in the manager's server.
    fn call(&mut self, call: Self::Call) -> Self::Reply;
}

/// The served value, as the server holds it.
pub(crate) type State = Box<dyn Any + Send>;

/// `init::<T>` once its type is erased: the first state from its bytes.
type InitEntry = fn(&[u8]) -> Result<State, String>;
/// `call::<T>` once its type is erased: a call's bytes in, the reply's bytes out.
type CallEntry = fn(&mut State, &[u8]) -> Result<Bytes, Failure>;

fn init<T: Served>(bytes: &[u8]) -> Result<State, String> {
    decode::<T>(bytes)
        .map(|value| Box::new(value) as State)
        .map_err(|e| e.to_string())
}

fn call<T: Served>(state: &mut State, bytes: &[u8]) -> Result<Bytes, Failure> {
    let value = state.downcast_mut::<T>().ok_or(Failure::NoSuchObject)?;
    let request = decode::<T::Call>(bytes).map_err(|e| Failure::Invalid(e.to_string()))?;
    let reply = catch_unwind(AssertUnwindSafe(|| value.call(request)))
        .map_err(|payload| Failure::Panicked(conc_thread::panic_message(&*payload)))?;
    encode(&reply).map_err(|e| Failure::Invalid(e.to_string()))
}

/// The object a manager creates for `value`.
///
/// # Errors
///
/// [`ProcessError::Serialization`] when the value cannot be encoded;
/// [`ProcessError::InvalidArgument`] when `T`'s code is in a dynamic library.
pub(crate) fn kind_of<T: Served>(value: &T) -> Result<Kind, ProcessError> {
    let init = init::<T> as InitEntry as usize;
    let call = call::<T> as CallEntry as usize;
    if !bootstrap::in_main_image(&[init, call]) {
        return Err(ProcessError::InvalidArgument(
            "the served type's code lives in a dynamic library, where the manager's \
             server cannot find it"
                .into(),
        ));
    }
    Ok(Kind::Served {
        init: bootstrap::code_offset(init),
        call: bootstrap::code_offset(call),
        state: encode(value)?,
    })
}

/// A served object, in the server.
pub(crate) struct ServedObject {
    state: State,
    call: CallEntry,
}

impl ServedObject {
    /// Builds the object from its kind's parts.
    pub(crate) fn new(init: isize, call: isize, state: &[u8]) -> Result<Self, String> {
        // SAFETY: `init` and `call` are offsets of `init::<T>` and `call::<T>` of this
        // program image, computed by `kind_of::<T>` in the program that started this
        // server (a copy or a re-execution of the same image, see `bootstrap`); once
        // erased they have the `InitEntry` and `CallEntry` signatures.
        let (init, call) = unsafe {
            (
                std::mem::transmute::<usize, InitEntry>(bootstrap::code_addr(init)),
                std::mem::transmute::<usize, CallEntry>(bootstrap::code_addr(call)),
            )
        };
        Ok(ServedObject {
            state: init(state)?,
            call,
        })
    }

    /// Runs one call.
    pub(crate) fn call(&mut self, request: &[u8]) -> Reply {
        match (self.call)(&mut self.state, request) {
            Ok(bytes) => Reply::Value(Some(bytes)),
            Err(failure) => Reply::Failed(failure),
        }
    }
}

/// A proxy of a user's [`Served`] value in a [`Manager`](crate::Manager), made by
/// [`Manager::serve`](crate::Manager::serve).
///
/// # Examples
///
/// See [`Served`].
pub struct ServedProxy<T> {
    proxy: Proxy,
    types: PhantomData<fn() -> T>,
}

impl<T: Served> ServedProxy<T> {
    /// Runs `call` on the served value and returns its reply.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Panicked`] when the value's `call` panicked in the server (the
    /// value stays served, possibly half-updated); [`ProcessError::Closed`] once the
    /// manager is gone; [`ProcessError::InvalidArgument`] when the server cannot
    /// decode the call (a proxy typed differently from the served value).
    pub fn call(&self, call: &T::Call) -> Result<T::Reply, ProcessError> {
        let request = Op::Serve(encode(call)?);
        match self.proxy.call_raw(request)? {
            Reply::Value(Some(bytes)) => decode(&bytes),
            other => Err(unexpected(&other)),
        }
    }
}

impl<T> Clone for ServedProxy<T> {
    fn clone(&self) -> Self {
        ServedProxy {
            proxy: self.proxy.clone(),
            types: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ServedProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServedProxy({:?})", self.proxy)
    }
}

impl<T> Serialize for ServedProxy<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.proxy.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for ServedProxy<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ServedProxy {
            proxy: Proxy::deserialize(d)?,
            types: PhantomData,
        })
    }
}

impl<T> From<Proxy> for ServedProxy<T> {
    fn from(proxy: Proxy) -> Self {
        ServedProxy {
            proxy,
            types: PhantomData,
        }
    }
}

// Sealed: `Proxied` cannot be named outside this crate, so `Proxy` stays private.
#[allow(private_interfaces)]
impl<T> sealed::Proxied for ServedProxy<T> {
    const KIND: &'static str = "served";

    fn untyped(&self) -> &Proxy {
        &self.proxy
    }

    fn typed(proxy: Proxy) -> Self {
        ServedProxy {
            proxy,
            types: PhantomData,
        }
    }
}

impl<T> SharedObject for ServedProxy<T> {}
