//! `Value`: what greenlets pass each other, carried inline when it is small.
//!
//! ```text
//!   Value (16 bytes on 64-bit targets: two registers)
//!   ┌──────────────┬──────────────────┐
//!   │ &'static Kind│ 8 bytes: the T   │  a T of at most 8 bytes (align <= 8) sits here;
//!   └──────────────┴──────────────────┘  a larger T sits in a Box whose pointer sits here
//!     └─▶ Kind { type_id, type_name, drop, special }: one per type, in static memory
//! ```
//!
//! A switch of a `u64`, a pointer, a `(u32, u32)` or `()` therefore allocates nothing,
//! and the whole `Value` is a pair of machine words that travels through a switch in
//! registers. (A 16-byte inline slot was tried first: the three-word `Value`, and every
//! message containing it, then went through memory on each hand-over, and copying
//! those aggregates cost more than the whole rest of the switch.) The receiver's type
//! check compares the `TypeId` stored in the `Kind` with a constant: not the `Kind`'s
//! address, since the same type's `Kind` exists once per codegen unit, and a sender
//! and a receiver in different units (the common case) would fail that test first.
//!
//! The runtime's own messages (an error, a kill) are `Value`s of two private kinds
//! (`special` set), so a message is one `Value` too.

use std::any::{Any, TypeId, type_name};
use std::marker::PhantomData;
use std::mem::{MaybeUninit, align_of, size_of};
use std::ptr;

use crate::GreenletError;

/// Bytes a value may occupy to travel inline.
const INLINE: usize = size_of::<usize>();

/// One machine word: `MaybeUninit<usize>` keeps the scalar layout that lets a `Value`
/// be passed in two registers.
type Storage = MaybeUninit<usize>;

/// What a `Value` knows about the type it holds.
pub(crate) struct Kind {
    type_id: TypeId,
    type_name: fn() -> &'static str,
    /// Drops the stored value in place; `None` for types without drop glue.
    drop: Option<unsafe fn(*mut Storage)>,
    /// Zero for user values; the runtime's message kinds set it (see `node::Msg`).
    pub(crate) special: u8,
}

/// Whether a `T` travels in the storage itself rather than in a box.
const fn fits<T>() -> bool {
    size_of::<T>() <= INLINE && align_of::<T>() <= align_of::<Storage>()
}

struct KindOf<T>(PhantomData<T>);

impl<T: Any> KindOf<T> {
    const KIND: Kind = Kind::of::<T>(0);
}

impl Kind {
    /// The kind of `T`, with `special` as given.
    pub(crate) const fn of<T: Any>(special: u8) -> Kind {
        Kind {
            type_id: TypeId::of::<T>(),
            type_name: type_name::<T>,
            drop: if !std::mem::needs_drop::<T>() && fits::<T>() {
                None
            } else {
                Some(drop_stored::<T>)
            },
            special,
        }
    }
}

/// # Safety
///
/// `storage` holds a live `T` as [`Value::new`] stored it (inline or boxed).
unsafe fn drop_stored<T>(storage: *mut Storage) {
    if fits::<T>() {
        // SAFETY: per the contract, the storage holds an inline `T`.
        unsafe { ptr::drop_in_place(storage.cast::<T>()) }
    } else {
        // SAFETY: per the contract, the storage holds the pointer of a `Box<T>`.
        drop(unsafe { Box::from_raw(storage.cast::<*mut T>().read()) })
    }
}

/// A value passed by [`switch`](crate::Greenlet::switch): any `'static` type, taken out
/// with [`downcast`](Value::downcast).
///
/// Greenlets switch to one another freely, so the type arriving at a `switch` depends
/// on which greenlet switched last; a generic `Greenlet<In, Out>` could not express
/// that. So values travel type-erased and the receiving side names the type it
/// expects, getting [`GreenletError::WrongType`] if the sender disagreed. For the
/// common case, [`Greenlet::switch_as`](crate::Greenlet::switch_as) does both steps.
///
/// Values of at most 8 bytes (with an alignment of at most 8: integers, floats,
/// pointers, references, `Rc`, `Box`, small tuples) are carried inline, so switching
/// them allocates nothing; larger ones are boxed. A `Value` passed to
/// [`Value::new`] or to `switch` is forwarded as it is, not wrapped again.
///
/// `Value` is neither `Send` nor `Sync`: it may hold any type, and greenlets never
/// leave their thread.
///
/// # Examples
///
/// ```
/// use conc_coro::Value;
///
/// let v = Value::new(5_u32);
/// assert!(v.is::<u32>());
/// assert_eq!(v.downcast::<u32>(), Ok(5));
/// ```
pub struct Value {
    kind: &'static Kind,
    storage: Storage,
    /// The stored value may be `!Send`/`!Sync`.
    _not_send: PhantomData<*const ()>,
}

impl Value {
    /// Wraps `value`: inline if it is small, boxed otherwise. A `Value` is returned
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_coro::Value::new("text");
    /// assert!(v.is::<&str>());
    /// let same = conc_coro::Value::new(v); // forwarded, not nested
    /// assert!(same.is::<&str>());
    /// ```
    #[inline]
    pub fn new<T: Any>(value: T) -> Value {
        // Forwarding a received value must not nest it (the receiver asks for the
        // inner type). The check is on a type known at compile time: it folds away.
        let mut slot = Some(value);
        if TypeId::of::<T>() == TypeId::of::<Value>()
            && let Some(v) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Value>>()
        {
            return v.take().expect("the slot was just filled");
        }
        let Some(value) = slot else {
            unreachable!("the slot is emptied only for a `Value`, returned above")
        };
        let mut storage = Storage::uninit();
        if fits::<T>() {
            // SAFETY: `fits` checked that a `T` fits the storage's size and alignment.
            unsafe { storage.as_mut_ptr().cast::<T>().write(value) };
        } else {
            let boxed = Box::into_raw(Box::new(value));
            // SAFETY: a pointer fits the storage (one pointer-aligned word).
            unsafe { storage.as_mut_ptr().cast::<*mut T>().write(boxed) };
        }
        Value {
            kind: &KindOf::<T>::KIND,
            storage,
            _not_send: PhantomData,
        }
    }

    /// A value of one of the runtime's own kinds, holding `T` (see `node::Msg`).
    ///
    /// # Safety
    ///
    /// `kind` is `Kind::of::<T>(_)`.
    pub(crate) unsafe fn with_kind<T: Any>(kind: &'static Kind, value: T) -> Value {
        let mut v = Value::new(value);
        v.kind = kind;
        v
    }

    /// The runtime kind marker (zero for user values).
    #[inline]
    pub(crate) fn special(&self) -> u8 {
        self.kind.special
    }

    /// Takes the `T` out of a value of one of the runtime's kinds.
    ///
    /// # Safety
    ///
    /// The value was made by [`with_kind`](Self::with_kind) with a `T`.
    pub(crate) unsafe fn take_special<T: Any>(self) -> T {
        let this = std::mem::ManuallyDrop::new(self);
        let storage = this.storage.as_ptr();
        // SAFETY: per the contract the value holds a `T`, stored as `fits` says; `this`
        // is never dropped, so the `T` is moved out exactly once.
        unsafe {
            if fits::<T>() {
                storage.cast::<T>().read()
            } else {
                *Box::from_raw(storage.cast::<*mut T>().read())
            }
        }
    }

    /// Whether the value is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_coro::Value::new(1_i64).is::<i32>());
    /// ```
    #[inline]
    pub fn is<T: Any>(&self) -> bool {
        self.kind.type_id == TypeId::of::<T>()
    }

    /// The name of the stored value's type, as [`std::any::type_name`] gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_coro::Value::new(1_u8).type_name(), "u8");
    /// ```
    pub fn type_name(&self) -> &'static str {
        (self.kind.type_name)()
    }

    /// A reference to the `T` inside, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_coro::Value::new(String::from("hi"));
    /// assert_eq!(v.downcast_ref::<String>().map(String::as_str), Some("hi"));
    /// assert!(v.downcast_ref::<u8>().is_none());
    /// ```
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        if !self.is::<T>() {
            return None;
        }
        let storage = self.storage.as_ptr();
        // SAFETY: the value is a `T`, stored inline or boxed as `fits` says.
        Some(unsafe {
            if fits::<T>() {
                &*storage.cast::<T>()
            } else {
                &**storage.cast::<*const T>()
            }
        })
    }

    /// Takes the `T` out.
    ///
    /// # Errors
    ///
    /// [`GreenletError::WrongType`] if the value is not a `T` (the value is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_coro::{GreenletError, Value};
    ///
    /// assert_eq!(Value::new(1_u8).downcast::<u8>(), Ok(1));
    /// assert!(matches!(Value::new(1_u8).downcast::<u16>(), Err(GreenletError::WrongType { .. })));
    /// ```
    #[inline]
    pub fn downcast<T: Any>(self) -> Result<T, GreenletError> {
        self.try_downcast().map_err(|v| GreenletError::WrongType {
            expected: type_name::<T>(),
            found: v.type_name(),
        })
    }

    /// Takes the `T` out, or gives the value back if it is not a `T`.
    ///
    /// # Errors
    ///
    /// The value itself, unchanged, if it is not a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_coro::Value::new(7_i32);
    /// let v = v.try_downcast::<u8>().unwrap_err();
    /// assert_eq!(v.try_downcast::<i32>().ok(), Some(7));
    /// ```
    #[inline]
    pub fn try_downcast<T: Any>(self) -> Result<T, Value> {
        if !self.is::<T>() {
            return Err(self);
        }
        let this = std::mem::ManuallyDrop::new(self);
        let storage = this.storage.as_ptr();
        // SAFETY: the value is a `T`, stored as `fits` says; `this` is never dropped,
        // so the `T` is moved out exactly once.
        Ok(unsafe {
            if fits::<T>() {
                storage.cast::<T>().read()
            } else {
                *Box::from_raw(storage.cast::<*mut T>().read())
            }
        })
    }
}

impl Drop for Value {
    #[inline]
    fn drop(&mut self) {
        if let Some(drop) = self.kind.drop {
            // SAFETY: the storage holds the value `kind` describes, dropped only here.
            unsafe { drop(&mut self.storage) }
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({})", self.type_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn small_values_are_inline_and_large_ones_boxed() {
        assert!(fits::<u64>() && fits::<(u32, u32)>() && fits::<()>() && !fits::<Box<[u8]>>());
        assert!(fits::<&str>() == (size_of::<&str>() <= 8));
        assert!(!fits::<(u64, u64)>());
        assert_eq!(size_of::<Value>(), 2 * size_of::<usize>(), "two registers");
        assert_eq!(
            Value::new([1_u64, 2, 3]).downcast::<[u64; 3]>(),
            Ok([1, 2, 3])
        );
        assert_eq!(
            Value::new((1_u64, 2_u64)).downcast::<(u64, u64)>(),
            Ok((1, 2))
        );
        assert_eq!(Value::new(7_u8).downcast::<u8>(), Ok(7));
    }

    #[test]
    fn drops_run_once_inline_and_boxed() {
        let rc = Rc::new(());
        let inline = Value::new(rc.clone());
        let boxed = Value::new([rc.clone(), rc.clone(), rc.clone()]);
        assert_eq!(Rc::strong_count(&rc), 5);
        drop(inline);
        drop(boxed);
        assert_eq!(Rc::strong_count(&rc), 1);
        let taken = Value::new(rc.clone()).downcast::<Rc<()>>().unwrap();
        assert_eq!(Rc::strong_count(&rc), 2);
        drop(taken);
        let wrong = Value::new(rc.clone()).downcast::<u8>();
        assert!(wrong.is_err());
        assert_eq!(Rc::strong_count(&rc), 1);
    }

    #[test]
    fn wrong_type_names_both_types() {
        match Value::new(1_u8).downcast::<u16>() {
            Err(GreenletError::WrongType { expected, found }) => {
                assert_eq!((expected, found), ("u16", "u8"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn values_are_forwarded_not_nested() {
        let v = Value::new(Value::new(3_u16));
        assert_eq!(v.downcast::<u16>(), Ok(3));
    }
}
