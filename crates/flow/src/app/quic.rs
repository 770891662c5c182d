//! The TLS ClientHello of a QUIC connection, read from the client's Initial packets.
//!
//! Initial packets are encrypted, but with keys every observer can derive: they come from the
//! Destination Connection ID of the client's first Initial packet and a salt fixed by the
//! version (RFC 9001 §5.2 for QUIC v1, RFC 9369 §3.3 for v2). So the ClientHello — and its
//! server_name — is as readable in QUIC as in TLS over TCP (RFC 9001 §7 says as much). This
//! module removes the header protection (§5.4), decrypts the packet (AES-128-GCM, §5.3), and
//! collects the CRYPTO frames (RFC 9000 §19.6) until the ClientHello is whole; a ClientHello
//! split over several Initial packets, or coalesced with other packets in one datagram, is
//! put back together by frame offset. Bogus lengths end the parse; nothing is allocated by a
//! wire length beyond the datagram itself.

use super::tls::{hello_message, ClientHello};
use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// QUIC version 1 (RFC 9000).
const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
const V2: u32 = 0x6b33_43cf;
/// The initial salts (RFC 9001 §5.2, RFC 9369 §3.3.1).
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];

/// CRYPTO bytes kept per connection while the ClientHello is incomplete (a ClientHello with
/// post-quantum key shares is ~1.8 kB; this leaves room for any real one).
const MAX_CRYPTO: usize = 64 << 10;
/// Client datagrams looked at before giving up on a connection.
pub const MAX_DATAGRAMS: u8 = 16;

/// The packet protection keys of one direction.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

/// HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an empty context.
fn expand_label(secret: &[u8], label: &str, out: &mut [u8]) -> Option<()> {
    let hk = Hkdf::<Sha256>::from_prk(secret).ok()?;
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&u16::try_from(out.len()).ok()?.to_be_bytes());
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    hk.expand(&info, out).ok()
}

/// The client's Initial keys for a connection whose client chose `dcid` (RFC 9001 §5.2,
/// RFC 9369 §3.3).
pub fn client_keys(version: u32, dcid: &[u8]) -> Option<Keys> {
    let (salt, key_l, iv_l, hp_l) = match version {
        V1 => (&SALT_V1, "quic key", "quic iv", "quic hp"),
        V2 => (&SALT_V2, "quicv2 key", "quicv2 iv", "quicv2 hp"),
        _ => return None,
    };
    let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut client = [0u8; 32];
    expand_label(&initial, "client in", &mut client)?;
    let mut k = Keys {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&client, key_l, &mut k.key)?;
    expand_label(&client, iv_l, &mut k.iv)?;
    expand_label(&client, hp_l, &mut k.hp)?;
    Some(k)
}

/// A QUIC variable-length integer (RFC 9000 §16) at the start of `b`: value and length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in bytes.get(1..)? {
        v = (v << 8) | u64::from(x);
    }
    Some((v, len))
}

/// The long-header fields of an Initial packet at the start of `d`.
struct Initial<'a> {
    version: u32,
    dcid: &'a [u8],
    /// Offset of the packet number.
    pn_at: usize,
    /// End of this packet in the datagram (the next coalesced packet starts there).
    end: usize,
}

/// Parses the long header of `d` if it starts an Initial packet of a version read here.
fn initial_header(d: &[u8]) -> Option<Initial<'_>> {
    let first = *d.first()?;
    if first & 0xC0 != 0xC0 {
        return None;
    }
    let version = u32::from_be_bytes(d.get(1..5)?.try_into().ok()?);
    let ty = (first >> 4) & 0x03;
    let initial = match version {
        V1 => ty == 0,
        V2 => ty == 1,
        _ => false,
    };
    let mut at = 5;
    let dlen = usize::from(*d.get(at)?);
    let dcid = d.get(at + 1..at + 1 + dlen)?;
    if dlen > 20 {
        return None;
    }
    at += 1 + dlen;
    let slen = usize::from(*d.get(at)?);
    at += 1 + slen;
    if !initial {
        // Another long-header packet (0-RTT, Handshake, Retry): its length still says where
        // the next coalesced packet starts (Retry has none and is always alone).
        return None;
    }
    let (tlen, n) = varint(d.get(at..)?)?;
    at += n;
    at = at.checked_add(usize::try_from(tlen).ok()?)?;
    let (len, n) = varint(d.get(at..)?)?;
    at += n;
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    (end <= d.len()).then_some(Initial {
        version,
        dcid,
        pn_at: at,
        end,
    })
}

/// The end of the long-header packet at the start of `d` that is not an Initial (to step over
/// it in a coalesced datagram).
fn other_long_end(d: &[u8]) -> Option<usize> {
    let first = *d.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(d.get(1..5)?.try_into().ok()?);
    let ty = (first >> 4) & 0x03;
    // Retry has no length (and is always alone); an Initial is read by `initial_header`.
    let (retry, initial) = match version {
        V1 => (ty == 3, ty == 0),
        V2 => (ty == 0, ty == 1),
        _ => return None,
    };
    if retry || initial {
        return None;
    }
    let mut at = 5;
    at += 1 + usize::from(*d.get(at)?);
    at += 1 + usize::from(*d.get(at)?);
    let (len, n) = varint(d.get(at..)?)?;
    at.checked_add(n)?
        .checked_add(usize::try_from(len).ok()?)
        .filter(|&e| e <= d.len())
}

/// Whether the datagram `d` was sent by a QUIC client, whatever the ports say: it holds an
/// Initial packet that opens with the client's keys (a server's Initial is protected with the
/// server's keys), or a whole 0-RTT packet, which only a client sends (RFC 9000 §17.2.3).
/// Handshake packets before them are stepped over.
pub fn from_client(d: &[u8]) -> bool {
    let mut rest = d;
    while !rest.is_empty() {
        if let Some(h) = initial_header(rest) {
            return rest.get(..h.end).is_some_and(|packet| {
                client_keys(h.version, h.dcid).is_some_and(|k| open(packet, &h, &k).is_some())
            });
        }
        match other_long_end(rest) {
            Some(e) if e > 0 => {
                if is_zero_rtt(rest) {
                    return true;
                }
                rest = rest.get(e..).unwrap_or(&[]);
            }
            _ => return false,
        }
    }
    false
}

/// The long-header packet at the start of `d` is a 0-RTT packet (v1 type 1, v2 type 2).
fn is_zero_rtt(d: &[u8]) -> bool {
    let (Some(first), Some(v)) = (d.first(), d.get(1..5)) else {
        return false;
    };
    let ty = (first >> 4) & 0x03;
    match u32::from_be_bytes([v[0], v[1], v[2], v[3]]) {
        V1 => ty == 1,
        V2 => ty == 2,
        _ => false,
    }
}

/// Removes header protection and decrypts the Initial packet `p` (header fields `h`) with
/// `k`; returns its plaintext frames.
fn open(p: &[u8], h: &Initial<'_>, k: &Keys) -> Option<Vec<u8>> {
    let sample = p.get(h.pn_at + 4..h.pn_at + 20)?;
    let hp = aes::Aes128::new_from_slice(&k.hp).ok()?;
    let mut mask = aes::Block::clone_from_slice(sample);
    hp.encrypt_block(&mut mask);
    let mut header = p.get(..h.pn_at + 4)?.to_vec();
    let first = header.first_mut()?;
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    header.truncate(h.pn_at + pn_len);
    let mut pn = 0u64;
    for i in 0..pn_len {
        let b = header.get_mut(h.pn_at + i)?;
        *b ^= mask[1 + i];
        pn = (pn << 8) | u64::from(*b);
    }
    let mut nonce = k.iv;
    for (i, b) in pn.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    let cipher = Aes128Gcm::new_from_slice(&k.key).ok()?;
    cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: p.get(h.pn_at + pn_len..h.end)?,
                aad: &header,
            },
        )
        .ok()
}

/// The CRYPTO frames of decrypted Initial frames, as (offset, data); `None` when a frame
/// cannot be parsed (the rest is ignored then).
fn crypto_frames(mut f: &[u8], out: &mut Vec<(u64, Vec<u8>)>) -> Option<()> {
    while let Some(&ty) = f.first() {
        match ty {
            0x00 | 0x01 => f = f.get(1..)?,
            0x02 | 0x03 => {
                // ACK: largest, delay, range count, first range, ranges (gap, len)*, [ECN].
                let mut at = 1;
                let field = |f: &[u8], at: &mut usize| -> Option<u64> {
                    let (v, n) = varint(f.get(*at..)?)?;
                    *at += n;
                    Some(v)
                };
                field(f, &mut at)?;
                field(f, &mut at)?;
                let ranges = field(f, &mut at)?;
                field(f, &mut at)?;
                for _ in 0..ranges.min(1 << 16) {
                    field(f, &mut at)?;
                    field(f, &mut at)?;
                }
                if ty == 0x03 {
                    for _ in 0..3 {
                        field(f, &mut at)?;
                    }
                }
                f = f.get(at..)?;
            }
            0x06 => {
                let (off, n1) = varint(f.get(1..)?)?;
                let (len, n2) = varint(f.get(1 + n1..)?)?;
                let start = 1 + n1 + n2;
                let data = f.get(start..start.checked_add(usize::try_from(len).ok()?)?)?;
                out.push((off, data.to_vec()));
                f = f.get(start + data.len()..)?;
            }
            _ => return None,
        }
    }
    Some(())
}

/// What is known of one connection's Initial packets from its client.
#[derive(Default)]
pub struct QuicInitial {
    /// Version and Destination Connection ID of the client's first Initial packet (its keys).
    first: Option<(u32, Vec<u8>)>,
    /// CRYPTO data received, by offset.
    crypto: super::pieces::Pieces,
    /// Datagrams looked at.
    pub datagrams: u8,
}

impl QuicInitial {
    /// Whether `d` starts with a long-header packet of a QUIC version read here (an Initial,
    /// or a 0-RTT or Handshake packet, which a client may send ahead of its Initial in the
    /// same datagram or before it).
    pub fn starts(d: &[u8]) -> bool {
        initial_header(d).is_some() || other_long_end(d).is_some()
    }

    /// Reads a datagram of the connection; the ClientHello once the CRYPTO data from offset 0
    /// holds all of it. Datagrams that do not decrypt with the client's keys (the server's,
    /// or not QUIC) are passed over.
    pub fn datagram(&mut self, d: &[u8]) -> Option<ClientHello> {
        self.datagrams = self.datagrams.saturating_add(1);
        let mut rest = d;
        let mut got = false;
        while !rest.is_empty() {
            let Some(h) = initial_header(rest) else {
                match other_long_end(rest) {
                    Some(e) if e > 0 => {
                        rest = rest.get(e..)?;
                        continue;
                    }
                    _ => break,
                }
            };
            let packet = rest.get(..h.end)?;
            let first = self
                .first
                .get_or_insert_with(|| (h.version, h.dcid.to_vec()))
                .clone();
            // The packet's own connection id (a new one after a Retry), else the first one.
            let plain = client_keys(h.version, h.dcid)
                .and_then(|k| open(packet, &h, &k))
                .or_else(|| client_keys(first.0, &first.1).and_then(|k| open(packet, &h, &k)));
            if let Some(frames) = plain {
                let mut found = Vec::new();
                let _ = crypto_frames(&frames, &mut found);
                for (off, data) in found {
                    got |= self.crypto.push(off, &data, MAX_CRYPTO);
                }
            }
            rest = rest.get(h.end..)?;
        }
        if got {
            self.hello()
        } else {
            None
        }
    }

    /// The ClientHello, if the CRYPTO data is contiguous from 0 over the whole message.
    fn hello(&mut self) -> Option<ClientHello> {
        let stream = self.crypto.prefix();
        let need = 4 + usize::try_from(u32::from_be_bytes([
            0,
            *stream.get(1)?,
            *stream.get(2)?,
            *stream.get(3)?,
        ]))
        .ok()?;
        if stream.len() < need {
            return None;
        }
        hello_message(stream.get(..need)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn client_initial_keys_are_those_of_rfc_9001_appendix_a() {
        // RFC 9001 §A.1: client Destination Connection ID 0x8394c8f03e515708.
        let k = client_keys(V1, &hex("8394c8f03e515708")).unwrap();
        assert_eq!(k.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(k.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(k.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
    }

    #[test]
    fn client_initial_keys_of_quic_v2_are_those_of_rfc_9369_appendix_a() {
        // RFC 9369 §A.1, same connection id.
        let k = client_keys(V2, &hex("8394c8f03e515708")).unwrap();
        assert_eq!(k.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(k.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(k.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    #[test]
    fn varints_of_rfc_9000_appendix_a_1() {
        assert_eq!(
            varint(&hex("c2197c5eff14e88c")),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&hex("9d7f3e7d")), Some((494_878_333, 4)));
        assert_eq!(varint(&hex("7bbd")), Some((15_293, 2)));
        assert_eq!(varint(&hex("25")), Some((37, 1)));
        assert_eq!(varint(&hex("7b")), None);
    }

    #[test]
    fn garbage_and_cut_datagrams_give_nothing_and_do_not_panic() {
        let mut q = QuicInitial::default();
        for n in 0..64usize {
            let d: Vec<u8> = (0..n).map(|i| (i * 37 + 0xC3) as u8).collect();
            assert!(q.datagram(&d).is_none());
        }
        // A v1 Initial header with lengths beyond the datagram.
        let mut d = vec![0xC3, 0, 0, 0, 1, 8];
        d.extend_from_slice(&[1; 8]);
        d.extend_from_slice(&[0, 0, 0x44, 0xFF]);
        assert!(!QuicInitial::starts(&d));
        assert!(q.datagram(&d).is_none());
    }
}
