//! A message put back from pieces by offset: a QUIC connection's CRYPTO frames, a DTLS
//! ClientHello's handshake fragments. Bounded in the bytes and the number of pieces held, so
//! a flood of tiny or repeated pieces cannot grow it.

/// Pieces held at most.
const MAX_PIECES: usize = 256;

/// Pieces by offset, in arrival order.
#[derive(Default)]
pub(crate) struct Pieces {
    list: Vec<(u64, Vec<u8>)>,
    held: usize,
}

impl Pieces {
    /// Keeps `data` at offset `off`, unless it is empty, repeats a piece already held at that
    /// offset, or would hold more than `max_bytes` bytes or [`MAX_PIECES`] pieces. True if kept.
    pub(crate) fn push(&mut self, off: u64, data: &[u8], max_bytes: usize) -> bool {
        if data.is_empty()
            || self.list.len() >= MAX_PIECES
            || self.held + data.len() > max_bytes
            || self
                .list
                .iter()
                .any(|(o, d)| *o == off && d.len() >= data.len())
        {
            return false;
        }
        self.held += data.len();
        self.list.push((off, data.to_vec()));
        true
    }

    /// The bytes held contiguously from offset 0.
    pub(crate) fn prefix(&mut self) -> Vec<u8> {
        self.list.sort_by_key(|(o, _)| *o);
        let mut out: Vec<u8> = Vec::new();
        for (off, data) in &self.list {
            let Ok(off) = usize::try_from(*off) else {
                break;
            };
            if off > out.len() {
                break;
            }
            if let Some(tail) = data.get(out.len() - off..) {
                out.extend_from_slice(tail);
            }
        }
        out
    }

    /// Forgets every piece.
    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_in_any_order_with_overlaps_give_the_contiguous_prefix() {
        let mut p = Pieces::default();
        assert!(p.push(6, b"ghij", 100));
        assert!(p.push(0, b"abc", 100));
        assert!(p.push(2, b"cdef", 100));
        assert!(!p.push(0, b"ab", 100), "a repeat is not kept");
        assert!(!p.push(20, b"", 100), "nor an empty piece");
        assert_eq!(p.prefix(), b"abcdefghij");
        assert!(p.push(14, b"xy", 100));
        assert_eq!(p.prefix(), b"abcdefghij", "a hole ends the prefix");
        assert!(!p.push(30, &[0; 100], 100), "the byte bound");
        p.clear();
        assert!(p.prefix().is_empty());
    }

    #[test]
    fn the_number_of_pieces_is_bounded() {
        let mut p = Pieces::default();
        let kept = (0..10_000u64).filter(|i| p.push(*i, b"x", 1 << 20)).count();
        assert_eq!(kept, MAX_PIECES);
    }
}
