//! DTLS ClientHello (RFC 6347 §4.2, RFC 9147 §5.3): the server_name a client asks for over
//! UDP (WebRTC data channels, VPNs, CAPWAP, malware that prefers datagrams).
//!
//! A DTLS record header is 13 bytes (content type, version 0xfeXX, epoch, 48-bit sequence
//! number, length); a handshake message header 12 (type, length, message_seq,
//! fragment_offset, fragment_length), so one ClientHello may come in fragments over several
//! records and datagrams. The body is TLS's with a cookie after the session id. Fragments are
//! put back by offset, at most [`MAX_HELLO`] bytes and 256 fragments held.

use super::pieces::Pieces;
use super::tls::{dtls_hello_body, ClientHello};

/// A ClientHello longer than this is not read (bytes of handshake body).
const MAX_HELLO: usize = 64 << 10;

/// A DTLS record at the start of `d` (13-byte header: content type, version 0xfeXX, epoch,
/// 48-bit sequence number, length): its content type, epoch, body and whole length. Versions
/// 1.0 (0xfeff) and 1.2 (0xfefd, also what DTLS 1.3 writes) only.
fn record(d: &[u8]) -> Option<(u8, u16, &[u8], usize)> {
    match d {
        [ct, 0xfe, 0xff | 0xfd, e0, e1, _, _, _, _, _, _, l1, l2, rest @ ..] => {
            let len = usize::from(u16::from_be_bytes([*l1, *l2]));
            Some((
                *ct,
                u16::from_be_bytes([*e0, *e1]),
                rest.get(..len)?,
                13 + len,
            ))
        }
        _ => None,
    }
}

/// Collects the fragments of a client's ClientHello.
#[derive(Default)]
pub struct DtlsHello {
    /// The message's length and message_seq, from its first fragment (a later ClientHello,
    /// the one that answers a HelloVerifyRequest, starts over).
    message: Option<(usize, u16)>,
    fragments: Pieces,
    /// Datagrams looked at.
    pub datagrams: u8,
}

impl DtlsHello {
    /// Whether `d` starts with a DTLS handshake record of epoch 0 whose first message is a
    /// ClientHello.
    pub fn starts(d: &[u8]) -> bool {
        record(d).is_some_and(|(ct, epoch, body, _)| {
            ct == 22 && epoch == 0 && body.first() == Some(&1) && body.len() >= 12
        })
    }

    /// Reads a datagram of the flow (either direction); the ClientHello once its fragments
    /// cover all of it. Records of other kinds or epochs are stepped over by their length.
    pub fn datagram(&mut self, d: &[u8]) -> Option<ClientHello> {
        self.datagrams = self.datagrams.saturating_add(1);
        let mut rest = d;
        let mut got = false;
        while let Some((ct, epoch, mut body, used)) = record(rest) {
            rest = rest.get(used..).unwrap_or(&[]);
            if ct != 22 || epoch != 0 {
                continue;
            }
            // One record may hold several handshake messages (fragments).
            while let [typ, l0, l1, l2, s0, s1, o0, o1, o2, f0, f1, f2, after @ ..] = body {
                let len = u32::from_be_bytes([0, *l0, *l1, *l2]) as usize;
                let seq = u16::from_be_bytes([*s0, *s1]);
                let off = u32::from_be_bytes([0, *o0, *o1, *o2]) as usize;
                let flen = u32::from_be_bytes([0, *f0, *f1, *f2]) as usize;
                let Some(frag) = after.get(..flen) else {
                    break;
                };
                body = &after[flen..];
                if *typ != 1 || len > MAX_HELLO || off.saturating_add(flen) > len {
                    continue;
                }
                match self.message {
                    Some((_, s)) if seq < s => continue,
                    Some(m) if m != (len, seq) => {
                        // A later ClientHello (after a HelloVerifyRequest): it replaces the
                        // first, which may not have been captured whole.
                        if seq == m.1 {
                            continue;
                        }
                        self.fragments.clear();
                        self.message = Some((len, seq));
                    }
                    Some(_) => {}
                    None => self.message = Some((len, seq)),
                }
                got |= self.fragments.push(off as u64, frag, MAX_HELLO);
            }
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
        let body = self.fragments.prefix();
        dtls_hello_body(body.get(..len)?)
    }
}

/// Builders shared by the app-layer and tracker tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// A DTLS 1.2 ClientHello body naming `sni`, with a cookie.
    pub(crate) fn body(sni: &str) -> Vec<u8> {
        let ext = crate::app::tls::tests_support::sni_extension(sni);
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
    pub(crate) fn records(b: &[u8], size: usize, per: usize) -> Vec<Vec<u8>> {
        records_seq(b, size, per, 0)
    }

    /// The same, as handshake message number `seq`.
    pub(crate) fn records_seq(b: &[u8], size: usize, per: usize, seq: u16) -> Vec<Vec<u8>> {
        let frags: Vec<Vec<u8>> = b
            .chunks(size)
            .enumerate()
            .map(|(i, c)| {
                let mut h = vec![1];
                h.extend(&(b.len() as u32).to_be_bytes()[1..]);
                h.extend(seq.to_be_bytes());
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
}

#[cfg(test)]
mod tests {
    use super::tests_support::{body, records, records_seq};
    use super::*;

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
    fn a_second_client_hello_replaces_a_first_one_captured_in_part() {
        // The first ClientHello (message 0) lost its second fragment; the one sent after the
        // HelloVerifyRequest (message 1) is whole, behind an application-data record of
        // another epoch in the same datagram.
        let first = records_seq(&body("first.example"), 20, 1, 0);
        let mut d = DtlsHello::default();
        assert!(d.datagram(&first[0]).is_none());
        let mut datagram = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3, 1, 2, 3];
        datagram.extend(records_seq(&body("second.example"), 1 << 16, 1, 1).concat());
        let h = d.datagram(&datagram).unwrap();
        assert_eq!(h.sni.as_deref(), Some("second.example"));
        // A fragment of the older message after that changes nothing.
        assert!(d.datagram(&first[1]).is_none());
    }

    #[test]
    fn a_flood_of_empty_and_repeated_fragments_is_not_kept() {
        let r = &records(&body("x.example"), 8, 1)[0];
        let mut d = DtlsHello::default();
        for _ in 0..10_000 {
            assert!(d.datagram(r).is_none());
        }
        // 12-byte fragments of no bytes, many to a record.
        let mut empty = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 2];
        let frag = [1u8, 0, 1, 0, 0, 0, 0, 0, 5, 0, 0, 0];
        empty.extend(((frag.len() * 1000) as u16).to_be_bytes());
        for _ in 0..1000 {
            empty.extend(frag);
        }
        assert!(d.datagram(&empty).is_none());
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
