//! A greenlet's closure is kept inline when it fits in a word and boxed otherwise: every
//! shape of capture runs once, with its value intact, and is dropped exactly once
//! whether the greenlet ran or never started.

use std::rc::Rc;

use conc_coro::Greenlet;

#[repr(align(64))]
#[derive(Clone, Copy)]
struct OverAligned(u64);

#[test]
fn captures_of_every_size_and_alignment_arrive_intact() {
    let nothing = Greenlet::new(|x: u8| x + 1);
    assert_eq!(nothing.switch_as::<u8, _>(1u8), Ok(2));

    let word = 0xDEAD_BEEF_u64;
    let one_word = Greenlet::new(move |x: u64| x + word);
    assert_eq!(one_word.switch_as::<u64, _>(1u64), Ok(0xDEAD_BEF0));

    let big = [3u8; 1024];
    let large = Greenlet::new(move |x: usize| big.iter().map(|&b| b as usize).sum::<usize>() + x);
    assert_eq!(large.switch_as::<usize, _>(1usize), Ok(3073));

    let aligned = OverAligned(41);
    let over_aligned = Greenlet::new(move |()| {
        assert_eq!((&aligned as *const OverAligned as usize) % 64, 0);
        aligned.0 + 1
    });
    assert_eq!(over_aligned.switch_as::<u64, _>(()), Ok(42));
}

#[test]
fn a_capture_is_dropped_once_whether_the_greenlet_ran_or_not() {
    let shared = Rc::new(());
    let never_started = {
        let held = shared.clone();
        Greenlet::new(move |()| drop(held))
    };
    assert_eq!(Rc::strong_count(&shared), 2);
    drop(never_started);
    assert_eq!(
        Rc::strong_count(&shared),
        1,
        "an unstarted greenlet's capture leaked"
    );

    let held = shared.clone();
    let ran = Greenlet::new(move |()| Rc::strong_count(&held));
    assert_eq!(ran.switch_as::<usize, _>(()), Ok(2));
    assert_eq!(
        Rc::strong_count(&shared),
        1,
        "a finished greenlet's capture leaked"
    );
    drop(ran);
    assert_eq!(Rc::strong_count(&shared), 1);

    // Two words (not inline): the same holds for a boxed capture.
    let (a, b) = (shared.clone(), shared.clone());
    let boxed = Greenlet::new(move |()| drop((a, b)));
    assert_eq!(Rc::strong_count(&shared), 3);
    drop(boxed);
    assert_eq!(Rc::strong_count(&shared), 1);
}
