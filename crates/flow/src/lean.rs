//! Per-flow lists that grow one element at a time while they are short.
//!
//! A `Vec`'s first push reserves room for four elements (of up to a kilobyte each). A list
//! held by every live flow — its requests, its reasons, its per-day counters — nearly always
//! has one or two entries, and on captures whose connections are all open at once (hundreds of
//! thousands of them, each lingering after its FIN) the three spare slots were a fifth of the
//! heap. Past four elements, the usual doubling takes over.

/// Pushes `x`, growing `v` by exactly one element while it holds fewer than four.
pub fn push<T>(v: &mut Vec<T>, x: T) {
    let end = v.len();
    insert(v, end, x);
}

/// Inserts `x` at `i` (as [`Vec::insert`]), growing `v` like [`push`].
pub fn insert<T>(v: &mut Vec<T>, i: usize, x: T) {
    if v.len() == v.capacity() && v.capacity() < 4 {
        v.reserve_exact(1);
    }
    v.insert(i, x);
}

#[cfg(test)]
mod tests {
    #[test]
    fn grows_by_one_while_short_then_doubles() {
        let mut v: Vec<u64> = Vec::new();
        let mut caps = Vec::new();
        for i in 0..6 {
            super::push(&mut v, i);
            caps.push(v.capacity());
        }
        assert_eq!(&caps[..4], &[1, 2, 3, 4]);
        assert!(caps[4] >= 8, "{caps:?}");
        assert_eq!(v, [0, 1, 2, 3, 4, 5]);
        let mut w: Vec<u64> = Vec::new();
        super::insert(&mut w, 0, 2);
        super::insert(&mut w, 0, 1);
        super::insert(&mut w, 2, 3);
        assert_eq!((w.as_slice(), w.capacity()), ([1, 2, 3].as_slice(), 3));
    }
}
