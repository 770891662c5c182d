//! Helpers for exfilmeter benchmarks: a deterministic synthetic capture writer.
//!
//! [`write_capture`] writes a classic pcap of realistic TCP sessions (handshake,
//! MSS-sized data segments, delayed ACKs, FIN), DNS over UDP, some 802.1Q-tagged and
//! some IPv6 traffic, with valid IPv4 header checksums. The same seed gives the same
//! bytes. It is used to make the ≥ 1 GB benchmark capture and the bundled example.

use std::io::{self, Write};

/// xorshift64*: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// In `0..n`, small values most often (uniform below a uniform bound).
    pub fn skewed(&mut self, n: u64) -> u64 {
        let bound = 1 + self.below(n);
        self.below(bound)
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Stop after writing at least this many bytes.
    pub target_bytes: u64,
    /// Seed.
    pub seed: u64,
    /// First packet time (Unix seconds).
    pub start_secs: u32,
    /// Capture time runs this many times faster than the generator's clock (1: as
    /// generated). `gencap --many-flows-live` uses 20: the same packets in a twentieth of the
    /// time, so connections that linger after their FIN (30 s) are all still open at the end
    /// — the most flows held at once a capture of this size can ask for.
    pub time_div: u64,
}

struct Writer<W: Write> {
    out: W,
    written: u64,
    ts_us: u64,
    frame: Vec<u8>,
    /// First packet time (µs) and the divisor of the time since then ([`GenConfig::time_div`]).
    t0_us: u64,
    time_div: u64,
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

impl<W: Write> Writer<W> {
    fn record(&mut self) -> io::Result<()> {
        let ts = self.t0_us + self.ts_us.saturating_sub(self.t0_us) / self.time_div.max(1);
        let secs = (ts / 1_000_000) as u32;
        let usec = (ts % 1_000_000) as u32;
        let len = self.frame.len() as u32;
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&secs.to_le_bytes());
        hdr[4..8].copy_from_slice(&usec.to_le_bytes());
        hdr[8..12].copy_from_slice(&len.to_le_bytes());
        hdr[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&hdr)?;
        self.out.write_all(&self.frame)?;
        self.written += 16 + u64::from(len);
        Ok(())
    }

    /// Ethernet (+ optional VLAN) + IPv4 + TCP/UDP with `payload` bytes of filler.
    #[allow(clippy::too_many_arguments)]
    fn ipv4(
        &mut self,
        vlan: Option<u16>,
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: usize,
        fill: u8,
    ) -> io::Result<()> {
        self.headers(
            vlan, src, dst, proto, sport, dport, seq, ack, flags, payload,
        );
        let f = &mut self.frame;
        f.resize(f.len() + payload, fill);
        self.record()
    }

    /// Like [`Writer::ipv4`] with these payload bytes.
    #[allow(clippy::too_many_arguments)]
    fn ipv4_data(
        &mut self,
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        data: &[u8],
    ) -> io::Result<()> {
        self.headers(
            None,
            src,
            dst,
            proto,
            sport,
            dport,
            seq,
            ack,
            flags,
            data.len(),
        );
        self.frame.extend_from_slice(data);
        self.record()
    }

    /// Ethernet, IPv4 and TCP/UDP headers for `payload` bytes into `self.frame`.
    #[allow(clippy::too_many_arguments)]
    fn headers(
        &mut self,
        vlan: Option<u16>,
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: usize,
    ) {
        let f = &mut self.frame;
        f.clear();
        f.extend_from_slice(&[
            0x00, 0x1b, 0x21, 0x3a, 0x4b, 0x5c, 0x00, 0x1c, 0x42, 0x11, 0x22, 0x33,
        ]);
        if let Some(v) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let ip_start = f.len();
        let l4 = if proto == 6 { 20 } else { 8 };
        let total = (20 + l4 + payload) as u16;
        f.extend_from_slice(&[0x45, 0x00]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        let c = checksum(&f[ip_start..ip_start + 20]);
        f[ip_start + 10..ip_start + 12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        if proto == 6 {
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&ack.to_be_bytes());
            f.extend_from_slice(&[0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
        } else {
            f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
    }
}

fn start<W: Write>(out: W, start_secs: u32) -> io::Result<Writer<W>> {
    let mut w = Writer {
        out,
        written: 0,
        ts_us: u64::from(start_secs) * 1_000_000,
        frame: Vec::with_capacity(2048),
        t0_us: u64::from(start_secs) * 1_000_000,
        time_div: 1,
    };
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&65_535u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    w.out.write_all(&hdr)?;
    w.written = 24;
    Ok(w)
}

/// `n` SYNs from distinct client endpoints to one server, never answered: `n`
/// concurrent half-open flows (a memory stress test for the flow table).
pub fn write_synflood<W: Write>(out: W, n: u64, start_secs: u32) -> io::Result<u64> {
    let mut w = start(out, start_secs)?;
    for i in 0..n {
        let ip = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let port = 1024 + (i % 60_000) as u16;
        w.ts_us += 1;
        w.ipv4(
            None,
            ip,
            [203, 0, 113, 1],
            6,
            port,
            80,
            i as u32,
            0,
            0x02,
            0,
            0,
        )?;
    }
    w.out.flush()?;
    Ok(w.written)
}

/// One TCP upload whose first data segment is missing from the capture, followed by
/// `bytes` of in-order data: everything waits behind the hole (a stress test for the
/// out-of-order caps).
pub fn write_hole<W: Write>(out: W, bytes: u64, start_secs: u32) -> io::Result<u64> {
    let mut w = start(out, start_secs)?;
    let (c, s) = ([10, 1, 20, 37], [203, 0, 113, 10]);
    w.ipv4(None, c, s, 6, 50_000, 80, 999, 0, 0x02, 0, 0)?;
    w.ts_us += 100;
    w.ipv4(None, s, c, 6, 80, 50_000, 5000, 1000, 0x12, 0, 0)?;
    let mut seq = 1000u32.wrapping_add(1460); // the first segment is never captured
    let mut sent = 0u64;
    while sent < bytes {
        w.ts_us += 10;
        w.ipv4(None, c, s, 6, 50_000, 80, seq, 5001, 0x18, 1460, b'h')?;
        seq = seq.wrapping_add(1460);
        sent += 1460;
    }
    w.ipv4(None, c, s, 6, 50_000, 80, seq, 5001, 0x11, 0, 0)?;
    w.out.flush()?;
    Ok(w.written)
}

/// Writes a synthetic pcap (Ethernet, µs) of about `cfg.target_bytes` bytes.
pub fn write_capture<W: Write>(out: W, cfg: &GenConfig) -> io::Result<u64> {
    let mut w = start(out, cfg.start_secs)?;
    w.time_div = cfg.time_div;
    let mut rng = Rng::new(cfg.seed);
    let mut session = 0u32;
    while w.written < cfg.target_bytes {
        session += 1;
        let client = [
            10,
            1,
            (rng.below(4) + 10) as u8,
            (rng.below(200) + 10) as u8,
        ];
        let server = [203, 0, 113, (rng.below(250) + 1) as u8];
        let vlan = if rng.below(4) == 0 { Some(20) } else { None };
        let sport = 32_768 + (session % 28_000) as u16;
        // A DNS lookup before most sessions.
        if rng.below(3) > 0 {
            w.ts_us += 200;
            w.ipv4(
                vlan,
                client,
                [10, 1, 0, 53],
                17,
                sport,
                53,
                0,
                0,
                0,
                33,
                b'q',
            )?;
            w.ts_us += 900;
            w.ipv4(
                vlan,
                [10, 1, 0, 53],
                client,
                17,
                53,
                sport,
                0,
                0,
                0,
                49,
                b'a',
            )?;
        }
        let (mut cseq, mut sseq) = (rng.next_u64() as u32, rng.next_u64() as u32);
        let dport = if rng.below(2) == 0 { 80 } else { 443 };
        w.ts_us += 1000;
        w.ipv4(vlan, client, server, 6, sport, dport, cseq, 0, 0x02, 0, 0)?;
        w.ts_us += 30_000;
        w.ipv4(
            vlan,
            server,
            client,
            6,
            dport,
            sport,
            sseq,
            cseq.wrapping_add(1),
            0x12,
            0,
            0,
        )?;
        cseq = cseq.wrapping_add(1);
        sseq = sseq.wrapping_add(1);
        w.ts_us += 100;
        w.ipv4(
            vlan, client, server, 6, sport, dport, cseq, sseq, 0x10, 0, 0,
        )?;
        // Uploads dominate (that is what exfiltration looks like); some downloads too.
        let upload = rng.below(3) > 0;
        let bytes = 20_000 + rng.below(400_000) as usize;
        let mut sent = 0;
        let mut seg = 0u32;
        while sent < bytes {
            let n = (bytes - sent).min(1460);
            w.ts_us += 50 + rng.below(100);
            if upload {
                w.ipv4(
                    vlan, client, server, 6, sport, dport, cseq, sseq, 0x18, n, b'u',
                )?;
                cseq = cseq.wrapping_add(n as u32);
            } else {
                w.ipv4(
                    vlan, server, client, 6, dport, sport, sseq, cseq, 0x18, n, b'd',
                )?;
                sseq = sseq.wrapping_add(n as u32);
            }
            sent += n;
            seg += 1;
            if seg % 2 == 0 {
                w.ts_us += 20;
                if upload {
                    w.ipv4(
                        vlan, server, client, 6, dport, sport, sseq, cseq, 0x10, 0, 0,
                    )?;
                } else {
                    w.ipv4(
                        vlan, client, server, 6, sport, dport, cseq, sseq, 0x10, 0, 0,
                    )?;
                }
            }
        }
        w.ts_us += 1000;
        w.ipv4(
            vlan, client, server, 6, sport, dport, cseq, sseq, 0x11, 0, 0,
        )?;
        w.ts_us += 30_000;
        w.ipv4(
            vlan,
            server,
            client,
            6,
            dport,
            sport,
            sseq,
            cseq.wrapping_add(1),
            0x11,
            0,
            0,
        )?;
        w.ts_us += 100;
        w.ipv4(
            vlan,
            client,
            server,
            6,
            sport,
            dport,
            cseq.wrapping_add(1),
            sseq.wrapping_add(1),
            0x10,
            0,
            0,
        )?;
        w.ts_us += rng.below(2_000_000);
    }
    w.out.flush()?;
    Ok(w.written)
}

/// The IOC network of [`write_many_flows`]: half of its servers are in it.
pub const MANY_FLOWS_IOC: &str = "198.51.100.0/25";

/// Server `i` of [`write_many_flows`] (0..640): 0..320 inside [`MANY_FLOWS_IOC`] (its 128
/// addresses, each taken by several `i`), the rest in 198.51.100.128/25, 203.0.113.0/24 and
/// 192.0.2.0/26.
fn many_server(i: u64) -> [u8; 4] {
    match i {
        0..=319 => [198, 51, 100, (i % 128) as u8],
        320..=447 => [198, 51, 100, (i - 320 + 128) as u8],
        448..=575 => [203, 0, 113, (i - 448) as u8],
        _ => [192, 0, 2, (i - 576) as u8],
    }
}

/// The Host / SNI name `n` (0..1000) of [`write_many_flows`].
fn many_host(n: u64) -> String {
    format!("api{n}.svc{}.example.com", n % 37)
}

/// A TLS record of `content` type with `n` bytes of filler.
fn tls_record(content: u8, n: usize, fill: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[content, 3, 3]);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.resize(out.len() + n, fill);
}

/// One short connection of [`write_many_flows`]: its packets, produced one at a time.
struct ShortFlow {
    client: [u8; 4],
    server: [u8; 4],
    sport: u16,
    dport: u16,
    cseq: u32,
    sseq: u32,
    /// Application messages still to send: (from client, bytes).
    msgs: std::collections::VecDeque<(bool, Vec<u8>)>,
    /// 0 SYN, 1 SYN-ACK, 2 ACK, 3 messages, 4 FIN, 5 FIN, 6 ACK, 7 done.
    stage: u8,
    /// Only a SYN (nobody answers).
    unanswered: bool,
    /// Ends with a client RST instead of the FIN exchange.
    reset: bool,
}

impl ShortFlow {
    /// Writes the next packet; false when the flow is finished.
    fn step<W: Write>(&mut self, w: &mut Writer<W>) -> io::Result<bool> {
        let (c, s, sp, dp) = (self.client, self.server, self.sport, self.dport);
        match self.stage {
            0 => {
                w.ipv4_data(c, s, 6, sp, dp, self.cseq, 0, 0x02, &[])?;
                self.cseq = self.cseq.wrapping_add(1);
                self.stage = if self.unanswered { 7 } else { 1 };
            }
            1 => {
                w.ipv4_data(s, c, 6, dp, sp, self.sseq, self.cseq, 0x12, &[])?;
                self.sseq = self.sseq.wrapping_add(1);
                self.stage = 2;
            }
            2 => {
                w.ipv4_data(c, s, 6, sp, dp, self.cseq, self.sseq, 0x10, &[])?;
                self.stage = 3;
            }
            3 => match self.msgs.pop_front() {
                Some((from_client, mut data)) => {
                    let n = data.len().min(1460);
                    let rest = data.split_off(n);
                    if from_client {
                        w.ipv4_data(c, s, 6, sp, dp, self.cseq, self.sseq, 0x18, &data)?;
                        self.cseq = self.cseq.wrapping_add(n as u32);
                    } else {
                        w.ipv4_data(s, c, 6, dp, sp, self.sseq, self.cseq, 0x18, &data)?;
                        self.sseq = self.sseq.wrapping_add(n as u32);
                    }
                    if rest.is_empty() {
                        // The peer acknowledges each message.
                        if from_client {
                            w.ipv4_data(s, c, 6, dp, sp, self.sseq, self.cseq, 0x10, &[])?;
                        } else {
                            w.ipv4_data(c, s, 6, sp, dp, self.cseq, self.sseq, 0x10, &[])?;
                        }
                    } else {
                        self.msgs.push_front((from_client, rest));
                    }
                }
                None if self.reset => {
                    w.ipv4_data(c, s, 6, sp, dp, self.cseq, self.sseq, 0x14, &[])?;
                    self.stage = 7;
                }
                None => {
                    w.ipv4_data(c, s, 6, sp, dp, self.cseq, self.sseq, 0x11, &[])?;
                    self.cseq = self.cseq.wrapping_add(1);
                    self.stage = 5;
                }
            },
            5 => {
                w.ipv4_data(s, c, 6, dp, sp, self.sseq, self.cseq, 0x11, &[])?;
                self.sseq = self.sseq.wrapping_add(1);
                self.stage = 6;
            }
            6 => {
                w.ipv4_data(c, s, 6, sp, dp, self.cseq, self.sseq, 0x10, &[])?;
                self.stage = 7;
            }
            _ => {}
        }
        Ok(self.stage != 7)
    }
}

/// Writes a synthetic pcap of many short connections, the shape of enterprise egress:
/// HTTP requests (GET, POST bodies of 0–1,200 bytes, keep-alive with 1–3 exchanges) and
/// responses of 60–2,900 bytes (small ones most often), TLS sessions with a ClientHello naming the host, DNS
/// lookups with A answers before a third of the connections, 2 % SYNs never answered and
/// 5 % connections ended by RST. Half the connections go to the 128 servers of
/// [`MANY_FLOWS_IOC`], the rest to 320 others; 1,000
/// Host/SNI names; 4,000 clients. Connections run interleaved, between 1 and 256 at a
/// time (the concurrency changes every 5,000 connections), so some stretches are serial.
/// Returns the bytes written; `flows` receives the number of TCP connections.
pub fn write_many_flows<W: Write>(out: W, cfg: &GenConfig, flows: &mut u64) -> io::Result<u64> {
    let mut w = start(out, cfg.start_secs)?;
    w.time_div = cfg.time_div;
    let mut rng = Rng::new(cfg.seed);
    let mut active: Vec<ShortFlow> = Vec::new();
    let mut concurrency = 64usize;
    let mut started = 0u64;
    let resolver = [10, 2, 0, 53];
    while w.written < cfg.target_bytes || !active.is_empty() {
        let want_more = w.written < cfg.target_bytes;
        if want_more && active.len() < concurrency {
            started += 1;
            if started % 5_000 == 0 {
                concurrency = 1 + rng.below(256) as usize;
            }
            let ci = rng.below(4_000);
            let client = [10, 2, 1 + (ci / 250) as u8, (ci % 250) as u8 + 1];
            let si = rng.below(640);
            let server = many_server(si);
            let host_n = (si * 7 + rng.below(3) * 331) % 1_000;
            let name = many_host(host_n);
            let sport = 1_024 + (rng.below(64_000)) as u16;
            if rng.below(3) == 0 {
                let id = rng.below(65_536) as u16;
                w.ts_us += 100;
                let q = exfilmeter_synth::dns_message(id, &name, None);
                w.ipv4_data(client, resolver, 17, sport ^ 0x5a5a, 53, 0, 0, 0, &q)?;
                w.ts_us += 400 + rng.below(2_000);
                let a = exfilmeter_synth::dns_message(id, &name, Some(server));
                w.ipv4_data(resolver, client, 17, 53, sport ^ 0x5a5a, 0, 0, 0, &a)?;
            }
            let tls = rng.below(10) < 3;
            let mut msgs = std::collections::VecDeque::new();
            if tls {
                msgs.push_back((true, exfilmeter_synth::client_hello(&name)));
                let mut hello = Vec::new();
                let n = 300 + rng.skewed(2_600) as usize;
                tls_record(22, n, b's', &mut hello);
                msgs.push_back((false, hello));
                for _ in 0..1 + u64::from(rng.below(4) == 0) {
                    let mut up = Vec::new();
                    tls_record(23, 20 + rng.below(900) as usize, b'e', &mut up);
                    msgs.push_back((true, up));
                    let mut down = Vec::new();
                    tls_record(23, 40 + rng.skewed(1_400) as usize, b'f', &mut down);
                    msgs.push_back((false, down));
                }
            } else {
                let exchanges = 1 + u64::from(rng.below(4) == 0) + u64::from(rng.below(20) == 0);
                for _ in 0..exchanges {
                    use std::io::Write as _;
                    let mut req = Vec::with_capacity(1_400);
                    if rng.below(5) < 3 {
                        let _ = write!(
                            req,
                            "GET /v1/item/{} HTTP/1.1\r\nHost: ",
                            rng.below(100_000)
                        );
                        req.extend_from_slice(name.as_bytes());
                        req.extend_from_slice(b"\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n");
                    } else {
                        let body = rng.skewed(1_200) as usize;
                        let _ = write!(req, "POST /v1/events HTTP/1.1\r\nHost: ");
                        req.extend_from_slice(name.as_bytes());
                        let _ = write!(
                            req,
                            "\r\nContent-Type: application/json\r\nContent-Length: {body}\r\n\r\n"
                        );
                        req.resize(req.len() + body, b'p');
                    }
                    msgs.push_back((true, req));
                    let body = 60 + rng.skewed(2_840) as usize;
                    let mut resp = Vec::with_capacity(body + 80);
                    let _ = write!(
                        resp,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body}\r\n\r\n"
                    );
                    resp.resize(resp.len() + body, b'r');
                    msgs.push_back((false, resp));
                }
            }
            active.push(ShortFlow {
                client,
                server,
                sport,
                dport: if tls { 443 } else { 80 },
                cseq: rng.next_u64() as u32,
                sseq: rng.next_u64() as u32,
                msgs,
                stage: 0,
                unanswered: rng.below(50) == 0,
                reset: rng.below(20) == 0,
            });
            *flows += 1;
        }
        if active.is_empty() {
            continue;
        }
        let i = rng.below(active.len() as u64) as usize;
        w.ts_us += 5 + rng.below(200);
        if !active[i].step(&mut w)? {
            active.swap_remove(i);
        }
    }
    w.out.flush()?;
    Ok(w.written)
}

/// `n` synthetic indicators (addresses, /24 networks, domains, `*.suffixes`, URLs) in the
/// text format, none of which matches the synthetic traffic except one CIDR every 1,000
/// lines that covers a benchmark server network (so attribution work is exercised).
pub fn write_iocs<W: Write>(mut out: W, n: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    writeln!(out, "# {n} synthetic indicators for benchmarks")?;
    for i in 0..n {
        let a = 11 + rng.below(180) as u8;
        let (b, c, d) = (rng.below(256), rng.below(256), 1 + rng.below(254));
        match i % 5 {
            _ if i % 1000 == 999 => writeln!(out, "203.0.113.{}/32", 1 + (i / 1000) % 250)?,
            0 => writeln!(out, "{a}.{b}.{c}.{d}")?,
            1 => writeln!(out, "{a}.{b}.{c}.0/24")?,
            2 => writeln!(out, "host{i}.bad{}.example.net", rng.below(1000))?,
            3 => writeln!(out, "*.drop{i}.example.org")?,
            _ => writeln!(out, "hxxp://cdn{i}[.]evil{}[.]example/x", rng.below(100))?,
        }
    }
    out.flush()
}

/// Family names, given names (with their romanisation for the e-mail address), places,
/// companies, departments and titles of [`write_member_records`].
const FAMILY: [(&str, &str); 24] = [
    ("田中", "tanaka"),
    ("鈴木", "suzuki"),
    ("佐藤", "sato"),
    ("高橋", "takahashi"),
    ("伊藤", "ito"),
    ("渡辺", "watanabe"),
    ("山本", "yamamoto"),
    ("中村", "nakamura"),
    ("小林", "kobayashi"),
    ("加藤", "kato"),
    ("吉田", "yoshida"),
    ("山田", "yamada"),
    ("佐々木", "sasaki"),
    ("山口", "yamaguchi"),
    ("松本", "matsumoto"),
    ("井上", "inoue"),
    ("木村", "kimura"),
    ("林", "hayashi"),
    ("清水", "shimizu"),
    ("斎藤", "saito"),
    ("Smith", "smith"),
    ("Brown", "brown"),
    ("Garcia", "garcia"),
    ("Lee", "lee"),
];
const GIVEN: [(&str, &str, &str); 20] = [
    ("健一", "kenichi", "M"),
    ("大輔", "daisuke", "M"),
    ("翔太", "shota", "M"),
    ("拓也", "takuya", "M"),
    ("直樹", "naoki", "M"),
    ("誠", "makoto", "M"),
    ("浩", "hiroshi", "M"),
    ("John", "john", "M"),
    ("David", "david", "M"),
    ("Michael", "michael", "M"),
    ("恵子", "keiko", "F"),
    ("陽子", "yoko", "F"),
    ("美咲", "misaki", "F"),
    ("由美", "yumi", "F"),
    ("直美", "naomi", "F"),
    ("愛", "ai", "F"),
    ("裕子", "yuko", "F"),
    ("Mary", "mary", "F"),
    ("Emma", "emma", "F"),
    ("Sarah", "sarah", "F"),
];
const CITY: [(&str, &str); 12] = [
    ("東京都千代田区", "03"),
    ("東京都品川区", "03"),
    ("東京都世田谷区", "03"),
    ("大阪府大阪市北区", "06"),
    ("愛知県名古屋市中村区", "052"),
    ("北海道札幌市中央区", "011"),
    ("福岡県福岡市博多区", "092"),
    ("神奈川県横浜市西区", "045"),
    ("埼玉県さいたま市大宮区", "048"),
    ("京都府京都市中京区", "075"),
    ("兵庫県神戸市中央区", "078"),
    ("宮城県仙台市青葉区", "022"),
];
const TOWN: [&str; 10] = [
    "桜木町",
    "本町",
    "緑町",
    "幸町",
    "栄町",
    "中央",
    "旭町",
    "若葉",
    "港町",
    "東町",
];
const COMPANY: [&str; 10] = [
    "中央精機",
    "大空物産",
    "青葉フーズ",
    "日本通商",
    "東洋システム",
    "富士商事",
    "北斗電機",
    "光和建設",
    "三和化学",
    "朝日運輸",
];
const DEPT: [&str; 6] = [
    "営業部",
    "総務部",
    "経理部",
    "情報システム部",
    "企画部",
    "人事部",
];
const TITLE: [&str; 5] = ["担当", "主任", "係長", "課長", "部長"];
const MAIL: [&str; 4] = [
    "example.co.jp",
    "example.com",
    "example.ne.jp",
    "example.jp",
];

fn pick<'a, T>(rng: &mut Rng, list: &'a [T]) -> &'a T {
    &list[rng.below(list.len() as u64) as usize]
}

/// A date `yyyy/mm/dd` in `years` years from `first`.
fn date(rng: &mut Rng, line: &mut String, first: u64, years: u64) {
    use std::fmt::Write as _;
    let y = first + rng.below(years);
    let m = 1 + rng.below(12);
    let _ = write!(line, "{y}/{m:02}/{:02}", 1 + rng.below(28));
}

/// A phone number `area-nnnn-nnnn`.
fn phone(rng: &mut Rng, line: &mut String, area: &str) {
    use std::fmt::Write as _;
    let a = rng.below(10_000);
    let _ = write!(line, "{area}-{a:04}-{:04}", rng.below(10_000));
}

/// A postcode and an address in `city`: `nnn-nnnn,<city><town>c-b-h`.
fn address(rng: &mut Rng, line: &mut String, city: &str) {
    use std::fmt::Write as _;
    let post = (100 + rng.below(900), rng.below(10_000));
    let town = pick(rng, &TOWN);
    let (c, b) = (1 + rng.below(9), 1 + rng.below(30));
    let _ = write!(
        line,
        "{:03}-{:04},{city}{town}{c}-{b}-{}",
        post.0,
        post.1,
        1 + rng.below(20)
    );
}

/// Writes `n` member records of the model case's shape (member number, enrolment date, name,
/// birth date, gender, home postcode/address/phone/mobile, company, work
/// postcode/address/phone, department, title, e-mail; UTF-8, ~240 bytes each, LF-terminated),
/// deterministic for a seed. Member numbers are distinct. Returns the bytes written.
pub fn write_member_records<W: Write>(mut out: W, n: u64, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut written = 0u64;
    let mut line = String::with_capacity(512);
    for i in 0..n {
        use std::fmt::Write as _;
        line.clear();
        // Distinct: a random high part and the index.
        let member = 100_000_000 + (rng.below(9) * 100_000_000 / 10) + i % 10_000_000;
        let (fam, fam_r) = *pick(&mut rng, &FAMILY);
        let (giv, giv_r, sex) = *pick(&mut rng, &GIVEN);
        let (city, area) = *pick(&mut rng, &CITY);
        let (wcity, warea) = *pick(&mut rng, &CITY);
        let _ = write!(line, "{member},");
        date(&mut rng, &mut line, 1995, 20);
        let _ = write!(line, ",{fam} {giv},");
        date(&mut rng, &mut line, 1940, 60);
        let _ = write!(line, ",{sex},");
        address(&mut rng, &mut line, city);
        if rng.below(4) == 0 {
            let _ = write!(
                line,
                "{}ハイツ{}",
                pick(&mut rng, &TOWN),
                101 + rng.below(1200)
            );
        }
        let _ = write!(line, ",");
        phone(&mut rng, &mut line, area);
        let _ = write!(line, ",");
        if rng.below(2) == 0 {
            phone(&mut rng, &mut line, "090");
        }
        let _ = write!(line, ",株式会社{},", pick(&mut rng, &COMPANY));
        address(&mut rng, &mut line, wcity);
        let _ = write!(line, ",");
        phone(&mut rng, &mut line, warea);
        let _ = writeln!(
            line,
            ",{},{},{giv_r}.{fam_r}{}@{}",
            pick(&mut rng, &DEPT),
            pick(&mut rng, &TITLE),
            rng.below(1000),
            pick(&mut rng, &MAIL),
        );
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()?;
    Ok(written)
}
