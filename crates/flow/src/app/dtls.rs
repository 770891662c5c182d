//! DTLS ClientHello (RFC 6347 §4.2, RFC 9147 §5.3): the server_name a client asks for over
//! UDP (WebRTC data channels, VPNs, CAPWAP, malware that prefers datagrams).
//!
//! A DTLS record header is 13 bytes (content type, version 0xfeXX, epoch, 48-bit sequence
//! number, length); a handshake message header 12 (type, length, message_seq,
//! fragment_offset, fragment_length), so one ClientHello may come in fragments over several
//! records and datagrams. The body is TLS's with a cookie after the session id. Fragments are
//! put back by offset; nothing is allocated by a wire length beyond [`MAX_HELLO`].

use super::tls::{dtls_hello_body, ClientHello};

/// A ClientHello longer than this is not read (bytes of handshake body).
const MAX_HELLO: usize = 64 << 10;

/// The record header of a DTLS handshake record in epoch 0 (the ClientHello's): content type
/// 22, version 1.0 (0xfeff) or 1.2 (0xfefd, also what DTLS 1.3 writes), epoch 0, and the
/// record's body.
fn handshake_record(d: &[u8]) -> Option<(&[u8], usize)> {
    match d {
        [22, 0xfe, 0xff | 0xfd, 0, 0, _, _, _, _, _, _, l1, l2, rest @ ..] => {
            let len = usize::from(u16::from_be_bytes([*l1, *l2]));
            Some((rest.get(..len)?, 13 + len))
        }
        _ => None,
    }
}

/// Collects the fragments of a client's ClientHello.
#[derive(Default)]
pub struct DtlsHello {
    /// The message's length and message_seq, from its first fragment.
    message: Option<(usize, u16)>,
    /// Fragments by offset.
    fragments: Vec<(usize, Vec<u8>)>,
    held: usize,
    /// Datagrams looked at.
    pub datagrams: u8,
}

impl DtlsHello {
    /// Whether `d` starts with a DTLS handshake record whose first message is a ClientHello.
    pub fn starts(d: &[u8]) -> bool {
        handshake_record(d).is_some_and(|(body, _)| body.first() == Some(&1) && body.len() >= 12)
    }

    /// Reads a datagram of the flow (either direction); the ClientHello once its fragments
    /// cover all of it. Records of other kinds, or of other epochs, are passed over.
    pub fn datagram(&mut self, d: &[u8]) -> Option<ClientHello> {
        self.datagrams = self.datagrams.saturating_add(1);
        let mut rest = d;
        let mut got = false;
        while let Some((mut body, used)) = handshake_record(rest) {
            // One record may hold several handshake messages (fragments).
            while body.len() >= 12 {
                let typ = body[0];
                let len = u32::from_be_bytes([0, body[1], body[2], body[3]]) as usize;
                let seq = u16::from_be_bytes([body[4], body[5]]);
                let off = u32::from_be_bytes([0, body[6], body[7], body[8]]) as usize;
                let flen = u32::from_be_bytes([0, body[9], body[10], body[11]]) as usize;
                let Some(frag) = body.get(12..12 + flen) else {
                    break;
                };
                body = &body[12 + flen..];
                if typ != 1 || len > MAX_HELLO || off.saturating_add(flen) > len {
                    continue;
                }
                let message = *self.message.get_or_insert((len, seq));
                if message != (len, seq) || self.held + flen > MAX_HELLO {
                    continue;
                }
                self.held += flen;
                self.fragments.push((off, frag.to_vec()));
                got = true;
            }
            rest = rest.get(used..).unwrap_or(&[]);
        }
        if got {
            self.hello()
        } else {
            None
        }
    }

    /// The ClientHello, if the fragments cover it from 0 to its length.
    fn hello(&mut self) -> Option<ClientHello> {
        let (len, _) = self.message?;
        self.fragments.sort_by_key(|(o, _)| *o);
        let mut body: Vec<u8> = Vec::with_capacity(len);
        for (off, data) in &self.fragments {
            if *off > body.len() {
                break;
            }
            if let Some(tail) = data.get(body.len() - off..) {
                body.extend_from_slice(tail);
            }
        }
        if body.len() < len {
            return None;
        }
        dtls_hello_body(&body[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DTLS 1.2 ClientHello body naming `sni`, with a cookie.
    fn body(sni: &str) -> Vec<u8> {
        let name = sni.as_bytes();
        let mut sn = vec![0u8];
        sn.extend((name.len() as u16).to_be_bytes());
        sn.extend(name);
        let mut list = (sn.len() as u16).to_be_bytes().to_vec();
        list.extend(sn);
        let mut ext = vec![0, 0];
        ext.extend((list.len() as u16).to_be_bytes());
        ext.extend(list);
        let mut b = vec![0xfe, 0xfd];
        b.extend([9u8; 32]);
        b.push(0); // session id
        b.extend([4, 1, 2, 3, 4]); // cookie
        b.extend([0, 2, 0xc0, 0x2b]); // one cipher suite
        b.extend([1, 0]); // null compression
        b.extend((ext.len() as u16).to_be_bytes());
        b.extend(ext);
        b
    }

    /// Records of the ClientHello `b` cut into fragments of `size`, `per` fragments a record.
    fn records(b: &[u8], size: usize, per: usize) -> Vec<Vec<u8>> {
        let frags: Vec<Vec<u8>> = b
            .chunks(size)
            .enumerate()
            .map(|(i, c)| {
                let mut h = vec![1];
                h.extend(&(b.len() as u32).to_be_bytes()[1..]);
                h.extend([0, 0]);
                h.extend(&((i * size) as u32).to_be_bytes()[1..]);
                h.extend(&(c.len() as u32).to_be_bytes()[1..]);
                h.extend(c);
                h
            })
            .collect();
        frags
            .chunks(per)
            .enumerate()
            .map(|(i, fs)| {
                let payload: Vec<u8> = fs.concat();
                let mut r = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, i as u8];
                r.extend((payload.len() as u16).to_be_bytes());
                r.extend(payload);
                r
            })
            .collect()
    }

    #[test]
    fn a_whole_client_hello_in_one_record_gives_its_server_name() {
        let r = &records(&body("dtls.example.org"), 1 << 16, 1)[0];
        assert!(DtlsHello::starts(r));
        let h = DtlsHello::default().datagram(r).unwrap();
        assert_eq!(h.sni.as_deref(), Some("dtls.example.org"));
    }

    #[test]
    fn fragments_over_datagrams_in_any_order_and_repeated_are_put_back() {
        let b = body("frag.example.net");
        let recs = records(&b, 10, 2);
        assert!(recs.len() > 3);
        let mut order: Vec<&Vec<u8>> = recs.iter().rev().collect();
        order.insert(1, &recs[0]); // a retransmitted datagram
        let mut d = DtlsHello::default();
        let mut got = None;
        for (i, r) in order.iter().enumerate() {
            let h = d.datagram(r);
            if i + 1 < recs.len() {
                assert!(h.is_none(), "not whole after {} datagrams", i + 1);
            }
            got = got.or(h);
        }
        assert_eq!(got.unwrap().sni.as_deref(), Some("frag.example.net"));
        // Several records in one datagram.
        let one: Vec<u8> = recs.concat();
        let h = DtlsHello::default().datagram(&one).unwrap();
        assert_eq!(h.sni.as_deref(), Some("frag.example.net"));
    }

    #[test]
    fn other_records_and_garbage_give_nothing_and_do_not_panic() {
        // Application data, another epoch, a TLS (not DTLS) record, a server hello.
        for d in [
            &[23u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 2, 1, 2][..],
            &[22, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0][..],
            &[22, 3, 3, 0, 5, 1, 0, 0, 1, 0][..],
            &[
                22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 12, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ][..],
        ] {
            assert!(!DtlsHello::starts(d) || d[13] != 1);
            assert!(DtlsHello::default().datagram(d).is_none());
        }
        let r = &records(&body("x.example"), 1 << 16, 1)[0];
        for cut in 0..r.len() {
            let _ = DtlsHello::default().datagram(&r[..cut]);
            let mut bad = r.clone();
            bad[cut] ^= 0xff;
            let _ = DtlsHello::default().datagram(&bad);
        }
    }
}
