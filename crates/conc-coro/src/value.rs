//! `Value`: what greenlets pass each other.

use std::any::{Any, type_name};

use crate::GreenletError;

/// A value passed by [`switch`](crate::Greenlet::switch): any `'static` type, taken out
/// with [`downcast`](Value::downcast).
///
/// Greenlets switch to one another freely, so the type arriving at a `switch` depends
/// on which greenlet switched last; a generic `Greenlet<In, Out>` could not express
/// that. So values travel boxed (`Box<dyn Any>`), and the receiving side names the type
/// it expects, getting [`GreenletError::WrongType`] if the sender disagreed. For the
/// common case, [`Greenlet::switch_as`](crate::Greenlet::switch_as) does both steps.
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
pub struct Value(Box<dyn Any>);

impl Value {
    /// Boxes `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_coro::Value::new("text");
    /// assert!(v.is::<&str>());
    /// ```
    pub fn new<T: Any>(value: T) -> Value {
        Value(Box::new(value))
    }

    /// Whether the value is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conc_coro::Value::new(1_i64).is::<i32>());
    /// ```
    pub fn is<T: Any>(&self) -> bool {
        self.0.is::<T>()
    }

    /// Takes the `T` out.
    ///
    /// # Errors
    ///
    /// [`GreenletError::WrongType`] if the value is not a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_coro::{GreenletError, Value};
    ///
    /// assert_eq!(Value::new(1_u8).downcast::<u8>(), Ok(1));
    /// assert!(matches!(Value::new(1_u8).downcast::<u16>(), Err(GreenletError::WrongType { .. })));
    /// ```
    pub fn downcast<T: Any>(self) -> Result<T, GreenletError> {
        self.0
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| GreenletError::WrongType {
                expected: type_name::<T>(),
            })
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Value(..)")
    }
}
