//! `Local<T>`: Python's `threading.local`, one value per thread.
//!
//! Each OS thread keeps a map from `Local` id to its value in a `thread_local!`; the
//! values therefore never cross threads (so `T` need not be `Send`) and are dropped when
//! their thread exits. Dropping the `Local` itself frees only the dropping thread's
//! value at once; other threads' values wait for those threads to exit (Python frees
//! them all when the `local` is freed). Prefer long-lived `Local`s, as with
//! `thread_local!`.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static SLOTS: RefCell<HashMap<u64, Rc<dyn Any>>> = RefCell::new(HashMap::new());
}

type Init<T> = Box<dyn Fn() -> T + Send + Sync>;

/// A value with a separate instance in every thread, like Python's `threading.local()`.
///
/// Each thread sees its own value, created by the initializer on its first access.
/// Values are dropped when their thread exits; dropping the `Local` frees the calling
/// thread's value at once and the other threads' values when those threads exit.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::Local;
///
/// let counter = Arc::new(Local::new(|| 0_u32));
/// counter.with(|c| *c += 10);
/// let other = { let counter = counter.clone(); conc_thread::spawn(move || counter.get()) };
/// assert_eq!(other.join().unwrap(), 0); // the other thread started from scratch
/// assert_eq!(counter.get(), 10);
/// ```
pub struct Local<T: 'static> {
    id: u64,
    init: Init<T>,
}

impl<T: 'static> Local<T> {
    /// A thread-local value created in each thread by `init`.
    ///
    /// # Examples
    ///
    /// ```
    /// let names = conc_thread::Local::new(Vec::<String>::new);
    /// assert!(names.with(|v| v.is_empty()));
    /// ```
    pub fn new<F>(init: F) -> Self
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Local {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            init: Box::new(init),
        }
    }

    /// Runs `f` with mutable access to the calling thread's value.
    ///
    /// # Panics
    ///
    /// If `f` accesses this same `Local` again (a nested borrow), or if called while the
    /// thread's locals are being destroyed at thread exit.
    ///
    /// # Examples
    ///
    /// ```
    /// let total = conc_thread::Local::new(|| 0);
    /// total.with(|t| *t += 5);
    /// assert_eq!(total.with(|t| *t), 5);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let cell = self.cell();
        let mut value = cell.borrow_mut();
        f(&mut value)
    }

    /// A copy of the calling thread's value.
    ///
    /// # Panics
    ///
    /// As for [`with`](Local::with).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = conc_thread::Local::new(|| String::from("unset"));
    /// assert_eq!(name.get(), "unset");
    /// ```
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.with(|v| v.clone())
    }

    /// Replaces the calling thread's value, returning the old one.
    ///
    /// # Panics
    ///
    /// As for [`with`](Local::with).
    ///
    /// # Examples
    ///
    /// ```
    /// let n = conc_thread::Local::new(|| 1);
    /// assert_eq!(n.set(2), 1);
    /// assert_eq!(n.get(), 2);
    /// ```
    pub fn set(&self, value: T) -> T {
        self.with(|v| std::mem::replace(v, value))
    }

    fn cell(&self) -> Rc<RefCell<T>> {
        let existing = SLOTS.with(|slots| slots.borrow().get(&self.id).cloned());
        let slot = match existing {
            Some(slot) => slot,
            None => {
                // Run the initializer outside the map borrow: it may use other Locals.
                let fresh: Rc<dyn Any> = Rc::new(RefCell::new((self.init)()));
                SLOTS.with(|slots| slots.borrow_mut().entry(self.id).or_insert(fresh).clone())
            }
        };
        match slot.downcast::<RefCell<T>>() {
            Ok(cell) => cell,
            Err(_) => unreachable!("each Local id is only ever stored with its own type"),
        }
    }
}

impl<T: 'static> Drop for Local<T> {
    fn drop(&mut self) {
        // Only this thread's value can be reached; other threads drop theirs at exit.
        let _ = SLOTS.try_with(|slots| {
            if let Ok(mut slots) = slots.try_borrow_mut() {
                slots.remove(&self.id);
            }
        });
    }
}

impl<T: 'static> std::fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("id", &self.id).finish()
    }
}
