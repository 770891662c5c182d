//! TCP sequence numbers: 32-bit, wrapping (RFC 9293 §3.4). Never compared as raw `u32`.

use std::fmt;

/// A TCP sequence number. Arithmetic wraps modulo 2^32; ordering is only meaningful
/// between numbers less than 2^31 apart, so it is offered as [`SeqNumber::dist`]
/// rather than `Ord`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self` (positive when `self` is after `other`),
    /// valid when they are less than 2^31 apart.
    #[inline]
    pub fn dist(self, other: SeqNumber) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }

    /// True if `self` comes after `other`.
    #[inline]
    pub fn after(self, other: SeqNumber) -> bool {
        self.dist(other) > 0
    }
}

impl std::ops::Add<u32> for SeqNumber {
    type Output = SeqNumber;
    /// `self + n` modulo 2^32.
    #[inline]
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Maps sequence numbers of one direction to 64-bit stream offsets, unwrapping around
/// 2^32 relative to a moving reference (the reassembly frontier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqSpace {
    /// Sequence number of stream offset 0.
    pub base: SeqNumber,
}

impl SeqSpace {
    /// Offset of `seq`, choosing the unwrapping closest to `reference` (an offset).
    /// May be negative (before offset 0).
    #[inline]
    pub fn offset(&self, seq: SeqNumber, reference: u64) -> i64 {
        let ref_seq = self.base + reference as u32;
        reference as i64 + seq.dist(ref_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraparound_distance_and_order() {
        let a = SeqNumber(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b, SeqNumber(9));
        assert_eq!(b.dist(a), 20);
        assert_eq!(a.dist(b), -20);
        assert!(b.after(a) && !a.after(b));
    }

    #[test]
    fn offsets_unwrap_past_four_gigabytes() {
        let space = SeqSpace {
            base: SeqNumber(4_000_000_000),
        };
        // 5 GB into the stream the sequence number has wrapped once.
        let five_gb: u64 = 5_000_000_000;
        let seq = space.base + five_gb as u32;
        assert_eq!(space.offset(seq, five_gb - 1000), five_gb as i64);
        // A retransmission slightly behind the reference.
        assert_eq!(
            space.offset(seq + 0u32.wrapping_sub(100), five_gb),
            five_gb as i64 - 100
        );
        // Before the start.
        assert_eq!(space.offset(space.base + u32::MAX, 0), -1);
    }
}
