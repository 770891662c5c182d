//! Tracker tests: roles, closing, port reuse, timeouts, eviction, day splits.

use super::*;
use crate::sink::Collect;
use exfilmeter_ingest::{Decoded, Decoder, FileId, Frame, FrameRef, LinkType, Timestamp};

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [203, 0, 113, 9];

struct T {
    tracker: Tracker,
    decoder: Decoder,
    sink: Collect,
    n: u64,
    /// The clock and sweeps come from outside (a shard's): when the last sweep was.
    outside: Option<Timestamp>,
}

/// Frame `n` (1-based) of an Ethernet capture, stamped `ts_s` seconds.
fn frame(ts_s: i64, n: u64, bytes: &[u8]) -> Frame<'_> {
    Frame {
        ts: Timestamp(ts_s * NANOS_PER_SEC),
        ts_known: true,
        frame: FrameRef {
            file: FileId(0),
            index: n,
            offset: n * 100,
        },
        interface: 0,
        link: LinkType::ETHERNET,
        orig_len: bytes.len() as u32,
        data: bytes,
    }
}

/// An Ethernet frame with one UDP datagram.
fn udp_bytes(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, data: &[u8]) -> Vec<u8> {
    let total = (28 + data.len()) as u16;
    let mut v = vec![0u8; 12];
    v.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&(total - 20).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(data);
    v
}

#[allow(clippy::too_many_arguments)]
fn frame_bytes(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    data: &[u8],
) -> Vec<u8> {
    let total = (40 + data.len()) as u16;
    let mut v = vec![0u8; 12];
    v.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ack.to_be_bytes());
    v.extend_from_slice(&[0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    v.extend_from_slice(data);
    v
}

impl T {
    fn new(cfg: TrackerConfig) -> T {
        T {
            tracker: Tracker::new(cfg),
            decoder: Decoder::default(),
            sink: Collect::default(),
            n: 0,
            outside: None,
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        ts_s: i64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) {
        let bytes = frame_bytes(src, sport, dst, dport, flags, seq, ack, data);
        self.feed(ts_s, &bytes);
    }
    /// Decodes one Ethernet frame and hands its packet to the tracker.
    fn feed(&mut self, ts_s: i64, bytes: &[u8]) {
        self.n += 1;
        let f = frame(ts_s, self.n, bytes);
        let now = f.ts;
        if let Some(last) = self.outside.as_mut() {
            if Tracker::sweep_due(now, last) {
                self.tracker.tick(now, &mut self.sink);
            }
        }
        match (self.decoder.decode(&f), self.outside) {
            (Decoded::Packet(p), None) => self.tracker.packet(&p, &mut self.sink),
            (Decoded::Packet(p), Some(_)) => self.tracker.packet_at(&p, now, &mut self.sink),
            (other, _) => panic!("test frame did not decode: {other:?}"),
        }
    }
    /// One UDP datagram.
    fn udp(&mut self, ts_s: i64, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, data: &[u8]) {
        let v = udp_bytes(src, sport, dst, dport, data);
        self.feed(ts_s, &v);
    }
    fn c2s(&mut self, ts: i64, flags: u8, seq: u32, ack: u32, data: &[u8]) {
        self.send(ts, C, 50000, S, 80, flags, seq, ack, data);
    }
    fn s2c(&mut self, ts: i64, flags: u8, seq: u32, ack: u32, data: &[u8]) {
        self.send(ts, S, 80, C, 50000, flags, seq, ack, data);
    }
    fn finish(mut self) -> Vec<FlowRecord> {
        self.tracker.finish(&mut self.sink);
        self.sink.records
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;

fn handshake(t: &mut T, ts: i64) {
    t.c2s(ts, SYN, 100, 0, b"");
    t.s2c(ts, SYN | ACK, 500, 101, b"");
    t.c2s(ts, ACK, 101, 501, b"");
}

#[test]
fn syn_sender_is_the_client_even_from_a_high_port_to_a_low_one() {
    let mut t = T::new(TrackerConfig::default());
    t.send(0, S, 80, C, 50000, SYN, 1, 0, b""); // the well-known port opens
    let r = t.finish();
    assert_eq!(r[0].client.port, 80);
    assert_eq!(r[0].role_rule, RoleRule::Syn);
}

#[test]
fn without_handshake_the_well_known_port_is_the_server() {
    let mut t = T::new(TrackerConfig::default());
    t.s2c(0, ACK | PSH, 500, 101, b"response");
    let r = t.finish();
    assert_eq!(r[0].server.port, 80);
    assert_eq!(r[0].role_rule, RoleRule::Port);
    assert_eq!(r[0].ledger.total(Direction::S2c).stream_bytes, 8);
}

#[test]
fn equal_ports_without_handshake_make_the_first_sender_the_client() {
    // NTP-like 123↔123: whichever end speaks first is the client, whatever its address.
    for (first, second) in [(S, C), (C, S)] {
        let mut t = T::new(TrackerConfig::default());
        t.send(0, first, 123, second, 123, ACK | PSH, 1, 1, b"query");
        t.send(1, second, 123, first, 123, ACK | PSH, 1, 6, b"answer");
        let r = t.finish();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].client.ip, std::net::IpAddr::from(first));
        assert_eq!(r[0].role_rule, RoleRule::FirstPacket);
        assert_eq!(r[0].ledger.total(Direction::C2s).payload_bytes, 5);
    }
}

#[test]
fn equal_ports_with_an_ntp_or_dns_answer_first_make_its_sender_the_server() {
    // misordered NTP: the server's mode-4 answer is captured before the mode-3 request.
    let ntp = |mode: u8| {
        let mut m = vec![0u8; 48];
        m[0] = (4 << 3) | mode;
        m
    };
    let mut t = T::new(TrackerConfig::default());
    t.udp(0, S, 123, C, 123, &ntp(4));
    t.udp(1, C, 123, S, 123, &ntp(3));
    let r = t.finish();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].client.ip, std::net::IpAddr::from(C));
    assert_eq!(r[0].role_rule, RoleRule::Content);
    assert_eq!(r[0].ledger.total(Direction::S2c).frames, 1);
    // A request first keeps the first sender the client; symmetric modes decide nothing.
    let mut t = T::new(TrackerConfig::default());
    t.udp(0, S, 123, C, 123, &ntp(3));
    let r = t.finish();
    assert_eq!(
        (r[0].client.ip, r[0].role_rule),
        (std::net::IpAddr::from(S), RoleRule::Content)
    );
    let mut t = T::new(TrackerConfig::default());
    t.udp(0, S, 123, C, 123, &ntp(1));
    assert_eq!(t.finish()[0].role_rule, RoleRule::FirstPacket);
    // DNS between two servers (53↔53): a response's sender is the server.
    let mut resp = vec![0u8; 12];
    resp[2] = 0x81;
    let mut t = T::new(TrackerConfig::default());
    t.udp(0, S, 53, C, 53, &resp);
    let r = t.finish();
    assert_eq!(
        (r[0].client.ip, r[0].role_rule),
        (std::net::IpAddr::from(C), RoleRule::Content)
    );
}

#[test]
fn a_multicast_destination_is_never_the_client() {
    let group = [224, 0, 0, 251];
    let mut t = T::new(TrackerConfig::default());
    // From a well-known port to a high one: the port rule alone would make the sender the server.
    t.send(0, C, 80, group, 50000, ACK | PSH, 1, 1, b"announce");
    let r = t.finish();
    assert_eq!(r[0].client.ip, std::net::IpAddr::from(C));
    assert_eq!(r[0].server.ip, std::net::IpAddr::from(group));
    assert_eq!(r[0].role_rule, RoleRule::FirstPacket);
}

#[test]
fn syn_ack_retransmitted_with_a_new_isn_leaves_no_phantom_gap() {
    let mut t = T::new(TrackerConfig::default());
    t.c2s(0, SYN, 100, 0, b"");
    t.s2c(0, SYN | ACK, 500, 101, b"");
    t.s2c(1, SYN | ACK, 1_180_000_500, 101, b"");
    t.s2c(1, SYN | ACK, 500, 101, b""); // the first answer again, late
    t.c2s(1, ACK, 101, 1_180_000_501, b"");
    t.c2s(1, ACK | PSH, 101, 1_180_000_501, b"GET / HTTP/1.0\r\n\r\n");
    t.s2c(2, ACK | PSH, 1_180_000_501, 119, b"HTTP/1.0 200 OK\r\n\r\n");
    t.c2s(2, ACK | FIN, 119, 1_180_000_520, b"");
    t.s2c(2, ACK | FIN, 1_180_000_520, 120, b"");
    let r = t.finish();
    assert_eq!(r.len(), 1);
    let s2c = r[0].ledger.total(Direction::S2c);
    assert_eq!((s2c.stream_bytes, s2c.gap_bytes), (19, 0));
    assert_eq!(r[0].anomalies.tcp[1].implausible_proofs, 0);
}

#[test]
fn rst_after_fin_adds_no_gap_byte() {
    let mut t = T::new(TrackerConfig::default());
    handshake(&mut t, 0);
    t.c2s(1, ACK | PSH, 101, 501, b"abc");
    t.c2s(1, ACK | FIN, 104, 501, b"");
    t.s2c(1, ACK | FIN, 501, 105, b"");
    t.c2s(1, RST, 105, 0, b"");
    let r = t.finish();
    assert_eq!(r[0].ledger.total(Direction::C2s).gap_bytes, 0);
    assert_eq!(r[0].ledger.total(Direction::S2c).gap_bytes, 0);
}

#[test]
fn full_connection_closes_by_fin_with_zeek_like_history() {
    let mut t = T::new(TrackerConfig::default());
    handshake(&mut t, 0);
    t.c2s(1, ACK | PSH, 101, 501, b"GET / HTTP/1.1\r\n\r\n");
    t.s2c(1, ACK | PSH, 501, 119, b"HTTP/1.1 200 OK\r\n\r\n");
    t.c2s(2, ACK | FIN, 119, 520, b"");
    t.s2c(2, ACK | FIN, 520, 120, b"");
    t.c2s(2, ACK, 120, 521, b"");
    let r = t.finish();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].close, CloseReason::Fin);
    assert_eq!(r[0].history, "ShADdFf");
    assert_eq!(r[0].ledger.total(Direction::C2s).stream_bytes, 18);
    assert_eq!(r[0].ledger.total(Direction::S2c).stream_bytes, 19);
    assert_eq!(
        r[0].ledger.total(Direction::C2s).gap_bytes,
        0,
        "the ACK of a FIN proves no data"
    );
}

#[test]
fn rst_closes_and_late_packets_stay_in_the_flow() {
    let mut t = T::new(TrackerConfig::default());
    handshake(&mut t, 0);
    t.s2c(1, RST | ACK, 501, 101, b"");
    t.c2s(2, ACK, 101, 501, b""); // late, within the linger time
    let r = t.finish();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].close, CloseReason::Rst);
    assert_eq!(r[0].ledger.total(Direction::C2s).frames, 3);
}

#[test]
fn new_syn_after_close_is_a_new_flow_port_reuse() {
    let mut t = T::new(TrackerConfig::default());
    handshake(&mut t, 0);
    t.c2s(1, ACK | FIN, 101, 501, b"");
    t.s2c(1, ACK | FIN, 501, 102, b"");
    t.c2s(5, SYN, 9000, 0, b""); // same ports, new ISN
    let r = t.finish();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].close, CloseReason::Fin);
    assert_ne!(r[0].id, r[1].id);
}

#[test]
fn idle_flow_is_closed_by_capture_time_and_restarts() {
    let cfg = TrackerConfig {
        tcp_idle_ns: 60 * NANOS_PER_SEC,
        ..TrackerConfig::default()
    };
    let mut t = T::new(cfg);
    handshake(&mut t, 0);
    t.c2s(100, ACK | PSH, 101, 501, b"x"); // 100 s later: a new flow
    let r = t.finish();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].close, CloseReason::Idle);
}

#[test]
fn table_cap_evicts_the_least_recently_active_and_counts_it() {
    let cfg = TrackerConfig {
        max_flows: 10,
        ..TrackerConfig::default()
    };
    let mut t = T::new(cfg);
    for i in 0..25u16 {
        t.send(0, C, 40000 + i, S, 80, SYN, 1, 0, b"");
    }
    assert!(t.tracker.live_flows() <= 10);
    let evicted = t.tracker.stats().evicted;
    let r = t.finish();
    assert_eq!(r.len(), 25, "every flow is reported");
    assert_eq!(
        r.iter().filter(|f| f.close == CloseReason::Evicted).count() as u64,
        evicted
    );
    assert!(evicted >= 15);
}

#[test]
fn a_flow_crossing_local_midnight_is_split_by_packet_time() {
    // 2014-09-22T14:59:50Z is 23:59:50 in Tokyo.
    let base = 1_411_397_990;
    let cfg = TrackerConfig {
        tz: "Asia/Tokyo".parse().unwrap_or(chrono_tz::UTC),
        ..TrackerConfig::default()
    };
    let mut t = T::new(cfg);
    t.c2s(base, SYN, 100, 0, b"");
    t.c2s(base + 1, ACK | PSH, 101, 1, b"before");
    t.c2s(base + 20, ACK | PSH, 107, 1, b"after midnight");
    let r = t.finish();
    let rows: Vec<(String, u64)> = r[0]
        .ledger
        .rows()
        .iter()
        .map(|(_, d, c)| (d.to_string(), c.stream_bytes))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2014-09-22".to_string(), 6),
            ("2014-09-23".to_string(), 14)
        ]
    );
}

#[test]
fn new_york_dst_days_of_23_and_25_hours_bucket_by_local_day() {
    let cfg = TrackerConfig {
        tz: "America/New_York".parse().unwrap_or(chrono_tz::UTC),
        tcp_idle_ns: 100 * 3600 * 1_000_000_000,
        ..TrackerConfig::default()
    };
    let mut t = T::new(cfg);
    // 2014-03-09 is 23 hours long in New York: 00:00 EST = 05:00Z, 24:00 EDT = 04:00Z on
    // the 10th. 2014-11-02 is 25 hours long: 00:00 EDT = 04:00Z, 24:00 EST = 05:00Z on the
    // 3rd.
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp())
            .unwrap_or(0)
    };
    t.c2s(at("2014-03-09T04:59:59Z"), SYN, 100, 0, b"");
    t.c2s(at("2014-03-09T04:59:59Z"), ACK | PSH, 101, 1, b"a"); // 23:59:59 EST, Mar 8
    t.c2s(at("2014-03-09T05:00:00Z"), ACK | PSH, 102, 1, b"bb"); // 00:00 EST, Mar 9
    t.c2s(at("2014-03-10T03:59:59Z"), ACK | PSH, 104, 1, b"ccc"); // 23:59:59 EDT, Mar 9
    t.c2s(at("2014-03-10T04:00:00Z"), ACK | PSH, 107, 1, b"dddd"); // 00:00 EDT, Mar 10
    let r = t.finish();
    let rows: Vec<(String, u64)> = r[0]
        .ledger
        .rows()
        .iter()
        .map(|(_, d, c)| (d.to_string(), c.stream_bytes))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2014-03-08".to_string(), 1),
            ("2014-03-09".to_string(), 5),
            ("2014-03-10".to_string(), 4)
        ]
    );
    let mut t = T::new(TrackerConfig {
        tz: "America/New_York".parse().unwrap_or(chrono_tz::UTC),
        tcp_idle_ns: 100 * 3600 * 1_000_000_000,
        ..TrackerConfig::default()
    });
    t.c2s(at("2014-11-02T04:00:00Z"), SYN, 100, 0, b"");
    t.c2s(at("2014-11-02T04:00:00Z"), ACK | PSH, 101, 1, b"a"); // 00:00 EDT, Nov 2
    t.c2s(at("2014-11-03T04:59:59Z"), ACK | PSH, 102, 1, b"bb"); // 23:59:59 EST, Nov 2
    t.c2s(at("2014-11-03T05:00:00Z"), ACK | PSH, 104, 1, b"ccc"); // 00:00 EST, Nov 3
    let r = t.finish();
    let rows: Vec<(String, u64)> = r[0]
        .ledger
        .rows()
        .iter()
        .map(|(_, d, c)| (d.to_string(), c.stream_bytes))
        .collect();
    assert_eq!(
        rows,
        vec![("2014-11-02".to_string(), 3), ("2014-11-03".to_string(), 3)]
    );
}

#[test]
fn a_closing_connection_gives_its_windows_back_and_late_copies_count_as_unverified() {
    // A window budget of exactly one window: while the first connection is open, a second
    // one gets none; once the first has exchanged both FINs its window is free again.
    let cfg = TrackerConfig {
        window: 1 << 10,
        window_total: 1 << 10,
        ..TrackerConfig::default()
    };
    let mut t = T::new(cfg);
    handshake(&mut t, 0);
    t.c2s(1, ACK | PSH, 101, 501, b"first");
    t.c2s(2, ACK | FIN, 106, 501, b"");
    t.s2c(2, ACK | FIN, 501, 107, b"");
    assert_eq!(t.tracker.budget.win_used, 0, "released at the second FIN");
    // A late copy of the data after close: retransmitted, not compared (no window).
    t.c2s(3, ACK | PSH, 101, 502, b"first");
    // The next connection can take the window and compares its own retransmission.
    t.send(4, C, 50001, S, 80, SYN, 900, 0, b"");
    t.send(4, S, 80, C, 50001, SYN | ACK, 70, 901, b"");
    t.send(4, C, 50001, S, 80, ACK | PSH, 901, 71, b"second");
    t.send(5, C, 50001, S, 80, ACK | PSH, 901, 71, b"sEcond");
    assert_eq!(t.tracker.budget.win_used, 1 << 10);
    let r = t.finish();
    assert_eq!(r.len(), 2);
    let first = r[0].ledger.total(Direction::C2s);
    assert_eq!((first.stream_bytes, first.retrans_bytes), (5, 5));
    assert_eq!(r[0].anomalies.tcp[0].unverified_retrans_bytes, 5);
    let second = r[1].ledger.total(Direction::C2s);
    assert_eq!((second.retrans_bytes, second.conflict_bytes), (6, 1));
    assert_eq!(r[1].anomalies.tcp[0].unverified_retrans_bytes, 0);
}

/// Collects like [`Collect`], counting metadata, and says whether it wants the app layer.
struct Counting {
    inner: Collect,
    app: bool,
    meta: usize,
}

impl FlowSink for Counting {
    fn wants_app(&self) -> bool {
        self.app
    }
    fn metadata(&mut self, _flow: FlowId, _e: &crate::app::MetaEvent) {
        self.meta += 1;
    }
    fn closed(&mut self, r: FlowRecord) {
        self.inner.closed(r);
    }
}

#[test]
fn a_sink_without_use_for_the_app_layer_gets_the_same_ledger_without_parsing() {
    let run = |app: bool| {
        let mut t = T::new(TrackerConfig::default());
        let mut sink = Counting {
            inner: Collect::default(),
            app,
            meta: 0,
        };
        let frames = [
            frame_bytes(C, 50000, S, 80, SYN, 100, 0, b""),
            frame_bytes(S, 80, C, 50000, SYN | ACK, 500, 101, b""),
            frame_bytes(
                C,
                50000,
                S,
                80,
                ACK | PSH,
                101,
                501,
                b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
            ),
            frame_bytes(
                S,
                80,
                C,
                50000,
                ACK | PSH,
                501,
                137,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ),
            frame_bytes(C, 50000, S, 80, ACK | FIN, 137, 541, b""),
            frame_bytes(S, 80, C, 50000, ACK | FIN, 541, 138, b""),
        ];
        for (i, bytes) in frames.iter().enumerate() {
            let f = Frame {
                ts: Timestamp(i as i64 * NANOS_PER_SEC),
                ts_known: true,
                frame: FrameRef {
                    file: FileId(0),
                    index: i as u64 + 1,
                    offset: i as u64 * 100,
                },
                interface: 0,
                link: LinkType::ETHERNET,
                data: bytes,
                orig_len: bytes.len() as u32,
            };
            if let Decoded::Packet(p) = t.decoder.decode(&f) {
                t.tracker.packet(&p, &mut sink);
            }
        }
        t.tracker.finish(&mut sink);
        let r = sink
            .inner
            .records
            .pop()
            .map(|r| (r.ledger, r.history, r.close));
        (r, sink.meta)
    };
    let (with, meta_with) = run(true);
    let (without, meta_without) = run(false);
    assert_eq!(
        (meta_with, meta_without),
        (2, 0),
        "request and response heads"
    );
    assert!(with.is_some());
    assert_eq!(with, without);
}

#[test]
fn both_directions_of_a_flow_hash_to_one_shard_and_flows_spread_over_all() {
    let mut d = Decoder::default();
    let mut counts = [0usize; 8];
    for port in 1000..3000u16 {
        let a = frame_bytes(C, port, S, 443, ACK, 1, 1, b"x");
        let b = frame_bytes(S, 443, C, port, ACK, 1, 1, b"y");
        let mut shard = |bytes: &[u8], n: usize| match d.decode(&frame(0, 1, bytes)) {
            Decoded::Packet(p) => crate::key::shard_of(&p, n),
            other => panic!("{other:?}"),
        };
        for n in [1, 2, 3, 8] {
            let (x, y) = (shard(&a, n), shard(&b, n));
            assert_eq!(x, y, "port {port}, {n} shards");
            assert!(x < n);
            if n == 8 {
                counts[x] += 1;
            }
        }
    }
    // 2,000 flows over 8 shards: each gets a fair share (250 expected).
    assert!(
        counts.iter().all(|&c| (180..=320).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn a_tracker_ticked_from_outside_ends_flows_as_one_that_sweeps_itself() {
    // Flows idle at different times, packets of other flows moving the clock on: the tracker
    // given the run's clock and its sweeps from outside ends the same flows with the same
    // records in the same order.
    let feed = |outside: bool| {
        let cfg = TrackerConfig {
            udp_idle_ns: 15 * NANOS_PER_SEC,
            ..TrackerConfig::default()
        };
        let mut t = T::new(cfg);
        if outside {
            t.outside = Some(Timestamp(i64::MIN));
        }
        for i in 0..200i64 {
            let sport = 40_000 + (i % 7) as u16 * (1 + (i / 50) as u16);
            t.udp(i * 3, C, sport, S, 9999, &[i as u8; 20]);
        }
        let closed_before_end = t.sink.records.len();
        (closed_before_end, t.finish())
    };
    let (n_self, own) = feed(false);
    let (n_out, outside) = feed(true);
    assert!(n_self > 10, "{n_self} flows ended by sweeps");
    assert_eq!(n_self, n_out);
    assert_eq!(format!("{own:?}"), format!("{outside:?}"));
}

/// Collects, and keeps the DTLS ClientHellos' server names and the tunnel-end reports.
#[derive(Default)]
struct Hellos {
    inner: Collect,
    sni: Vec<Option<String>>,
    tunnels: Vec<exfilmeter_ingest::TunnelEnds>,
}

impl FlowSink for Hellos {
    fn metadata(&mut self, _flow: FlowId, e: &crate::app::MetaEvent) {
        if let Metadata::DtlsClientHello(h) = &e.meta {
            self.sni.push(h.sni.clone());
        }
    }
    fn tunnel(
        &mut self,
        _flow: FlowId,
        ends: &exfilmeter_ingest::TunnelEnds,
        _ts: Timestamp,
        _frame: FrameRef,
    ) {
        self.tunnels.push(*ends);
    }
    fn closed(&mut self, r: FlowRecord) {
        self.inner.closed(r);
    }
}

/// Feeds Ethernet frames one by one into a tracker with sink `sink`.
fn feed_all(frames: &[Vec<u8>], sink: &mut Hellos) {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut decoder = Decoder::default();
    for (i, bytes) in frames.iter().enumerate() {
        let f = frame(i as i64, i as u64 + 1, bytes);
        match decoder.decode(&f) {
            Decoded::Packet(p) => tracker.packet(&p, sink),
            other => panic!("test frame did not decode: {other:?}"),
        }
    }
    tracker.finish(sink);
}

#[test]
fn a_dtls_client_hello_names_its_sender_the_client_and_is_read_after_stun() {
    use crate::app::dtls::tests_support::{body, records};
    let hello = records(&body("webrtc.example"), 1 << 16, 1).concat();
    // From port 1000 to port 40000: the port rule would make the sender the server.
    let mut sink = Hellos::default();
    feed_all(&[udp_bytes(C, 1000, S, 40000, &hello)], &mut sink);
    let r = &sink.inner.records[0];
    assert_eq!(r.client.ip, std::net::IpAddr::from(C));
    assert_eq!(r.role_rule, RoleRule::Content);
    assert_eq!(sink.sni, [Some("webrtc.example".to_string())]);
    // STUN binding requests and answers first (as WebRTC sends them), then the handshake.
    let stun = [
        0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    let mut frames: Vec<Vec<u8>> = (0..5)
        .flat_map(|_| {
            [
                udp_bytes(C, 50000, S, 50001, &stun),
                udp_bytes(S, 50001, C, 50000, &stun),
            ]
        })
        .collect();
    frames.push(udp_bytes(C, 50000, S, 50001, &hello));
    let mut sink = Hellos::default();
    feed_all(&frames, &mut sink);
    assert_eq!(sink.sni, [Some("webrtc.example".to_string())]);
    // Beyond the first 16 datagrams, nothing more is looked at.
    let mut frames: Vec<Vec<u8>> = (0..16)
        .map(|_| udp_bytes(C, 50000, S, 50001, &stun))
        .collect();
    frames.push(udp_bytes(C, 50000, S, 50001, &hello));
    let mut sink = Hellos::default();
    feed_all(&frames, &mut sink);
    assert!(sink.sni.is_empty());
}

#[test]
fn tunnel_ends_are_told_once_per_tunnel_even_when_the_directions_take_two() {
    // One inner UDP flow whose requests go in a GRE tunnel between 192.0.2.1 and 198.51.100.7
    // and whose answers come back in another, from 198.51.100.8.
    let gre = |outer_src: [u8; 4], outer_dst: [u8; 4], inner: Vec<u8>| -> Vec<u8> {
        let mut g = vec![0x00, 0x00, 0x08, 0x00];
        g.extend_from_slice(&inner[14..]);
        let mut outer = udp_bytes(outer_src, 0, outer_dst, 0, &[]);
        outer.truncate(14 + 20);
        outer[14 + 9] = 47;
        let total = (20 + g.len()) as u16;
        outer[16..18].copy_from_slice(&total.to_be_bytes());
        outer.extend(g);
        outer
    };
    let (a, b, b2) = ([192, 0, 2, 1], [198, 51, 100, 7], [198, 51, 100, 8]);
    let mut frames = Vec::new();
    for _ in 0..50 {
        frames.push(gre(a, b, udp_bytes(C, 50000, S, 9999, b"up")));
        frames.push(gre(b2, a, udp_bytes(S, 9999, C, 50000, b"down")));
        frames.push(gre(b, a, udp_bytes(S, 9999, C, 50000, b"down")));
    }
    let mut sink = Hellos::default();
    feed_all(&frames, &mut sink);
    assert_eq!(sink.inner.records.len(), 1, "one inner flow");
    let outer: Vec<_> = sink.tunnels.iter().map(|t| t.outer).collect();
    let ip = std::net::IpAddr::from;
    assert_eq!(
        outer,
        [Some((ip(a), ip(b))), Some((ip(b2), ip(a)))],
        "each tunnel told once, in either direction"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Packets of a few TCP and UDP flows at any times (handshakes, data, FINs, RSTs, idle
    /// stretches, time running backwards): the expiry time the table keeps beside each flow
    /// stays what the flow's state says, and the sweep's prefilter on it picks exactly the
    /// expired flows, at times around every linger and idle limit.
    #[test]
    fn the_expiry_kept_beside_each_flow_follows_its_state(
        events in proptest::collection::vec(
            (0u8..3, 0u8..6, 0i64..400, proptest::prelude::any::<bool>()),
            1..60,
        )
    ) {
        let cfg = TrackerConfig {
            tcp_idle_ns: 300 * NANOS_PER_SEC,
            udp_idle_ns: 120 * NANOS_PER_SEC,
            linger_ns: 30 * NANOS_PER_SEC,
            ..TrackerConfig::default()
        };
        let mut t = T::new(cfg);
        let mut seq = [1000u32; 3];
        for (flow, kind, ts, reverse) in events {
            let port = 50000 + u16::from(flow);
            let (src, sport, dst, dport) = if reverse { (S, 80, C, port) } else { (C, port, S, 80) };
            let i = usize::from(flow);
            match kind {
                0 => t.send(ts, src, sport, dst, dport, SYN, seq[i], 0, b""),
                1 => {
                    t.send(ts, src, sport, dst, dport, ACK | PSH, seq[i], 1, b"hello");
                    seq[i] = seq[i].wrapping_add(5);
                }
                2 => t.send(ts, src, sport, dst, dport, FIN | ACK, seq[i], 1, b""),
                3 => t.send(ts, src, sport, dst, dport, RST, seq[i], 0, b""),
                4 => t.udp(ts, src, sport, dst, dport, b"ping"),
                _ => t.send(ts, src, sport, dst, dport, ACK, seq[i], 1, b""),
            }
            let times: Vec<Timestamp> = [0i64, 29, 30, 31, 119, 120, 121, 299, 300, 301]
                .iter()
                .flat_map(|d| {
                    let base = ts * NANOS_PER_SEC + d * NANOS_PER_SEC;
                    [base - 1, base, base + 1]
                })
                .map(Timestamp)
                .collect();
            proptest::prop_assert_eq!(t.tracker.check_due(&times), Ok(()));
        }
    }
}

/// What every live flow costs: a flow box within mimalloc's 256-byte size class, its TCP state
/// within 192, its ledger rows of 80 bytes (two per flow nearly always). A field added to
/// `Flow` past the class costs 64 bytes per live flow (a fifth more), hence this guard.
#[test]
fn a_live_flow_stays_within_its_size_classes() {
    use std::mem::size_of;
    assert!(
        size_of::<Flow>() <= 256,
        "Flow is {} bytes",
        size_of::<Flow>()
    );
    assert!(
        size_of::<TcpState>() <= 192,
        "TcpState is {} bytes",
        size_of::<TcpState>()
    );
    assert_eq!(
        size_of::<(Direction, chrono::NaiveDate, crate::ledger::Counters)>(),
        80
    );
    // The table holds the key, the expiry time and the id beside the box (the sweep reads
    // no flow until it closes it).
    assert!(size_of::<(FlowKey, Entry)>() <= 80);
}
