//! Application layer on reassembled data: DNS (UDP and TCP), HTTP/1.x heads and body
//! boundaries (with CONNECT tunnels), TLS ClientHello; on UDP, the ClientHello of QUIC and DTLS. Each emits [`Metadata`] with the
//! frame that carried it; HTTP bodies are delivered as body pieces. Malformed protocol
//! data turns the parser of that direction off (counted); the flow goes on as raw bytes.

pub mod dns;
pub mod dtls;
pub mod http;
mod pieces;
pub mod quic;
pub mod tls;

use crate::key::Direction;
use exfilmeter_ingest::{FrameRef, Timestamp};
use http::{Chunked, Head, HttpRequest, HttpResponse, MAX_HEAD};
use std::collections::VecDeque;
use tls::ClientHello;

/// Stream bytes looked at to recognise a protocol or read a ClientHello.
const SNIFF: usize = 16 << 10;

/// What the application layer learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// A DNS message (UDP or TCP).
    Dns(dns::DnsMessage),
    /// An HTTP request head (also inside a CONNECT tunnel).
    HttpRequest(HttpRequest),
    /// An HTTP response head.
    HttpResponse(HttpResponse),
    /// A TLS record header after the handshake started (application data: `content_type`
    /// 23; the plaintext is `length` minus the cipher's overhead).
    TlsRecord {
        /// Record content type.
        content_type: u8,
        /// Record length (bytes after the 5-byte header).
        length: u16,
    },
    /// The status the proxy answered to a CONNECT.
    ConnectReply {
        /// Status code (200 = tunnel established).
        status: u16,
    },
    /// A TLS ClientHello (also inside a CONNECT tunnel).
    TlsClientHello(ClientHello),
    /// The TLS ClientHello of a QUIC connection, read from the client's Initial packets
    /// (`quic`); its direction is the one that carried it.
    QuicClientHello(ClientHello),
    /// A DTLS ClientHello (TLS over UDP, `dtls`); its direction is the one that carried it.
    DtlsClientHello(ClientHello),
}

/// A [`Metadata`] with its place in the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEvent {
    /// Direction that carried it.
    pub dir: Direction,
    /// Capture time of the frame that completed it.
    pub ts: Timestamp,
    /// That frame.
    pub frame: FrameRef,
    /// Seen inside a CONNECT tunnel.
    pub tunnelled: bool,
    /// The content.
    pub meta: Metadata,
}

/// Output of the application layer.
pub(crate) enum AppOut<'a> {
    Meta(MetaEvent),
    /// HTTP body bytes of request/response number `message` (0-based), at `offset` in
    /// the (de-chunked) body.
    Body {
        dir: Direction,
        message: u32,
        offset: u64,
        ts: Timestamp,
        frame: FrameRef,
        bytes: &'a [u8],
    },
}

enum Body {
    None,
    Length(u64),
    Chunked(Chunked),
    /// A response without length: the body runs to the end of the connection.
    UntilClose,
}

/// One direction's parser.
enum Parser {
    /// Not yet known: the first bytes decide.
    Sniff(Vec<u8>),
    /// TLS handshake: collecting records to read the ClientHello.
    Tls(Vec<u8>),
    /// TLS after the handshake: walking record headers (header bytes so far, bytes of the
    /// current record left to skip).
    Records(Vec<u8>, u64),
    /// HTTP messages.
    Http {
        head: Vec<u8>,
        body: Body,
        body_off: u64,
        messages: u32,
    },
    /// Reading the proxy's answer to a CONNECT.
    ConnectReply(Vec<u8>),
    /// DNS over TCP (2-byte length prefix).
    TcpDns(Vec<u8>),
    /// Tunnel: an inner stream.
    Tunnel(Box<Parser>),
    /// A client stream that started as neither HTTP nor TLS (SMTP, IMAP, POP3, XMPP, FTP,
    /// LDAP, RDP…): its first [`SNIFF`] bytes (the count so far) are watched for a TLS
    /// ClientHello starting a segment, as after a STARTTLS.
    Opaque(u64),
    /// Done or not understood.
    Off,
}

impl Parser {
    /// An HTTP parser waiting for its first message head.
    fn http() -> Parser {
        Parser::Http {
            head: Vec::new(),
            body: Body::None,
            body_off: 0,
            messages: 0,
        }
    }
}

/// Per-flow application state.
pub(crate) struct App {
    half: [Parser; 2],
    connect_pending: bool,
    /// For each request not yet answered: does its response carry a body? (HEAD: no.)
    expect_body: VecDeque<bool>,
    /// Malformed protocol data seen (parser turned off).
    pub(crate) malformed: u64,
}

impl App {
    /// A TCP flow's app state; `dns` when either port is 53.
    pub(crate) fn tcp(dns: bool) -> App {
        let p = || {
            if dns {
                Parser::TcpDns(Vec::new())
            } else {
                Parser::Sniff(Vec::new())
            }
        };
        App {
            half: [p(), p()],
            connect_pending: false,
            expect_body: VecDeque::new(),
            malformed: 0,
        }
    }

    /// A gap in `dir`: parsers that need contiguous data stop, bodies of known length skip.
    pub(crate) fn gap(&mut self, dir: Direction, len: u64) {
        let p = &mut self.half[dir.index()];
        match p {
            Parser::Http { body, body_off, .. } if matches!(&*body, Body::Length(left) if *left >= len) =>
            {
                if let Body::Length(left) = body {
                    *left -= len;
                    if *left == 0 {
                        *body = Body::None;
                    }
                }
                *body_off += len;
            }
            Parser::Http {
                body: Body::UntilClose,
                body_off,
                ..
            } => *body_off += len,
            Parser::Records(hdr, skip) if hdr.is_empty() && *skip >= len => *skip -= len,
            Parser::Opaque(seen) => *seen += len,
            Parser::Off => {}
            _ => *p = Parser::Off,
        }
    }

    pub(crate) fn data(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        frame: FrameRef,
        bytes: &[u8],
        out: &mut dyn FnMut(AppOut<'_>),
    ) {
        let mut ctx = Feed {
            dir,
            ts,
            frame,
            tunnelled: false,
            connect_pending: &mut self.connect_pending,
            expect_body: &mut self.expect_body,
            malformed: &mut self.malformed,
            out,
        };
        let p = &mut self.half[dir.index()];
        feed(p, bytes, &mut ctx);
    }
}

struct Feed<'a, 'o> {
    dir: Direction,
    ts: Timestamp,
    frame: FrameRef,
    tunnelled: bool,
    connect_pending: &'a mut bool,
    expect_body: &'a mut VecDeque<bool>,
    malformed: &'a mut u64,
    out: &'a mut (dyn FnMut(AppOut<'_>) + 'o),
}

impl Feed<'_, '_> {
    fn body(&mut self, message: u32, offset: u64, bytes: &[u8]) {
        (self.out)(AppOut::Body {
            dir: self.dir,
            message,
            offset,
            ts: self.ts,
            frame: self.frame,
            bytes,
        });
    }

    fn meta(&mut self, meta: Metadata) {
        (self.out)(AppOut::Meta(MetaEvent {
            dir: self.dir,
            ts: self.ts,
            frame: self.frame,
            tunnelled: self.tunnelled,
            meta,
        }));
    }
}

fn feed(p: &mut Parser, mut bytes: &[u8], f: &mut Feed<'_, '_>) {
    while !bytes.is_empty() {
        match p {
            Parser::Off => return,
            Parser::Sniff(buf) => {
                let take = bytes.len().min(SNIFF - buf.len().min(SNIFF));
                let all_taken = take == bytes.len();
                // Usually the first segment decides: it is looked at where it lies; only a
                // head too short to decide is copied.
                let direct = buf.is_empty();
                if !direct {
                    buf.extend_from_slice(&bytes[..take]);
                }
                let head: &[u8] = if direct { &bytes[..take] } else { buf };
                let next = if tls::looks_like_tls(head) {
                    Some(Parser::Tls(Vec::new()))
                } else if http::looks_like_request(head) && f.dir == Direction::C2s {
                    Some(Parser::http())
                } else if f.dir == Direction::S2c
                    && (head.starts_with(b"HTTP/")
                        || (head.len() < 5 && b"HTTP/".starts_with(head)))
                {
                    if head.len() < 5 && all_taken {
                        None
                    } else if *f.connect_pending {
                        Some(Parser::ConnectReply(Vec::new()))
                    } else {
                        Some(Parser::http())
                    }
                } else if head.len() < 8 && all_taken {
                    // Too little to decide: wait for more.
                    None
                } else if f.dir == Direction::C2s && !f.tunnelled {
                    // What was held is counted; this segment is looked at below.
                    let held = if direct { 0 } else { (buf.len() - take) as u64 };
                    *p = Parser::Opaque(held);
                    continue;
                } else {
                    *p = Parser::Off;
                    return;
                };
                match next {
                    None => {
                        if direct {
                            buf.extend_from_slice(&bytes[..take]);
                        }
                        return;
                    }
                    Some(next) if direct => {
                        // The new parser reads the same bytes from where they lie.
                        *p = next;
                    }
                    Some(next) => {
                        let head = std::mem::take(buf);
                        *p = next;
                        feed(p, &head, f);
                        bytes = &bytes[take..];
                    }
                }
            }
            Parser::Opaque(seen) => {
                if tls::starts_client_hello(bytes) {
                    *p = Parser::Tls(Vec::new());
                    continue;
                }
                *seen += bytes.len() as u64;
                if *seen >= SNIFF as u64 {
                    *p = Parser::Off;
                }
                return;
            }
            Parser::Tls(buf) => {
                // Handshake records: a ClientHello may come twice (after a
                // HelloRetryRequest). The first other record starts the record walk.
                let take = bytes.len().min(SNIFF.saturating_sub(buf.len()));
                if buf.is_empty() {
                    // Whole records are read where they lie; only a partial one is copied.
                    let used = handshake_records(&bytes[..take], f);
                    buf.extend_from_slice(&bytes[used..take]);
                } else {
                    buf.extend_from_slice(&bytes[..take]);
                    let used = handshake_records(buf, f);
                    buf.drain(..used);
                }
                bytes = &bytes[take..];
                let walk =
                    buf.first().is_some_and(|&t| !matches!(t, 0x14..=0x16)) || buf.len() >= SNIFF;
                if walk || (take == 0 && !bytes.is_empty()) {
                    let rest = std::mem::take(buf);
                    *p = Parser::Records(Vec::new(), 0);
                    feed(p, &rest, f);
                    continue;
                }
                if bytes.is_empty() {
                    return;
                }
            }
            Parser::Records(hdr, skip) => {
                if *skip > 0 {
                    let n = (*skip).min(bytes.len() as u64) as usize;
                    *skip -= n as u64;
                    bytes = &bytes[n..];
                    continue;
                }
                let need = 5 - hdr.len();
                let n = need.min(bytes.len());
                hdr.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if hdr.len() < 5 {
                    return;
                }
                let (t, v, len) = (hdr[0], hdr[1], u16::from_be_bytes([hdr[3], hdr[4]]));
                hdr.clear();
                if v != 3 || !(0x14..=0x18).contains(&t) {
                    if f.dir == Direction::C2s {
                        *f.malformed += 1;
                    }
                    *p = Parser::Off;
                    return;
                }
                if t == 0x17 {
                    f.meta(Metadata::TlsRecord {
                        content_type: t,
                        length: len,
                    });
                }
                *skip = u64::from(len);
            }
            Parser::ConnectReply(buf) => {
                let take = bytes.len().min(MAX_HEAD.saturating_sub(buf.len()));
                buf.extend_from_slice(&bytes[..take]);
                match http::parse_response(buf) {
                    Head::Complete(resp, n) => {
                        let status = resp.status;
                        *f.connect_pending = false;
                        f.meta(Metadata::ConnectReply { status });
                        let rest_in_buf = buf.len() - n;
                        let consumed_from_bytes = take - rest_in_buf.min(take);
                        bytes = &bytes[consumed_from_bytes..];
                        *p = if (200..300).contains(&status) {
                            Parser::Tunnel(Box::new(Parser::Sniff(Vec::new())))
                        } else {
                            Parser::Off
                        };
                    }
                    Head::Partial if buf.len() < MAX_HEAD => return,
                    _ => {
                        *f.malformed += 1;
                        *p = Parser::Off;
                        return;
                    }
                }
            }
            Parser::Tunnel(inner) => {
                let was = f.tunnelled;
                f.tunnelled = true;
                feed(inner, bytes, f);
                f.tunnelled = was;
                return;
            }
            Parser::TcpDns(buf) => {
                let take = bytes
                    .len()
                    .min((64 << 10) + 2 - buf.len().min((64 << 10) + 2));
                buf.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                while buf.len() >= 2 {
                    let n = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                    if buf.len() < 2 + n {
                        break;
                    }
                    match dns::parse(&buf[2..2 + n]) {
                        Some(m) => f.meta(Metadata::Dns(m)),
                        None => *f.malformed += 1,
                    }
                    buf.drain(..2 + n);
                }
                if take == 0 {
                    *p = Parser::Off;
                    return;
                }
            }
            Parser::Http {
                head,
                body,
                body_off,
                messages,
            } => match body {
                Body::None => {
                    let take = bytes.len().min(MAX_HEAD.saturating_sub(head.len()));
                    // A head inside one segment is parsed where it lies; only a head split
                    // across segments is copied.
                    let direct = if head.is_empty() {
                        find_head_end(&bytes[..take])
                    } else {
                        None
                    };
                    let (head_bytes, rest): (&[u8], usize) = match direct {
                        Some(end) => (&bytes[..end], end),
                        None => {
                            let start = head.len().saturating_sub(3);
                            head.extend_from_slice(&bytes[..take]);
                            let Some(end) = find_head_end(&head[start..]).map(|e| start + e) else {
                                if head.len() >= MAX_HEAD {
                                    *f.malformed += 1;
                                    *p = Parser::Off;
                                }
                                return;
                            };
                            // Bytes after the head taken from `bytes`.
                            let over = head.len() - end;
                            (&head[..end], take - over.min(take))
                        }
                    };
                    let head_len = head_bytes.len();
                    if f.dir == Direction::S2c {
                        let parsed = http::parse_response(head_bytes);
                        bytes = &bytes[rest..];
                        head.clear();
                        let Head::Complete(resp, _) = parsed else {
                            *f.malformed += 1;
                            *p = Parser::Off;
                            return;
                        };
                        let interim = (100..200).contains(&resp.status);
                        let request_body = if interim {
                            true
                        } else {
                            f.expect_body.pop_front().unwrap_or(true)
                        };
                        *body =
                            if interim || !request_body || resp.status == 204 || resp.status == 304
                            {
                                Body::None
                            } else if resp.chunked {
                                Body::Chunked(Chunked::Size(Vec::new()))
                            } else {
                                match resp.content_length {
                                    Some(0) => Body::None,
                                    Some(n) => Body::Length(n),
                                    None => Body::UntilClose,
                                }
                            };
                        *body_off = 0;
                        f.meta(Metadata::HttpResponse(resp));
                        if !interim {
                            *messages += 1;
                        }
                        continue;
                    }
                    let parsed = http::parse_request(head_bytes);
                    bytes = &bytes[rest..];
                    head.clear();
                    match parsed {
                        Head::Complete(mut req, _) => {
                            req.head_bytes = head_len as u64;
                            let connect = req.connect_host().is_some();
                            *body = if connect {
                                Body::None
                            } else if req.chunked {
                                Body::Chunked(Chunked::Size(Vec::new()))
                            } else {
                                match req.content_length {
                                    Some(n) if n > 0 => Body::Length(n),
                                    _ => Body::None,
                                }
                            };
                            *body_off = 0;
                            if f.expect_body.len() < 1024 {
                                f.expect_body
                                    .push_back(!req.method.eq_ignore_ascii_case("HEAD"));
                            }
                            f.meta(Metadata::HttpRequest(req));
                            *messages += 1;
                            if connect {
                                *f.connect_pending = true;
                                *p = Parser::Tunnel(Box::new(Parser::Sniff(Vec::new())));
                            }
                        }
                        _ => {
                            *f.malformed += 1;
                            *p = Parser::Off;
                            return;
                        }
                    }
                }
                Body::UntilClose => {
                    f.body(messages.saturating_sub(1), *body_off, bytes);
                    *body_off += bytes.len() as u64;
                    return;
                }
                Body::Length(left) => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    f.body(messages.saturating_sub(1), *body_off, &bytes[..n]);
                    *left -= n as u64;
                    *body_off += n as u64;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        *body = Body::None;
                    }
                }
                Body::Chunked(c) => {
                    let s = c.step(bytes);
                    if let Some(r) = s.body {
                        let piece = &bytes[r];
                        f.body(messages.saturating_sub(1), *body_off, piece);
                        *body_off += piece.len() as u64;
                    }
                    match c {
                        Chunked::Done => *body = Body::None,
                        Chunked::Bad => {
                            *f.malformed += 1;
                            *p = Parser::Off;
                            return;
                        }
                        _ => {}
                    }
                    bytes = &bytes[s.used..];
                }
            },
        }
    }
}

/// Reads the complete TLS handshake-phase records (types 20–22) at the start of `data`,
/// emitting each ClientHello; returns the bytes they take.
fn handshake_records(data: &[u8], f: &mut Feed<'_, '_>) -> usize {
    let mut used = 0;
    while let Some(n) = tls::first_record_len(&data[used..]) {
        let r = &data[used..];
        if r.len() < n || !matches!(r[0], 0x14..=0x16) {
            break;
        }
        if r[0] == 0x16 {
            match tls::client_hello(&r[..n]) {
                Some(h) => f.meta(Metadata::TlsClientHello(h)),
                None if f.dir == Direction::C2s && r.get(5) == Some(&1) => *f.malformed += 1,
                None => {}
            }
        }
        used += n;
    }
    used
}

/// Feeds `data` through a TCP flow's parsers as two interleaved directions (split by the
/// first byte), counting events: an entry point for fuzzing the stream parsers.
pub fn fuzz_stream(data: &[u8]) -> usize {
    let Some((&cut, rest)) = data.split_first() else {
        return 0;
    };
    let mut app = App::tcp(cut & 1 == 1);
    let mut events = 0;
    let mut count = |_: AppOut<'_>| events += 1;
    let frame = FrameRef::default();
    for (i, piece) in rest.chunks(usize::from(cut).max(1)).enumerate() {
        let dir = if i % 3 == 2 {
            Direction::S2c
        } else {
            Direction::C2s
        };
        if i % 7 == 6 {
            app.gap(dir, piece.len() as u64);
        } else {
            app.data(dir, Timestamp(i as i64), frame, piece, &mut count);
        }
    }
    events
}

/// Position just after the blank line ending a message head (`\r\n\r\n`, or bare `\n`
/// line ends as some clients send).
fn find_head_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        let next = nl + 1;
        match b.get(next) {
            Some(b'\n') => return Some(next + 1),
            Some(b'\r') if b.get(next + 1) == Some(&b'\n') => return Some(next + 2),
            _ => i = next,
        }
    }
    None
}

#[cfg(test)]
mod tests;
