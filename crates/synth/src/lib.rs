//! A deterministic generator of small breach incidents: benign browsing, DNS, C2 beacons,
//! and uploads of customer records to a malicious host over plain HTTP and TLS, with the
//! recovered staging file, the IOC list and the exact truth (records and client→server
//! stream bytes per local day and host). Used for the bundled example and for tests.

use std::fmt::Write as _;

/// xorshift64*: deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What one local day holds for one host in the truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTruth {
    /// Local day (`YYYY-MM-DD`, Asia/Tokyo).
    pub day: String,
    /// Malicious host name.
    pub host: String,
    /// Records uploaded.
    pub records: u64,
    /// Client→server TCP payload bytes (no loss: each byte once).
    pub stream_bytes: u64,
    /// Bytes of the records uploaded, as stored (HTTP body, or TLS plaintext).
    pub record_bytes: u64,
}

/// A generated incident.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Classic pcap (Ethernet, µs).
    pub pcap: Vec<u8>,
    /// IOC list (text format).
    pub iocs: String,
    /// The recovered staging file: CSV records, no header.
    pub recovered: String,
    /// Per day and host.
    pub truth: Vec<DayTruth>,
}

const EXFIL_HOST: &str = "sync.update-cdn.example.net";
const EXFIL_IP: [u8; 4] = [203, 0, 113, 10];
const TLS_HOST: &str = "api.telemetry.example.org";
const TLS_IP: [u8; 4] = [192, 0, 2, 45];
const C2_IP: [u8; 4] = [198, 51, 100, 23];
const PC: [u8; 4] = [10, 1, 20, 37];
const DNS: [u8; 4] = [10, 1, 0, 53];
/// 2014-09-17T00:00:00+09:00 in UTC seconds.
const DAY0: u64 = 1_410_879_600;

struct Pcap {
    out: Vec<u8>,
    ts_us: u64,
    ip_id: u16,
    /// Upload segments (by number) the capture misses.
    lost: Vec<usize>,
}

fn csum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

impl Pcap {
    fn new() -> Pcap {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&65_535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        Pcap {
            out,
            ts_us: 0,
            lost: Vec::new(),
            ip_id: 1,
        }
    }

    fn frame(&mut self, src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) {
        let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + l4.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&self.ip_id.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        ip.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        let (s, us) = (
            (self.ts_us / 1_000_000) as u32,
            (self.ts_us % 1_000_000) as u32,
        );
        for v in [s, us, f.len() as u32, f.len() as u32] {
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        self.out.extend_from_slice(&f);
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        src: [u8; 4],
        sp: u16,
        dst: [u8; 4],
        dp: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        data: &[u8],
    ) {
        let mut t = Vec::with_capacity(20 + data.len());
        t.extend_from_slice(&sp.to_be_bytes());
        t.extend_from_slice(&dp.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&ack.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xFA, 0xF0, 0, 0, 0, 0]);
        t.extend_from_slice(data);
        self.frame(src, dst, 6, &t);
    }

    /// A whole TCP connection: handshake, client data in MSS segments with ACKs, a short
    /// server answer, FIN both ways. Returns the client payload bytes.
    fn connection(
        &mut self,
        server: [u8; 4],
        port: u16,
        cport: u16,
        upload: &[u8],
        answer: &[u8],
    ) -> u64 {
        let (mut c, mut s) = (
            1_000_000u32.wrapping_add(u32::from(cport) * 7919),
            5_000_000u32,
        );
        self.tcp(PC, cport, server, port, c, 0, 0x02, b"");
        self.ts_us += 20_000;
        self.tcp(server, port, PC, cport, s, c + 1, 0x12, b"");
        c += 1;
        s += 1;
        self.ts_us += 100;
        self.tcp(PC, cport, server, port, c, s, 0x10, b"");
        for (i, chunk) in upload.chunks(1460).enumerate() {
            self.ts_us += 200;
            if !self.lost.contains(&i) {
                self.tcp(PC, cport, server, port, c, s, 0x18, chunk);
            }
            c = c.wrapping_add(chunk.len() as u32);
        }
        self.ts_us += 20_000;
        self.tcp(server, port, PC, cport, s, c, 0x18, answer);
        s = s.wrapping_add(answer.len() as u32);
        self.ts_us += 100;
        self.tcp(PC, cport, server, port, c, s, 0x11, b"");
        self.ts_us += 20_000;
        self.tcp(server, port, PC, cport, s, c + 1, 0x11, b"");
        self.ts_us += 100;
        self.tcp(PC, cport, server, port, c + 1, s + 1, 0x10, b"");
        upload.len() as u64
    }

    fn dns(&mut self, id: u16, name: &str, ip: [u8; 4], sport: u16) {
        let query = dns_message(id, name, None);
        let resp = dns_message(id, name, Some(ip));
        for (src, sp, dst, dp, body) in [(PC, sport, DNS, 53, &query), (DNS, 53, PC, sport, &resp)]
        {
            let mut u = Vec::new();
            u.extend_from_slice(&sp.to_be_bytes());
            u.extend_from_slice(&dp.to_be_bytes());
            u.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(body);
            self.frame(src, dst, 17, &u);
            self.ts_us += 3_000;
        }
    }
}

/// A DNS query for `name` (class IN, type A), or with `answer` the response giving that
/// address (TTL 3600, name compressed to the question).
pub fn dns_message(id: u16, name: &str, answer: Option<[u8; 4]>) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    match answer {
        None => m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
        Some(_) => m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
    }
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    if let Some(ip) = answer {
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4]);
        m.extend_from_slice(&ip);
    }
    m
}

/// A TLS 1.3 ClientHello record naming `sni` (server_name extension only).
pub fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sn = vec![0u8];
    sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sn.extend_from_slice(name);
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((sn.len() + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sn);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn record(rng: &mut Rng, i: u64) -> String {
    const NAMES: [&str; 6] = [
        "Sato Hanako",
        "Suzuki Ichiro",
        "Takahashi Yui",
        "Tanaka Ken",
        "Watanabe Aoi",
        "Ito Sora",
    ];
    let name = NAMES[(rng.below(6)) as usize];
    format!(
        "{:09},2009-0{}-1{},{name},19{}-0{}-2{},{},1{:02}-{:04},Tokyo Minato {}-{},03-{:04}-{:04},user{i}@mail.example.jp\n",
        100_000_000 + i * 7 + rng.below(7),
        1 + rng.below(9),
        rng.below(10),
        50 + rng.below(50),
        1 + rng.below(9),
        rng.below(10),
        if rng.below(2) == 0 { "F" } else { "M" },
        rng.below(100),
        rng.below(10_000),
        1 + rng.below(30),
        1 + rng.below(20),
        rng.below(10_000),
        rng.below(10_000),
    )
}

/// A classic pcap with one TCP connection from the infected PC (10.1.20.37) to
/// `server:port` that sends `upload` (in MSS segments) and gets `answer`, starting at
/// `start_secs` (UTC seconds). For tests of one upload's decoding and matching.
pub fn single_connection(
    server: [u8; 4],
    port: u16,
    upload: &[u8],
    answer: &[u8],
    start_secs: u64,
) -> Vec<u8> {
    let mut p = Pcap::new();
    p.ts_us = start_secs * 1_000_000;
    p.connection(server, port, 49_152, upload, answer);
    p.out
}

/// As [`single_connection`], the capture missing the upload's segments numbered `lost`
/// (0-based, 1460 bytes each): capture loss, seen as gaps in the stream.
pub fn single_connection_lossy(
    server: [u8; 4],
    port: u16,
    upload: &[u8],
    answer: &[u8],
    start_secs: u64,
    lost: &[usize],
) -> Vec<u8> {
    let mut p = Pcap::new();
    p.ts_us = start_secs * 1_000_000;
    p.lost = lost.to_vec();
    p.connection(server, port, 49_152, upload, answer);
    p.out
}

/// A classic pcap for tests of attribution by DNS: `before` connections from the infected
/// PC to `server`, then a DNS answer giving `name` → `server` (over UDP, or over TCP when
/// `tcp_dns`), then `after` connections, each from its own client port and one second after
/// the previous one, starting at `start_secs` (UTC seconds). Each connection uploads
/// `upload`.
pub fn dns_then_connections(
    server: [u8; 4],
    name: &str,
    (before, after): (u16, u16),
    tcp_dns: bool,
    upload: &[u8],
    start_secs: u64,
) -> Vec<u8> {
    let mut p = Pcap::new();
    p.ts_us = start_secs * 1_000_000;
    let mut at = start_secs;
    for i in 0..before {
        p.connection(server, 80, 40_000 + i, upload, b"HTTP/1.1 200 OK\r\n\r\n");
        at += 1;
        p.ts_us = at * 1_000_000;
    }
    if tcp_dns {
        let framed = |m: Vec<u8>| {
            let mut v = (m.len() as u16).to_be_bytes().to_vec();
            v.extend(m);
            v
        };
        let q = framed(dns_message(7, name, None));
        let r = framed(dns_message(7, name, Some(server)));
        p.connection(DNS, 53, 39_999, &q, &r);
    } else {
        p.dns(7, name, server, 39_999);
    }
    for i in 0..after {
        at += 1;
        p.ts_us = at * 1_000_000;
        p.connection(server, 80, 50_000 + i, upload, b"HTTP/1.1 200 OK\r\n\r\n");
    }
    p.out
}

/// Generates the incident for `seed`: three local days, 300 staged records.
pub fn generate(seed: u64) -> Incident {
    let mut rng = Rng(seed | 1);
    let staged: Vec<String> = (0..300).map(|i| record(&mut rng, i)).collect();
    let mut p = Pcap::new();
    let mut truth: Vec<DayTruth> = Vec::new();
    let mut cport = 49_152u16;
    let mut sent = 0usize;
    let mut dns_id = 1u16;
    // (day index, records over HTTP, records over TLS)
    for (day, http_n, tls_n) in [(0u64, 5usize, 0usize), (1, 40, 0), (2, 120, 90)] {
        let day_name = format!("2014-09-{}", 17 + day);
        // 08:30 local: office hours start.
        p.ts_us = (DAY0 + day * 86_400 + 8 * 3600 + 1800) * 1_000_000;
        let mut exfil = DayTruth {
            day: day_name.clone(),
            host: EXFIL_HOST.into(),
            ..DayTruth::default()
        };
        let mut tls = DayTruth {
            day: day_name.clone(),
            host: TLS_HOST.into(),
            ..DayTruth::default()
        };
        for hour in 0..10u64 {
            // Benign browsing with a lookup each hour.
            let benign = [93, 184, 216, (34 + hour) as u8];
            p.dns(
                dns_id,
                &format!("www{hour}.news.example.com"),
                benign,
                40_000 + dns_id,
            );
            dns_id += 1;
            cport += 1;
            let req =
                format!("GET /article/{hour} HTTP/1.1\r\nHost: www{hour}.news.example.com\r\n\r\n");
            p.connection(
                benign,
                80,
                cport,
                req.as_bytes(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            );
            // C2 beacon (listed by address only).
            cport += 1;
            p.connection(
                C2_IP,
                80,
                cport,
                b"GET /ping HTTP/1.1\r\nHost: ntp.sync-time.example.org\r\n\r\n",
                b"HTTP/1.1 204 No Content\r\n\r\n",
            );
            p.ts_us += 3_600_000_000 - 200_000;
            if hour == 5 && http_n > 0 {
                // The upload: look up the server, then POST the lines as stored.
                p.dns(dns_id, EXFIL_HOST, EXFIL_IP, 40_000 + dns_id);
                dns_id += 1;
                let body: String = staged[sent..sent + http_n].concat();
                sent += http_n;
                let req = format!("POST /u HTTP/1.1\r\nHost: {EXFIL_HOST}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                cport += 1;
                exfil.stream_bytes += p.connection(
                    EXFIL_IP,
                    80,
                    cport,
                    req.as_bytes(),
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                );
                exfil.records += http_n as u64;
                exfil.record_bytes += body.len() as u64;
            }
            if hour == 7 && tls_n > 0 {
                // TLS upload: only the SNI names the host; records travel encrypted.
                let plain: usize = staged[sent..sent + tls_n].iter().map(String::len).sum();
                sent += tls_n;
                let mut up = client_hello(TLS_HOST);
                let mut left = plain;
                while left > 0 {
                    let n = left.min(16_000);
                    up.extend_from_slice(&[0x17, 3, 3]);
                    up.extend_from_slice(&((n + 17) as u16).to_be_bytes());
                    up.extend((0..n + 17).map(|_| rng.below(256) as u8));
                    left -= n;
                }
                cport += 1;
                tls.stream_bytes += p.connection(
                    TLS_IP,
                    443,
                    cport,
                    &up,
                    &[
                        0x17, 3, 3, 0, 20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                        9,
                    ],
                );
                tls.records += tls_n as u64;
                tls.record_bytes += plain as u64;
            }
        }
        truth.push(exfil);
        if tls.records > 0 {
            truth.push(tls);
        }
    }
    let mut iocs = String::new();
    let _ = writeln!(iocs, "# Example incident indicators (synthetic)");
    let _ = writeln!(iocs, "{EXFIL_HOST}");
    let _ = writeln!(iocs, "198.51.100.0/25   # C2 range");
    let _ = writeln!(iocs, "{TLS_HOST}");
    Incident {
        pcap: p.out,
        iocs,
        recovered: staged.concat(),
        truth,
    }
}

/// One entry of [`zip_archive`].
#[derive(Debug, Clone, Copy)]
pub struct ZipEntry<'a> {
    /// File name.
    pub name: &'a str,
    /// Content.
    pub data: &'a [u8],
    /// Deflated (method 8) or stored (method 0).
    pub deflate: bool,
    /// Sizes and CRC in a data descriptor after the data (flag bit 3) instead of the header.
    pub descriptor: bool,
}

/// A zip archive laid out as PKWARE's APPNOTE describes it: local file headers with the
/// entries' data (stored or deflated, optionally followed by a data descriptor), then the
/// central directory and its end record (minimal: enough for a streaming reader, not a full
/// directory).
pub fn zip_archive(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let mut crc = flate2::Crc::new();
        crc.update(e.data);
        let body = if e.deflate {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing into a Vec cannot fail.
            let _ = enc.write_all(e.data);
            enc.finish().unwrap_or_default()
        } else {
            e.data.to_vec()
        };
        let offset = out.len() as u32;
        let flags: u16 = if e.descriptor { 8 } else { 0 };
        let method: u16 = if e.deflate { 8 } else { 0 };
        let (c, cs, us) = if e.descriptor {
            (0, 0, 0)
        } else {
            (crc.sum(), body.len() as u32, e.data.len() as u32)
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&c.to_le_bytes());
        out.extend_from_slice(&cs.to_le_bytes());
        out.extend_from_slice(&us.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&body);
        if e.descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        }
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[0; 38]);
        central.extend_from_slice(&offset.to_le_bytes());
    }
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 18]);
    out
}
