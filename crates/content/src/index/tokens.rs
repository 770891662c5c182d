//! Tokens and content windows: the runs of letters and digits keys are found in (64 bytes
//! classified at a time), the rolling hash of content anchors, and the carry that lets a key
//! straddle two segments of a stream.

/// ASCII letters and digits, the bytes tokens are made of.
pub(super) static ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    t
};

/// Bit `i` of the result: byte `i` of the 64 bytes `b` is an ASCII letter or digit. Eight bytes
/// at a time, with carry-free byte arithmetic on `u64` words.
pub(super) fn alnum_bits(b: &[u8; 64]) -> u64 {
    const H: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // High bit of each byte of the result: that byte of `x` (below 0x80) is at least `n`.
    let ge = |x: u64, n: u8| ((x | H).wrapping_sub(ONES * u64::from(n))) & H;
    let mut bits = 0u64;
    for (k, c) in b.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        let ascii = !x & H;
        let digit = ge(x, b'0') & !ge(x, b'9' + 1);
        let upper = ge(x, b'A') & !ge(x, b'Z' + 1);
        let lower = ge(x, b'a') & !ge(x, b'z' + 1);
        let m = (digit | upper | lower) & ascii;
        // The eight high bits, gathered into one byte (bit j = byte j).
        let byte = ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        bits |= byte << (8 * k);
    }
    bits
}

/// Calls `f(start, end)` for every maximal run of ASCII letters and digits in `hay`, in order:
/// 64 bytes are classified at a time and runs are found from their bit masks.
pub(super) fn for_each_token(hay: &[u8], mut f: impl FnMut(usize, usize)) {
    /// The runs of one block: `bits` (bits from `len` on are clear), the block at `base`;
    /// `start` is the start of a run still open.
    fn block(
        bits: u64,
        len: usize,
        base: usize,
        start: &mut Option<usize>,
        f: &mut impl FnMut(usize, usize),
    ) {
        let mut at = 0usize;
        while at < len {
            let above = !0u64 << at;
            match *start {
                None => {
                    let set = bits & above;
                    if set == 0 {
                        return;
                    }
                    let z = set.trailing_zeros() as usize;
                    *start = Some(base + z);
                    at = z;
                }
                Some(s) => {
                    let clear = !bits & above;
                    let e = if clear == 0 {
                        64
                    } else {
                        clear.trailing_zeros() as usize
                    };
                    if e >= len {
                        // The run goes on into the next block (or to the end of `hay`).
                        return;
                    }
                    f(s, base + e);
                    *start = None;
                    at = e;
                }
            }
        }
    }
    let mut start: Option<usize> = None;
    let mut base = 0;
    let mut blocks = hay.chunks_exact(64);
    let mut w = [0u8; 64];
    for b in &mut blocks {
        w.copy_from_slice(b);
        block(alnum_bits(&w), 64, base, &mut start, &mut f);
        base += 64;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        w = [0u8; 64];
        w[..tail.len()].copy_from_slice(tail);
        let bits = alnum_bits(&w) & ((1u64 << tail.len()) - 1);
        block(bits, tail.len(), base, &mut start, &mut f);
    }
    if let Some(s) = start {
        f(s, hay.len());
    }
}

/// Bytes of the window a content anchor is the hash of.
pub const ANCHOR: usize = 16;
/// Rows that may share one anchor window before a row takes a later window of its own.
pub(super) const ANCHOR_SHARE: usize = 4;
/// Multiplier of the rolling window hash.
pub(super) const ROLL_B: u64 = 0x100_0000_01B3;

/// The rolling hash of the last [`ANCHOR`] bytes (a polynomial over the window, so equal
/// windows hash alike wherever they are).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Roll(u64);

impl Roll {
    /// `B^ANCHOR`, to take the byte leaving the window out.
    const OUT: u64 = {
        let mut x = 1u64;
        let mut i = 0;
        while i < ANCHOR {
            x = x.wrapping_mul(ROLL_B);
            i += 1;
        }
        x
    };

    /// Adds byte `b`; `out` is the byte leaving the window (0 while it fills).
    pub(crate) fn push(&mut self, b: u8, out: u8) {
        self.0 = self
            .0
            .wrapping_mul(ROLL_B)
            .wrapping_add(u64::from(b))
            .wrapping_sub(u64::from(out).wrapping_mul(Self::OUT));
    }

    /// The window's hash, mixed so that every bit depends on every byte.
    pub(crate) fn hash(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The anchor hash of a window of exactly [`ANCHOR`] bytes.
pub(super) fn window_hash(w: &[u8]) -> u64 {
    let mut r = Roll::default();
    for &b in w {
        r.push(b, 0);
    }
    r.hash()
}

/// Where a key scan of a stream stands between two segments
/// ([`RecoveredIndex::keys_in_stream`]).
#[derive(Debug, Clone, Default)]
pub struct KeyCarry {
    /// The token the last segment ended in (at most one byte longer than the longest key:
    /// longer tokens never match), or for keys of any bytes, the last segment's last bytes.
    pub(super) tail: Vec<u8>,
    /// The token at the start of the next segment began in bytes that are missing.
    pub(super) unknown: bool,
}

impl KeyCarry {
    /// Bytes are missing before the next segment: a token running into it is not whole.
    pub fn gap(&mut self) {
        self.tail.clear();
        self.unknown = true;
    }

    pub(super) fn push(&mut self, b: &[u8], longest: usize) {
        let room = (longest + 1).saturating_sub(self.tail.len());
        self.tail.extend_from_slice(&b[..b.len().min(room)]);
    }
}
