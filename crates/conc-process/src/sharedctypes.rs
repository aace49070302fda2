//! `Value` and `Array`: Python's `multiprocessing.Value` and `multiprocessing.Array`
//! (from `multiprocessing.sharedctypes`), plain data in shared memory, each with a
//! process-shared [`Lock`].
//!
//! The data lives in its own segment: a small header (length, element size) followed by
//! the elements. Access goes through the lock: [`Value::get`]/[`Value::set`] lock for one
//! read or write, and [`Value::lock`] returns a guard giving `&mut T` while the lock is
//! held, so `*value.lock()? += 1` is the safe increment (Python's `with v.get_lock():
//! v.value += 1`).

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::ProcessError;
use crate::shm::{ShmBox, ShmLayout};
use crate::sync::{Lock, LockResult, OwnerDiedError};

/// Plain old data that may live in shared memory: Python's ctypes scalars.
///
/// Implemented for the integers, `f32`, `f64` and `bool`. Shared memory is mapped at
/// different addresses in different processes and may be written by a process that dies
/// half-way, so a type qualifies only if it is meaningful there.
///
/// # Safety
///
/// An implementor must be `Copy` with no pointers, references, file descriptors or other
/// process-local handles inside, and every byte-wise mix of valid values of it must be a
/// valid value (a process killed in the middle of a write can leave such a mix). Integer
/// and float types, `bool`, and `#[repr(C)]` structs or arrays of them qualify.
///
/// # Examples
///
/// ```
/// use conc_process::{Pod, Value};
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
/// // SAFETY: repr(C), two floats: no pointers, any mix of bytes is a valid value.
/// unsafe impl Pod for Point {}
///
/// let p = Value::new(Point { x: 1.0, y: 2.0 });
/// assert_eq!(p.get().unwrap().y, 2.0);
/// ```
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! pod {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number or bool: no pointers, `Copy`, and a byte-wise mix of
        // valid values is valid (any bits for integers and floats; a bool is one byte).
        unsafe impl Pod for $t {}
    )* };
}
pod!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool
);

// SAFETY: an array of `Pod` is `Copy`, pointer-free and byte-mix-valid like its elements.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

#[repr(C)]
pub(crate) struct PodHeader {
    len: AtomicU64,
    elem_size: AtomicU64,
}

// SAFETY: repr(C), two zero-valid atomics, no pointers; unique magic.
unsafe impl ShmLayout for PodHeader {
    const MAGIC: u64 = 0x636f_6e63_506f_6444; // "concPodD"
}

/// The data segment of a `Value` or `Array`: `len` elements of `T` in the tail.
struct PodData<T: Pod> {
    shared: ShmBox<PodHeader>,
    _type: PhantomData<T>,
}

impl<T: Pod> Clone for PodData<T> {
    fn clone(&self) -> Self {
        PodData {
            shared: self.shared.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Pod> PodData<T> {
    fn try_new(values: impl ExactSizeIterator<Item = T>) -> Result<Self, ProcessError> {
        let len = values.len();
        let bytes = len.checked_mul(size_of::<T>()).ok_or_else(|| {
            ProcessError::InvalidArgument("shared array too large for the address space".into())
        })?;
        let shared = ShmBox::try_new(bytes, align_of::<T>(), |h: &PodHeader, tail| {
            h.len.store(len as u64, Relaxed);
            h.elem_size.store(size_of::<T>() as u64, Relaxed);
            let tail = tail.cast::<T>();
            for (i, v) in values.enumerate().take(len) {
                // SAFETY: the tail holds `len` aligned `T`s (ShmBox aligned it to
                // `align_of::<T>()`), and nobody else can see the segment yet.
                unsafe { tail.add(i).write(v) };
            }
            Ok(())
        })?;
        Ok(PodData {
            shared,
            _type: PhantomData,
        })
    }

    /// Validates a segment received from another process.
    fn check(shared: ShmBox<PodHeader>) -> Result<Self, String> {
        let h = shared.get();
        let len = h.len.load(Relaxed) as usize;
        let (tail, tail_len) = shared.tail();
        if h.elem_size.load(Relaxed) != size_of::<T>() as u64
            || len.checked_mul(size_of::<T>()) != Some(tail_len)
            || !(tail as usize).is_multiple_of(align_of::<T>())
        {
            return Err("shared data has another element type or length".into());
        }
        Ok(PodData {
            shared,
            _type: PhantomData,
        })
    }

    fn len(&self) -> usize {
        self.shared.get().len.load(Relaxed) as usize
    }

    fn ptr(&self) -> *mut T {
        self.shared.tail().0.cast()
    }
}

/// The serialized form of `Value` and `Array`: the lock and the data segment.
#[derive(Serialize, Deserialize)]
pub(crate) struct PodRepr {
    lock: Lock,
    data: ShmBox<PodHeader>,
}

/// Takes `lock` for a one-shot access; an `OwnerDied` releases it again and is reported.
///
/// If the calling thread already holds the lock (Python's `with v.get_lock(): v.value +=
/// 1`), the access happens under that hold, as Python's recursive default lock allows,
/// unless a guard of this thread is borrowing the data: then a second access would alias
/// its `&mut`, and is refused.
fn with_lock<R>(lock: &Lock, f: impl FnOnce() -> R) -> Result<R, ProcessError> {
    if lock.is_owned() {
        if lock.is_guarded() {
            return Err(ProcessError::InvalidState(
                "a Value or Array guard of this thread holds the lock: use the guard",
            ));
        }
        return Ok(f());
    }
    match lock.acquire() {
        Ok(()) => {}
        Err(ProcessError::OwnerDied) => {
            lock.release_unchecked()?;
            return Err(ProcessError::OwnerDied);
        }
        Err(err) => return Err(err),
    }
    lock.set_guarded(true);
    let result = f();
    lock.set_guarded(false);
    lock.release_unchecked()?;
    Ok(result)
}

/// A `T` in shared memory with a lock, like Python's `multiprocessing.Value`.
///
/// Clones, `fork`ed copies and copies sent in a message (a process argument or result,
/// a value on a `Connection`) all see the same value.
///
/// # Differences from Python
///
/// * The lock is a [`Lock`], not an `RLock`: the guard hands out `&mut T`, which must not
///   be taken twice. [`get`](Value::get) and [`set`](Value::set) do work while the calling
///   thread holds [`get_lock`](Value::get_lock) (Python's `with v.get_lock(): v.value +=
///   1`), but [`lock`](Value::lock) then deadlocks, as re-acquiring a `Lock` does; and
///   while a [`ValueGuard`] lives, `get`/`set` on the same thread are refused (use the
///   guard).
/// * A dead process that held the lock is reported once, as
///   [`ProcessError::OwnerDied`] from [`get`](Value::get)/[`set`](Value::set) or
///   [`OwnerDiedError`] from [`lock`](Value::lock).
///
/// # Examples
///
/// ```
/// use conc_process::Value;
///
/// let counter = Value::new(0i32); // Python: Value('i', 0)
/// *counter.lock().unwrap() += 1;
/// counter.set(counter.get().unwrap() * 10).unwrap();
/// assert_eq!(counter.get(), Ok(10));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "", into = "PodRepr", try_from = "PodRepr")]
pub struct Value<T: Pod> {
    lock: Lock,
    data: PodData<T>,
}

impl<T: Pod> From<Value<T>> for PodRepr {
    fn from(v: Value<T>) -> Self {
        PodRepr {
            lock: v.lock,
            data: v.data.shared,
        }
    }
}

impl<T: Pod> TryFrom<PodRepr> for Value<T> {
    type Error = String;
    fn try_from(r: PodRepr) -> Result<Self, String> {
        let data = PodData::check(r.data)?;
        if data.len() != 1 {
            return Err("shared data is an Array, not a Value".into());
        }
        Ok(Value { lock: r.lock, data })
    }
}

impl<T: Pod> Value<T> {
    /// A new shared value with its own new lock.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_process::Value::new(2.5f64); // Python: Value('d', 2.5)
    /// assert_eq!(v.get(), Ok(2.5));
    /// ```
    pub fn new(value: T) -> Value<T> {
        Value::try_new(value).unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`new`](Self::new), with a refusal of the OS as an error rather than a panic.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory or the lock cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_process::Value::try_new(7u32).unwrap();
    /// assert_eq!(v.get(), Ok(7));
    /// ```
    pub fn try_new(value: T) -> Result<Value<T>, ProcessError> {
        Ok(Value {
            lock: Lock::try_new()?,
            data: PodData::try_new(std::iter::once(value))?,
        })
    }

    /// A new shared value protected by `lock` (a handle: several values can share one
    /// lock, Python's `Value(..., lock=lock)`).
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::{Lock, Value};
    ///
    /// let lock = Lock::new();
    /// let a = Value::with_lock(1u8, lock.clone());
    /// let b = Value::with_lock(2u8, lock);
    /// assert_eq!(a.get_lock().locked(), b.get_lock().locked());
    /// ```
    pub fn with_lock(value: T, lock: Lock) -> Value<T> {
        Value {
            lock,
            data: PodData::try_new(std::iter::once(value)).unwrap_or_else(|err| panic!("{err}")),
        }
    }

    /// Reads the value under the lock (Python: `v.value`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::OwnerDied`] if a process died holding the lock (reported once;
    /// the lock is free again). Errors of [`Lock::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::Value::new(7u64).get(), Ok(7));
    /// ```
    pub fn get(&self) -> Result<T, ProcessError> {
        // SAFETY: the pointer is valid and aligned (checked at creation/receipt) and the
        // lock, held by `with_lock`, excludes every other access through this crate.
        with_lock(&self.lock, || unsafe { self.data.ptr().read() })
    }

    /// Writes the value under the lock (Python: `v.value = x`).
    ///
    /// # Errors
    ///
    /// As for [`get`](Self::get); the value is not written then.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_process::Value::new(false);
    /// v.set(true).unwrap();
    /// assert_eq!(v.get(), Ok(true));
    /// ```
    pub fn set(&self, value: T) -> Result<(), ProcessError> {
        // SAFETY: as in `get`.
        with_lock(&self.lock, || unsafe { self.data.ptr().write(value) })
    }

    /// Acquires the lock and returns a guard giving `&mut T` until it is dropped
    /// (Python: `with v.get_lock(): ...v.value...`).
    ///
    /// # Errors
    ///
    /// [`OwnerDiedError`] if a process died holding the lock: the guard is inside and the
    /// value is whatever the dead process left (still a valid `T`, see [`Pod`]).
    ///
    /// # Panics
    ///
    /// If the calling thread already holds [`get_lock`](Self::get_lock) (the lock is
    /// not re-entrant: this would deadlock); if the OS reports the mutex unusable.
    ///
    /// # Examples
    ///
    /// ```
    /// fn bump(v: &conc_process::Value<i32>) -> Result<(), conc_process::ProcessError> {
    ///     *v.lock()? += 1;
    ///     Ok(())
    /// }
    /// let v = conc_process::Value::new(41);
    /// bump(&v).unwrap();
    /// assert_eq!(v.get(), Ok(42));
    /// ```
    pub fn lock(&self) -> LockResult<ValueGuard<'_, T>> {
        let died = acquire_guarded(&self.lock);
        let guard = ValueGuard {
            lock: &self.lock,
            ptr: self.data.ptr(),
            _life: PhantomData,
        };
        guard_result(guard, died)
    }

    /// The lock protecting the value (Python: `get_lock()`). Releasing it while a
    /// [`ValueGuard`] holds it is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = conc_process::Value::new(0i16);
    /// let _g = v.get_lock().lock().unwrap();
    /// assert!(v.get_lock().is_owned());
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Reading would need the lock (and could block): show only the lock state.
        f.debug_struct("Value")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

/// `&mut T` access to a [`Value`] while its lock is held; made by [`Value::lock`].
///
/// # Examples
///
/// ```
/// let v = conc_process::Value::new(1u32);
/// let mut g: conc_process::ValueGuard<'_, u32> = v.lock().unwrap();
/// *g *= 3;
/// drop(g);
/// assert_eq!(v.get(), Ok(3));
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Pod> {
    lock: &'a Lock,
    ptr: *mut T,
    /// Borrows the value; the raw pointer also keeps the guard `!Send` (the locking
    /// thread must release).
    _life: PhantomData<&'a mut T>,
}

impl<T: Pod> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held by this thread for the guard's life and cannot be
        // released under it (`Lock::release` refuses while guarded), so no other access
        // through this crate happens; the pointer is valid and aligned.
        unsafe { &*self.ptr }
    }
}

impl<T: Pod> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { &mut *self.ptr }
    }
}

impl<T: Pod> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        release_guarded(self.lock);
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}

/// A fixed-length array of `T` in shared memory with a lock, like Python's
/// `multiprocessing.Array`.
///
/// # Differences from Python
///
/// As for [`Value`]: a [`Lock`] rather than an `RLock`, owner death reported once.
///
/// # Examples
///
/// ```
/// use conc_process::Array;
///
/// let a = Array::new(&[1.0f64, 2.0, 3.0]); // Python: Array('d', [1.0, 2.0, 3.0])
/// a.lock().unwrap()[0] = 10.0;
/// assert_eq!(a.to_vec(), Ok(vec![10.0, 2.0, 3.0]));
/// assert_eq!(a.len(), 3);
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "", into = "PodRepr", try_from = "PodRepr")]
pub struct Array<T: Pod> {
    lock: Lock,
    data: PodData<T>,
}

impl<T: Pod> From<Array<T>> for PodRepr {
    fn from(a: Array<T>) -> Self {
        PodRepr {
            lock: a.lock,
            data: a.data.shared,
        }
    }
}

impl<T: Pod> TryFrom<PodRepr> for Array<T> {
    type Error = String;
    fn try_from(r: PodRepr) -> Result<Self, String> {
        Ok(Array {
            lock: r.lock,
            data: PodData::check(r.data)?,
        })
    }
}

impl<T: Pod> Array<T> {
    /// A shared array holding a copy of `values`, with its own new lock.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory or a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::new(&[1u8, 2, 3]);
    /// assert_eq!(a.get(1), Ok(2));
    /// ```
    pub fn new(values: &[T]) -> Array<T> {
        Array::try_new(values).unwrap_or_else(|err| panic!("{err}"))
    }

    /// As [`new`](Self::new), with a refusal of the OS as an error rather than a panic.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory or the lock cannot be made;
    /// [`ProcessError::InvalidArgument`] if the elements do not fit in the address space.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::try_new(&[1u16, 2]).unwrap();
    /// assert_eq!(a.to_vec(), Ok(vec![1, 2]));
    /// ```
    pub fn try_new(values: &[T]) -> Result<Array<T>, ProcessError> {
        Ok(Array {
            lock: Lock::try_new()?,
            data: PodData::try_new(values.iter().copied())?,
        })
    }

    /// A shared array of `len` copies of `value` (Python: `Array('i', 10)` is
    /// `Array::filled(0, 10)`).
    ///
    /// # Panics
    ///
    /// As for [`new`](Self::new), and if `len` elements do not fit in memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::filled(0i32, 4);
    /// assert_eq!(a.to_vec(), Ok(vec![0; 4]));
    /// ```
    pub fn filled(value: T, len: usize) -> Array<T> {
        Array {
            lock: Lock::new(),
            data: PodData::try_new(std::iter::repeat_n(value, len))
                .unwrap_or_else(|err| panic!("{err}")),
        }
    }

    /// A shared array holding a copy of `values`, protected by `lock`.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create shared memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::with_lock(&[1i64], conc_process::Lock::new());
    /// assert_eq!(a.len(), 1);
    /// ```
    pub fn with_lock(values: &[T], lock: Lock) -> Array<T> {
        Array {
            lock,
            data: PodData::try_new(values.iter().copied()).unwrap_or_else(|err| panic!("{err}")),
        }
    }

    /// The number of elements (fixed; no lock needed).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conc_process::Array::filled(0u8, 5).len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array has no elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_process::Array::<u8>::new(&[]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads element `index` under the lock (Python: `a[i]`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] if `index` is out of range (Python:
    /// `IndexError`); as for [`Value::get`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::new(&[5u16, 6]);
    /// assert_eq!(a.get(1), Ok(6));
    /// assert!(a.get(2).is_err());
    /// ```
    pub fn get(&self, index: usize) -> Result<T, ProcessError> {
        self.check_index(index)?;
        // SAFETY: `index < len`; the lock excludes other access through this crate.
        with_lock(&self.lock, || unsafe { self.data.ptr().add(index).read() })
    }

    /// Writes element `index` under the lock (Python: `a[i] = x`).
    ///
    /// # Errors
    ///
    /// As for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::new(&[0u16, 0]);
    /// a.set(1, 9).unwrap();
    /// assert_eq!(a.to_vec(), Ok(vec![0, 9]));
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<(), ProcessError> {
        self.check_index(index)?;
        // SAFETY: as in `get`.
        with_lock(&self.lock, || unsafe {
            self.data.ptr().add(index).write(value)
        })
    }

    fn check_index(&self, index: usize) -> Result<(), ProcessError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(ProcessError::InvalidArgument(format!(
                "index {index} out of range for an array of length {}",
                self.len()
            )))
        }
    }

    /// Copies the whole array under the lock (Python: `a[:]`).
    ///
    /// # Errors
    ///
    /// As for [`Value::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::new(&[true, false]);
    /// assert_eq!(a.to_vec(), Ok(vec![true, false]));
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>, ProcessError> {
        // SAFETY: `len` valid, aligned elements; the lock excludes other access.
        with_lock(&self.lock, || unsafe {
            std::slice::from_raw_parts(self.data.ptr(), self.len()).to_vec()
        })
    }

    /// Acquires the lock and returns a guard giving `&mut [T]` until it is dropped.
    ///
    /// # Errors
    ///
    /// [`OwnerDiedError`] if a process died holding the lock: the guard is inside and the
    /// elements are whatever the dead process left.
    ///
    /// # Panics
    ///
    /// If the calling thread already holds [`get_lock`](Self::get_lock) (the lock is
    /// not re-entrant: this would deadlock); if the OS reports the mutex unusable.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::new(&[3, 1, 2]);
    /// a.lock().unwrap().sort();
    /// assert_eq!(a.to_vec(), Ok(vec![1, 2, 3]));
    /// ```
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        let died = acquire_guarded(&self.lock);
        let guard = ArrayGuard {
            lock: &self.lock,
            ptr: self.data.ptr(),
            len: self.len(),
            _life: PhantomData,
        };
        guard_result(guard, died)
    }

    /// The lock protecting the array (Python: `get_lock()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = conc_process::Array::new(&[0u8]);
    /// assert!(!a.get_lock().locked());
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.len())
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

/// `&mut [T]` access to an [`Array`] while its lock is held; made by [`Array::lock`].
///
/// # Examples
///
/// ```
/// let a = conc_process::Array::new(&[1, 2]);
/// let mut g: conc_process::ArrayGuard<'_, i32> = a.lock().unwrap();
/// g[1] = 5;
/// assert_eq!(&*g, &[1, 5]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Pod> {
    lock: &'a Lock,
    ptr: *mut T,
    len: usize,
    _life: PhantomData<&'a mut [T]>,
}

impl<T: Pod> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: as for `ValueGuard::deref`; `len` elements are valid and aligned (a
        // dangling-but-aligned pointer is fine for `len == 0`: the tail pointer is
        // always inside or just past the mapping and aligned).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Pod> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: Pod> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        release_guarded(self.lock);
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ArrayGuard").field(&&**self).finish()
    }
}

/// Takes `lock` for a `Value`/`Array` guard; `true` when its previous owner died (the
/// guard is then handed out inside an [`OwnerDiedError`]).
fn acquire_guarded(lock: &Lock) -> bool {
    assert_not_held(lock);
    let died = match lock.acquire() {
        Ok(()) => false,
        Err(ProcessError::OwnerDied) => true,
        Err(err) => panic!("process-shared lock unusable: {err}"),
    };
    lock.set_guarded(true);
    died
}

/// What `lock()` returns for a guard made after [`acquire_guarded`].
fn guard_result<G>(guard: G, died: bool) -> LockResult<G> {
    if died {
        Err(OwnerDiedError::new(guard))
    } else {
        Ok(guard)
    }
}

/// Undoes [`acquire_guarded`] when a guard is dropped.
fn release_guarded(lock: &Lock) {
    lock.set_guarded(false);
    let _ = lock.release_unchecked();
}

/// A programmer error caught instead of a silent self-deadlock: `lock()` while the same
/// thread holds `get_lock()`.
#[track_caller]
fn assert_not_held(lock: &Lock) {
    assert!(
        !lock.is_owned(),
        "lock() called while this thread holds get_lock(): the lock is not re-entrant; \
         use get()/set() under get_lock(), or drop it first"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A received `Value` of the wrong element type is refused, not misread.
    #[test]
    fn value_of_another_type_is_refused() {
        let v = Value::new(1u8);
        let (tx, rx) = crate::ipc::channel::<Value<u8>>().unwrap();
        tx.send(v).unwrap();
        let mut rx = crate::ipc::Receiver::<Value<u64>>::from_fd(rx.into_fd());
        assert!(rx.recv().is_err());
    }
}
