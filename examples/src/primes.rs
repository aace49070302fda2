//! The Python documentation's `ProcessPoolExecutor` example (seed 000): its `PRIMES`
//! list, the answers it prints, and its `is_prime`.

/// The list of the documentation's example.
pub const PRIMES: [u64; 6] = [
    112_272_535_095_293,
    112_582_705_942_171,
    112_272_535_095_293,
    115_280_095_190_773,
    115_797_848_077_099,
    1_099_726_899_285_419,
];

/// What the example prints for each number (1099726899285419 = 3306091 x 332636609).
pub const EXPECTED: [bool; 6] = [true, true, true, true, true, false];

/// The docs' `is_prime`: trial division by odd numbers up to `floor(sqrt(n))`.
///
/// # Examples
///
/// ```
/// use examples::primes::{EXPECTED, PRIMES, is_prime};
///
/// assert!(is_prime(2) && is_prime(999_983) && !is_prime(1) && !is_prime(999_983 * 3));
/// assert_eq!(PRIMES.map(is_prime), EXPECTED);
/// ```
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    (3..=n.isqrt()).step_by(2).all(|i| !n.is_multiple_of(i))
}
