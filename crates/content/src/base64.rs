//! A streaming base64 decoder (standard and URL-safe alphabets, whitespace ignored).

/// A streaming base64 decoder.
#[derive(Debug, Default, Clone)]
pub(crate) struct Base64 {
    acc: u32,
    bits: u8,
    pub(crate) done: bool,
    pub(crate) bad: bool,
}

pub(crate) fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

impl Base64 {
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &c in input {
            if self.bad {
                return;
            }
            match c {
                b'\r' | b'\n' | b' ' | b'\t' => {}
                b'=' => self.done = true,
                _ if self.done => self.bad = true,
                _ => match b64_value(c) {
                    Some(v) => {
                        self.acc = (self.acc << 6) | u32::from(v);
                        self.bits += 6;
                        if self.bits >= 8 {
                            self.bits -= 8;
                            out.push((self.acc >> self.bits) as u8);
                            self.acc &= (1 << self.bits) - 1;
                        }
                    }
                    None => self.bad = true,
                },
            }
        }
    }
}
