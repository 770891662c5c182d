//! What bytes look like before anything is decoded: base64 text, zlib and gzip headers,
//! entropy, text-likeness. Nothing here keeps state.

use crate::base64::b64_value;

/// Fraction of base64 characters (whitespace and padding included) in `s`.
pub(crate) fn base64_like(s: &[u8]) -> bool {
    s.len() >= 16
        && s.iter()
            .all(|&c| b64_value(c).is_some() || matches!(c, b'=' | b'\r' | b'\n'))
}

pub(crate) fn zlib_header(s: &[u8]) -> bool {
    s.len() >= 2
        && s[0] & 0x0f == 8
        && s[0] >> 4 <= 7
        && (u16::from(s[0]) << 8 | u16::from(s[1])) % 31 == 0
}

pub(crate) fn gzip_header(s: &[u8]) -> bool {
    s.starts_with(&[0x1f, 0x8b, 8])
}

/// Shannon entropy of `s` in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut hist = [0u32; 256];
    for &b in s {
        hist[b as usize] += 1;
    }
    let n = s.len() as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Entropy above which a sample is taken as encrypted or compressed. A sample of n random
/// bytes measures about log2(n) − (255 / (2 n ln 2)) bits: 7.6 for 512 bytes, so 7.0 leaves
/// room for short samples while English or CSV text stays under 5.5; under 64 bytes no
/// sample is called high-entropy.
pub(crate) fn high_entropy(s: &[u8]) -> bool {
    let limit = if s.len() >= 256 {
        7.0
    } else if s.len() >= 64 {
        (s.len() as f64).log2() * 0.85
    } else {
        // Too short to tell.
        return false;
    };
    entropy(s) >= limit
}

pub(crate) fn text_like(s: &[u8]) -> bool {
    if s.is_empty() || s.contains(&0) {
        return false;
    }
    let printable = s
        .iter()
        .filter(|&&b| b >= 0x20 || matches!(b, b'\n' | b'\r' | b'\t'))
        .count();
    printable * 100 >= s.len() * 98 && !high_entropy(s)
}
