//! Splitting an HTTP body into the contents it carries: the parts of `multipart/form-data`
//! and the field values of `application/x-www-form-urlencoded` (percent-decoded). Streaming,
//! with each part's own offsets, so every part is scanned and matched as a content of its
//! own; a capture gap inside a part is passed on as a gap of that part.

/// What the splitter produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEvent {
    /// Content bytes of part `part` at `offset` in that part.
    Data {
        /// Part number (0-based).
        part: u32,
        /// Offset in the part.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Bytes of part `part` missing (a gap), at `offset`.
    Gap {
        /// Part number.
        part: u32,
        /// Offset in the part where the gap starts.
        offset: u64,
        /// Length.
        len: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mp {
    /// Looking for the first delimiter.
    Preamble,
    /// Reading part headers until the blank line.
    Headers,
    /// Inside a part's content.
    Content,
    /// After the closing delimiter, or lost after a gap outside content.
    Done,
}

/// `multipart/*` splitter.
#[derive(Debug, Clone)]
pub struct Multipart {
    delim: Vec<u8>,
    state: Mp,
    buf: Vec<u8>,
    part: u32,
    part_off: u64,
    started: bool,
    /// The structure was lost after a gap outside a part's content.
    pub lost: bool,
}

impl Multipart {
    /// A splitter for `boundary`.
    pub fn new(boundary: &str) -> Self {
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        Multipart {
            delim,
            state: Mp::Preamble,
            // The body starts with the delimiter without its leading CRLF.
            buf: b"\r\n".to_vec(),
            part: 0,
            part_off: 0,
            started: false,
            lost: false,
        }
    }

    /// Body bytes (in order).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<PartEvent>) {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.state {
                Mp::Done => {
                    self.buf.clear();
                    return;
                }
                Mp::Preamble | Mp::Content => {
                    let Some(i) = find(&self.buf, &self.delim) else {
                        // Keep what could be the start of a delimiter.
                        let keep = self.delim.len().saturating_sub(1).min(self.buf.len());
                        let emit = self.buf.len() - keep;
                        if self.state == Mp::Content && emit > 0 {
                            self.data(emit, out);
                        }
                        self.buf.drain(..emit);
                        return;
                    };
                    if self.state == Mp::Content && i > 0 {
                        self.data(i, out);
                    }
                    // Need the two bytes after the delimiter: "--" (end) or CRLF.
                    let after = i + self.delim.len();
                    if self.buf.len() < after + 2 {
                        self.buf.drain(..i);
                        return;
                    }
                    let end = &self.buf[after..after + 2] == b"--";
                    self.buf.drain(..after + 2);
                    if self.started {
                        self.part += 1;
                    }
                    self.part_off = 0;
                    self.started = true;
                    self.state = if end { Mp::Done } else { Mp::Headers };
                }
                Mp::Headers => {
                    let Some(i) = find(&self.buf, b"\r\n\r\n") else {
                        if self.buf.len() > 64 << 10 {
                            self.state = Mp::Done;
                            self.lost = true;
                        }
                        return;
                    };
                    self.buf.drain(..i + 4);
                    self.state = Mp::Content;
                    // A part with empty headers starts with the blank line right away.
                }
            }
        }
    }

    fn data(&mut self, n: usize, out: &mut Vec<PartEvent>) {
        out.push(PartEvent::Data {
            part: self.part,
            offset: self.part_off,
            bytes: self.buf[..n].to_vec(),
        });
        self.part_off += n as u64;
    }

    /// `len` body bytes missing.
    pub fn gap(&mut self, len: u64, out: &mut Vec<PartEvent>) {
        if self.state == Mp::Content {
            let held = self.buf.len();
            if held > 0 {
                self.data(held, out);
                self.buf.clear();
            }
            out.push(PartEvent::Gap {
                part: self.part,
                offset: self.part_off,
                len,
            });
            self.part_off += len;
        } else if self.state != Mp::Done {
            self.state = Mp::Done;
            self.lost = true;
        }
    }

    /// The body ended: what is held of the current part is its last content.
    pub fn finish(&mut self, out: &mut Vec<PartEvent>) {
        if self.state == Mp::Content && !self.buf.is_empty() {
            let n = self.buf.len();
            self.data(n, out);
            self.buf.clear();
        }
    }
}

/// Body bytes looked at before a declared split is believed ([`form_like`],
/// [`multipart_like`]).
pub const LEAD: usize = 64;

/// Whether a body's first bytes (`lead`: [`LEAD`] bytes, or the whole body when shorter)
/// parse as `application/x-www-form-urlencoded`: a field name, `=`, and nothing outside
/// the printable ASCII a form encoder leaves (no space, no line break, no binary). A CSV
/// file, a gzip stream or a base64 blob posted under curl's default form Content-Type is
/// not split into fields.
pub fn form_like(lead: &[u8]) -> bool {
    if lead.is_empty() || !lead.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return false;
    }
    // The first field: a name before `=`, of the characters encoders leave in names; a
    // long run ending in `=` or `==` with nothing after is base64 padding, not a field.
    let Some(i) = lead.iter().position(|&b| b == b'=' || b == b'&') else {
        return false;
    };
    let name = &lead[..i];
    let named = lead[i] == b'='
        && (1..=64).contains(&name.len())
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"_.-[]%*+".contains(&b));
    let padding = name.len() >= 16 && lead[i + 1..].iter().all(|&b| b == b'=');
    named && !padding
}

/// Whether a body's first bytes may be the declared multipart body: not a compressed
/// stream or archive (those are decoded as what they are, the declared type second), and
/// text up to the first delimiter.
pub fn multipart_like(lead: &[u8]) -> bool {
    let compressed = crate::sniff::gzip_header(lead)
        || lead.starts_with(b"PK\x03\x04")
        || (crate::sniff::zlib_header(lead) && !crate::sniff::text_like(lead));
    !compressed && (lead.starts_with(b"--") || crate::sniff::text_like(lead))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `application/x-www-form-urlencoded` splitter: each field value, percent-decoded (`+` is
/// a space), is a part.
#[derive(Debug, Clone, Default)]
pub struct Form {
    in_value: bool,
    pct: Vec<u8>,
    part: u32,
    part_off: u64,
    any: bool,
    /// A gap made the field structure unknown: the rest is ignored.
    pub lost: bool,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl Form {
    /// Body bytes (in order).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<PartEvent>) {
        if self.lost {
            return;
        }
        let mut cur: Vec<u8> = Vec::new();
        for &b in bytes {
            if !self.pct.is_empty() {
                self.pct.push(b);
                if self.pct.len() == 3 {
                    match (hex(self.pct[1]), hex(self.pct[2])) {
                        (Some(h), Some(l)) => cur.push(h << 4 | l),
                        _ => cur.extend_from_slice(&self.pct),
                    }
                    self.pct.clear();
                }
                continue;
            }
            match (b, self.in_value) {
                (b'&', _) => {
                    self.flush(&mut cur, out);
                    if self.in_value {
                        self.part += 1;
                        self.part_off = 0;
                    }
                    self.in_value = false;
                }
                (b'=', false) => {
                    self.in_value = true;
                    self.any = true;
                }
                (_, false) => {}
                (b'+', true) => cur.push(b' '),
                (b'%', true) => self.pct.push(b),
                (_, true) => cur.push(b),
            }
        }
        self.flush(&mut cur, out);
    }

    fn flush(&mut self, cur: &mut Vec<u8>, out: &mut Vec<PartEvent>) {
        if !cur.is_empty() {
            let n = cur.len() as u64;
            out.push(PartEvent::Data {
                part: self.part,
                offset: self.part_off,
                bytes: std::mem::take(cur),
            });
            self.part_off += n;
        }
    }

    /// `len` body bytes missing: decoded lengths are unknown from here on.
    pub fn gap(&mut self, len: u64, out: &mut Vec<PartEvent>) {
        if self.in_value && !self.lost {
            out.push(PartEvent::Gap {
                part: self.part,
                offset: self.part_off,
                len,
            });
        }
        self.lost = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(events: &[PartEvent]) -> Vec<(u32, Vec<u8>)> {
        let mut parts: Vec<(u32, Vec<u8>)> = Vec::new();
        for e in events {
            if let PartEvent::Data {
                part,
                offset,
                bytes,
            } = e
            {
                match parts.iter_mut().find(|(p, _)| p == part) {
                    Some((_, v)) => {
                        assert_eq!(*offset as usize, v.len(), "offsets continue");
                        v.extend_from_slice(bytes);
                    }
                    None => {
                        assert_eq!(*offset, 0);
                        parts.push((*part, bytes.clone()));
                    }
                }
            }
        }
        parts
    }

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n42\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"s.csv\"\r\nContent-Type: text/csv\r\n\r\n1,a\r\n2,b\n--XyZ is not a delimiter here\n\r\n--XyZ--\r\n";

    #[test]
    fn a_declared_form_is_split_only_when_its_bytes_are_a_form() {
        assert!(form_like(b"id=42&file=1%2Ca%0A2%2Cb"));
        assert!(form_like(b"data=SGVsbG8gd29ybGQ="));
        assert!(form_like(b"a="));
        // curl --data-binary @file under the default form Content-Type.
        assert!(!form_like(
            b"member_no,name,card_last4\n400000001,Taro Sato,1234\n"
        ));
        assert!(!form_like(b"400000001,Taro Sato,x=1\n"));
        assert!(!form_like(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
        assert!(!form_like(&[0x78, 0x9c, 0x4b, 0x4c, 0x4a, 0x06, 0x00]));
        // Base64 without a field name; prose; empty.
        assert!(!form_like(b"SGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="));
        assert!(!form_like(b"hello world"));
        assert!(!form_like(b"=value"));
        assert!(!form_like(b"&a=b"));
        assert!(!form_like(b""));
    }

    #[test]
    fn a_declared_multipart_body_is_split_unless_its_bytes_are_a_stream() {
        assert!(multipart_like(BODY));
        assert!(multipart_like(b"preamble text\r\n--XyZ\r\n"));
        assert!(!multipart_like(&[
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0x10
        ]));
        assert!(!multipart_like(b"PK\x03\x04\x14\x00\x00\x00\x08\x00"));
        assert!(!multipart_like(&[
            0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff
        ]));
    }

    #[test]
    fn multipart_parts_at_any_split_with_their_offsets() {
        for n in [1, 2, 3, 5, 7, 11, 64, 1000] {
            let mut m = Multipart::new("XyZ");
            let mut ev = Vec::new();
            for c in BODY.chunks(n) {
                m.feed(c, &mut ev);
            }
            m.finish(&mut ev);
            let parts = collect(&ev);
            assert_eq!(
                parts,
                vec![
                    (0, b"42".to_vec()),
                    (1, b"1,a\r\n2,b\n--XyZ is not a delimiter here\n".to_vec())
                ],
                "split every {n}"
            );
        }
    }

    #[test]
    fn multipart_gap_inside_content_is_a_gap_of_that_part() {
        let mut m = Multipart::new("XyZ");
        let mut ev = Vec::new();
        let cut = BODY.windows(3).position(|w| w == b"2,b").unwrap();
        m.feed(&BODY[..cut], &mut ev);
        m.gap(3, &mut ev);
        m.feed(&BODY[cut + 3..], &mut ev);
        m.finish(&mut ev);
        let gap = ev.iter().find_map(|e| match e {
            PartEvent::Gap { part, offset, len } => Some((*part, *offset, *len)),
            _ => None,
        });
        assert_eq!(gap, Some((1, 5, 3)));
        // The part's bytes after the gap continue at offset 8.
        let after = ev.iter().find_map(|e| match e {
            PartEvent::Data {
                part: 1, offset, ..
            } if *offset >= 8 => Some(*offset),
            _ => None,
        });
        assert_eq!(after, Some(8));
        assert!(!m.lost);
    }

    #[test]
    fn form_fields_are_percent_decoded_parts() {
        let body = b"user=x&data=100000001%2CAlice%2CTokyo%0A100000002%2CBob+Jr%2COsaka%0A&z=1";
        for n in [1, 2, 4, 9, 100] {
            let mut f = Form::default();
            let mut ev = Vec::new();
            for c in body.chunks(n) {
                f.feed(c, &mut ev);
            }
            let parts = collect(&ev);
            assert_eq!(
                parts,
                vec![
                    (0, b"x".to_vec()),
                    (
                        1,
                        b"100000001,Alice,Tokyo\n100000002,Bob Jr,Osaka\n".to_vec()
                    ),
                    (2, b"1".to_vec())
                ],
                "split every {n}"
            );
        }
    }
}
