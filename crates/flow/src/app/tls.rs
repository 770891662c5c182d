//! TLS ClientHello (RFC 8446 §4.1.2): server_name (RFC 6066 §3) and ALPN (RFC 7301).
//! Bogus lengths end the parse; nothing is allocated by a wire length.

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u24, be_u8};
use nom::{IResult, Parser};

/// What a ClientHello tells about the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// server_name (lower case).
    pub sni: Option<String>,
    /// Application protocols offered.
    pub alpn: Vec<String>,
}

/// True if `b` starts like a TLS handshake record.
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

/// True if `b` starts with a TLS record that starts a ClientHello (content type 22, version
/// 3.x, handshake type 1, a handshake length of at least a minimal hello, client version 3.x):
/// how a TLS handshake is told apart in a stream that started in another protocol (STARTTLS).
pub fn starts_client_hello(b: &[u8]) -> bool {
    match b {
        [0x16, 0x03, v, rh, rl, 0x01, h1, h2, h3, 0x03, ..] if *v <= 4 => {
            let rec = usize::from(u16::from_be_bytes([*rh, *rl]));
            let hs = (usize::from(*h1) << 16) | (usize::from(*h2) << 8) | usize::from(*h3);
            rec >= 4 + 38 && hs >= 38
        }
        _ => false,
    }
}

fn u16_vec(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, n) = be_u16(i)?;
    take(n)(i)
}

fn u8_vec(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, n) = be_u8(i)?;
    take(n)(i)
}

fn hello_body(i: &[u8]) -> IResult<&[u8], ClientHello> {
    hello_body_with(i, false)
}

/// Parses a DTLS ClientHello body (RFC 6347 §4.2.1: TLS's with a cookie after the session
/// id). `None` if it is cut short or malformed.
pub fn dtls_hello_body(body: &[u8]) -> Option<ClientHello> {
    hello_body_with(body, true).ok().map(|(_, h)| h)
}

/// A ClientHello body; `cookie`: DTLS's, with a cookie after the session id.
fn hello_body_with(i: &[u8], cookie: bool) -> IResult<&[u8], ClientHello> {
    let (i, _version) = be_u16(i)?;
    let (i, _random) = take(32usize)(i)?;
    let (i, _session) = u8_vec(i)?;
    let i = if cookie { u8_vec(i)?.0 } else { i };
    let (i, _suites) = u16_vec(i)?;
    let (i, _compression) = u8_vec(i)?;
    let mut out = ClientHello::default();
    if i.is_empty() {
        return Ok((i, out));
    }
    let (rest, mut exts) = u16_vec(i)?;
    while exts.len() >= 4 {
        let (r, (typ, data)) = (be_u16, u16_vec).parse(exts)?;
        exts = r;
        match typ {
            0 => {
                // server_name_list: (type u8, host_name u16-vector)*
                let (_, mut list) = u16_vec(data)?;
                while !list.is_empty() {
                    let (r, (kind, name)) = (be_u8, u16_vec).parse(list)?;
                    list = r;
                    if kind == 0 && out.sni.is_none() {
                        out.sni = std::str::from_utf8(name)
                            .ok()
                            .map(|s| s.to_ascii_lowercase());
                    }
                }
            }
            16 => {
                let (_, mut list) = u16_vec(data)?;
                while !list.is_empty() && out.alpn.len() < 16 {
                    let (r, p) = u8_vec(list)?;
                    list = r;
                    out.alpn.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            _ => {}
        }
    }
    Ok((rest, out))
}

/// Parses a ClientHello from the start of a client's stream (record layer included).
/// `None` if it is not one or is cut short.
pub fn client_hello(stream: &[u8]) -> Option<ClientHello> {
    let (i, (ct, _ver, len)) = (be_u8::<&[u8], nom::error::Error<&[u8]>>, be_u16, be_u16)
        .parse(stream)
        .ok()?;
    if ct != 0x16 {
        return None;
    }
    let (_, record) = take::<usize, &[u8], nom::error::Error<&[u8]>>(usize::from(len))(i).ok()?;
    let (hs, (typ, hlen)) = (be_u8::<&[u8], nom::error::Error<&[u8]>>, be_u24)
        .parse(record)
        .ok()?;
    if typ != 1 {
        return None;
    }
    // A ClientHello larger than one record is read from the first record only.
    let body = &hs[..hs.len().min(hlen as usize)];
    hello_body(body).ok().map(|(_, h)| h)
}

/// Parses a ClientHello handshake message (type 1, 24-bit length, body) given without a
/// record layer, as QUIC carries it in CRYPTO frames. `None` if it is not one or is cut short.
pub fn hello_message(hs: &[u8]) -> Option<ClientHello> {
    let (body, (typ, hlen)) = (be_u8::<&[u8], nom::error::Error<&[u8]>>, be_u24)
        .parse(hs)
        .ok()?;
    if typ != 1 || body.len() < hlen as usize {
        return None;
    }
    hello_body(&body[..hlen as usize]).ok().map(|(_, h)| h)
}

/// Bytes needed to see the whole first record (header + length), if known.
pub fn first_record_len(stream: &[u8]) -> Option<usize> {
    (stream.len() >= 5).then(|| 5 + usize::from(u16::from_be_bytes([stream[3], stream[4]])))
}

/// Builders shared by the app-layer tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// The server_name extension (type 0) naming `sni` (RFC 6066 §3).
    pub(crate) fn sni_extension(sni: &str) -> Vec<u8> {
        let name = sni.as_bytes();
        let mut sn = vec![0u8];
        sn.extend((name.len() as u16).to_be_bytes());
        sn.extend(name);
        let mut list = (sn.len() as u16).to_be_bytes().to_vec();
        list.extend(sn);
        let mut ext = vec![0, 0];
        ext.extend((list.len() as u16).to_be_bytes());
        ext.extend(list);
        ext
    }

    /// A minimal ClientHello record with SNI `sni` and ALPN h2, http/1.1.
    pub(crate) fn hello(sni: &str) -> Vec<u8> {
        let mut ext = sni_extension(sni);
        let alpn_list = [
            2u8, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ];
        ext.extend([0, 16]);
        ext.extend(((alpn_list.len() + 2) as u16).to_be_bytes());
        ext.extend((alpn_list.len() as u16).to_be_bytes());
        ext.extend(alpn_list);
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut hs = vec![1u8];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::hello;
    use super::*;

    #[test]
    fn sni_and_alpn() {
        let h = client_hello(&hello("API.cloud-telemetry.example.net")).unwrap();
        assert_eq!(h.sni.as_deref(), Some("api.cloud-telemetry.example.net"));
        assert_eq!(h.alpn, vec!["h2", "http/1.1"]);
    }

    #[test]
    fn bogus_lengths_and_cuts_never_panic() {
        let full = hello("a.example.com");
        for cut in 0..full.len() {
            let _ = client_hello(&full[..cut]);
        }
        let mut bad = full.clone();
        bad[3] = 0xFF;
        bad[4] = 0xFF;
        assert!(client_hello(&bad).is_none());
        assert!(client_hello(b"GET / HTTP/1.1\r\n").is_none());
    }
}
