//! Tunnels as the link carried them (decision 0031): one row per outermost tunnel (its kind,
//! outer protocol and ends) with the frames and bytes of the decapsulated packets it carried,
//! per direction.
//!
//! The packets inside a tunnel are counted in the flows of their inner addresses, with the
//! outer frames' bytes (decision 0004); this table is what the sensor's link saw between the
//! tunnel's ends. It is not added to any volume: its bytes are its inner flows' bytes. A
//! datagram on a tunnel's ports that did not decapsulate (a keep-alive, a control message) is
//! an ordinary UDP flow of the flow table, not a row here.
//!
//! The table is counted where every packet passes in capture order (the reading thread of a
//! run, each capture's `split`), one [`Tunnels`] per capture file, and the files' tables are
//! joined in the run's order ([`Tunnels::join`]): the same rows whatever the thread count or
//! split.

use crate::key::{Endpoint, Proto, RoleRule};
use exfilmeter_ingest::{FrameRef, Packet, Timestamp, TunnelKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Tunnels kept by default before the rest are only counted ([`Tunnels::overflow`]).
pub const MAX_TUNNELS: usize = 65_536;

/// What one direction of a tunnel carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelCounts {
    /// Frames (every frame of a reassembled outer datagram).
    pub frames: u64,
    /// Their original lengths on the wire.
    pub frame_bytes: u64,
    /// Their outer IP total lengths.
    pub ip_bytes: u64,
    /// The outer transport's payload per the headers: UDP payload (tunnel header and inner
    /// packet) for tunnels in UDP, the IP payload for GRE and IP-in-IP.
    pub payload_bytes: u64,
}

impl TunnelCounts {
    fn add(&mut self, o: &TunnelCounts) {
        self.frames += o.frames;
        self.frame_bytes += o.frame_bytes;
        self.ip_bytes += o.ip_bytes;
        self.payload_bytes += o.payload_bytes;
    }
}

/// One tunnel: its outermost headers' kind, protocol and ends, and what went each way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRow {
    /// What kind of tunnel.
    pub kind: TunnelKind,
    /// The outer IP header's protocol (`udp`, or 47 for GRE, 4/41 for IP-in-IP).
    pub proto: Proto,
    /// The end that opened the tunnel (port 0 outside UDP).
    pub client: Endpoint,
    /// The other end.
    pub server: Endpoint,
    /// How the client was chosen: `port` (the server is the end on the tunnel's registered
    /// UDP port) or `first` (the sender of the first packet).
    pub role_rule: RoleRule,
    /// Client → server.
    pub c2s: TunnelCounts,
    /// Server → client.
    pub s2c: TunnelCounts,
    /// Capture time of the first and the last packet.
    pub first_ts: Timestamp,
    /// See `first_ts`.
    pub last_ts: Timestamp,
    /// The frame of the first packet.
    pub first_frame: FrameRef,
    /// The frame of the last packet.
    pub last_frame: FrameRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    kind: TunnelKind,
    proto: Proto,
    lo: Endpoint,
    hi: Endpoint,
}

impl Key {
    fn of(row: &TunnelRow) -> Key {
        let (lo, hi) = if row.client <= row.server {
            (row.client, row.server)
        } else {
            (row.server, row.client)
        };
        Key {
            kind: row.kind,
            proto: row.proto,
            lo,
            hi,
        }
    }
}

/// The tunnels of one capture file or of a run, in the order they were first seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tunnels {
    rows: Vec<TunnelRow>,
    /// Packets of tunnels beyond the cap ([`MAX_TUNNELS`]), summed over both directions: not
    /// in any row.
    pub overflow: TunnelCounts,
    #[serde(skip)]
    index: HashMap<Key, usize>,
    #[serde(skip)]
    cap: Option<usize>,
}

impl PartialEq for Tunnels {
    fn eq(&self, o: &Tunnels) -> bool {
        self.rows == o.rows && self.overflow == o.overflow
    }
}

impl Tunnels {
    /// An empty table holding at most `cap` tunnels.
    pub fn with_cap(cap: usize) -> Tunnels {
        Tunnels {
            cap: Some(cap),
            ..Tunnels::default()
        }
    }

    fn cap(&self) -> usize {
        self.cap.unwrap_or(MAX_TUNNELS)
    }

    /// The rows, in the order their tunnels were first seen.
    pub fn rows(&self) -> &[TunnelRow] {
        &self.rows
    }

    /// No tunnel seen.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.overflow.frames == 0
    }

    /// What every tunnel carried (rows and overflow, both directions).
    pub fn total(&self) -> TunnelCounts {
        let mut t = self.overflow;
        for r in &self.rows {
            t.add(&r.c2s);
            t.add(&r.s2c);
        }
        t
    }

    /// Counts `p` when it came out of a tunnel (else nothing).
    pub fn packet(&mut self, p: &Packet<'_>) {
        let (Some(c), Some((src, dst))) = (p.carrier, p.tunnel.outer) else {
            return;
        };
        let proto = match c.proto {
            17 => Proto::Udp,
            n => Proto::Other(n),
        };
        let from = Endpoint {
            ip: src,
            port: c.src_port,
        };
        let to = Endpoint {
            ip: dst,
            port: c.dst_port,
        };
        let counts = TunnelCounts {
            frames: u64::from(p.wire.frames),
            frame_bytes: p.wire.orig_bytes,
            ip_bytes: p.wire.ip_bytes,
            payload_bytes: u64::from(c.payload),
        };
        let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
        let key = Key {
            kind: c.kind,
            proto,
            lo,
            hi,
        };
        let at = match self.index.get(&key) {
            Some(&i) => i,
            None if self.rows.len() >= self.cap() => {
                self.overflow.add(&counts);
                return;
            }
            None => {
                // The end on the tunnel's registered port is the server when only one end is;
                // otherwise the first packet's sender is the client.
                let port = c.kind.udp_port().filter(|_| proto == Proto::Udp);
                let (client, server, role_rule) = match port {
                    Some(q) if to.port == q && from.port != q => (from, to, RoleRule::Port),
                    Some(q) if from.port == q && to.port != q => (to, from, RoleRule::Port),
                    _ => (from, to, RoleRule::FirstPacket),
                };
                self.rows.push(TunnelRow {
                    kind: c.kind,
                    proto,
                    client,
                    server,
                    role_rule,
                    c2s: TunnelCounts::default(),
                    s2c: TunnelCounts::default(),
                    first_ts: p.ts,
                    last_ts: p.ts,
                    first_frame: p.wire.first_frame,
                    last_frame: p.frame,
                });
                self.index.insert(key, self.rows.len() - 1);
                self.rows.len() - 1
            }
        };
        let Some(row) = self.rows.get_mut(at) else {
            return;
        };
        let side = if from == row.client {
            &mut row.c2s
        } else {
            &mut row.s2c
        };
        side.add(&counts);
        row.first_ts = row.first_ts.min(p.ts);
        row.last_ts = row.last_ts.max(p.ts);
        row.last_frame = p.frame;
    }

    /// Adds `later`, the table of what came after this one in the run (the next capture
    /// file): a tunnel seen in both keeps this table's roles and first frame, and adds
    /// `later`'s counts; a tunnel new in `later` comes after this table's rows (or into the
    /// overflow when the cap is reached).
    pub fn join(&mut self, later: &Tunnels) {
        if self.index.len() != self.rows.len() {
            self.reindex();
        }
        self.overflow.add(&later.overflow);
        for r in &later.rows {
            let key = Key::of(r);
            match self.index.get(&key) {
                Some(&i) => {
                    let Some(mine) = self.rows.get_mut(i) else {
                        continue;
                    };
                    let (c2s, s2c) = if r.client == mine.client {
                        (&r.c2s, &r.s2c)
                    } else {
                        (&r.s2c, &r.c2s)
                    };
                    mine.c2s.add(c2s);
                    mine.s2c.add(s2c);
                    mine.first_ts = mine.first_ts.min(r.first_ts);
                    mine.last_ts = mine.last_ts.max(r.last_ts);
                    mine.last_frame = r.last_frame;
                }
                None if self.rows.len() >= self.cap() => {
                    self.overflow.add(&r.c2s);
                    self.overflow.add(&r.s2c);
                }
                None => {
                    self.index.insert(key, self.rows.len());
                    self.rows.push(r.clone());
                }
            }
        }
    }

    /// Rebuilds the index (after deserializing).
    fn reindex(&mut self) {
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (Key::of(r), i))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exfilmeter_ingest::{Decoded, Decoder, FileId, Frame, LinkType};

    /// An Ethernet frame: IPv4 `src` → `dst` carrying UDP `sport` → `dport` with `body`.
    fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
        let mut udp = Vec::new();
        udp.extend_from_slice(&sport.to_be_bytes());
        udp.extend_from_slice(&dport.to_be_bytes());
        udp.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(body);
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let total = (20 + udp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&udp);
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f
    }

    /// A VXLAN payload (VNI 7) carrying an Ethernet frame holding `inner` (an IPv4 packet).
    fn vxlan(inner: &[u8]) -> Vec<u8> {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, 7, 0];
        v.extend_from_slice(&[0u8; 12]);
        v.extend_from_slice(&[0x08, 0x00]);
        v.extend_from_slice(inner);
        v
    }

    /// A GTP-U payload (TEID 9) carrying `inner`.
    fn gtpu(inner: &[u8]) -> Vec<u8> {
        let mut v = vec![0x30, 0xFF];
        v.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        v.extend_from_slice(&9u32.to_be_bytes());
        v.extend_from_slice(inner);
        v
    }

    fn inner_packet(sport: u16) -> Vec<u8> {
        udp_frame([10, 0, 0, 1], [10, 0, 0, 2], sport, 53, b"query")[14..].to_vec()
    }

    fn feed(t: &mut Tunnels, d: &mut Decoder, frames: &[Vec<u8>], first: u64) {
        for (i, f) in frames.iter().enumerate() {
            let n = first + i as u64;
            let fr = Frame {
                data: f,
                orig_len: f.len() as u32,
                ts: Timestamp(n as i64 * 1_000_000_000),
                ts_known: true,
                link: LinkType::ETHERNET,
                frame: FrameRef {
                    file: FileId(0),
                    index: n,
                    offset: 0,
                },
                interface: 0,
            };
            if let Decoded::Packet(p) = d.decode(&fr) {
                t.packet(&p);
            }
        }
    }

    #[test]
    fn a_gtp_u_tunnel_is_one_row_with_each_direction_counted() {
        let a = [192, 0, 2, 1];
        let b = [198, 51, 100, 7];
        // The reply comes first (capture started mid-stream): the end on 2152 is the server
        // all the same.
        let frames = vec![
            udp_frame(b, a, 2152, 40000, &gtpu(&inner_packet(1000))),
            udp_frame(a, b, 40000, 2152, &gtpu(&inner_packet(1001))),
            udp_frame(a, b, 40000, 2152, &gtpu(&inner_packet(1002))),
            // Not GTP-U (an echo request carries no packet): an ordinary UDP datagram, not
            // counted here.
            udp_frame(
                a,
                b,
                40000,
                2152,
                &[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0],
            ),
        ];
        let mut t = Tunnels::default();
        feed(&mut t, &mut Decoder::default(), &frames, 1);
        assert_eq!(t.rows().len(), 1);
        let r = &t.rows()[0];
        assert_eq!(r.kind, TunnelKind::GtpU);
        assert_eq!(r.proto, Proto::Udp);
        assert_eq!(r.role_rule, RoleRule::Port);
        assert_eq!((r.client.port, r.server.port), (40000, 2152));
        let len = frames[1].len() as u64;
        assert_eq!(
            r.c2s,
            TunnelCounts {
                frames: 2,
                frame_bytes: 2 * len,
                ip_bytes: 2 * (len - 14),
                payload_bytes: 2 * (len - 14 - 28),
            }
        );
        assert_eq!(r.s2c.frames, 1);
        assert_eq!((r.first_frame.index, r.last_frame.index), (1, 3));
        assert_eq!(t.total().frames, 3);
    }

    #[test]
    fn joined_files_give_the_rows_of_one_pass_and_the_cap_counts_the_rest() {
        let a = [192, 0, 2, 1];
        let frames: Vec<Vec<u8>> = (0..6u8)
            .map(|i| {
                // VXLAN goes to port 4789 both ways: each direction between two ends is a
                // tunnel of its own.
                let peer = [198, 51, 100, i % 3];
                udp_frame(a, peer, 40000, 4789, &vxlan(&inner_packet(u16::from(i))))
            })
            .collect();
        // GTP-U on 2152 at both ends: the first sender is the client, so a later file that
        // starts with the other end's packet names the roles the other way round.
        let c = [203, 0, 113, 1];
        let mut frames = frames;
        frames.insert(0, udp_frame(c, a, 2152, 2152, &gtpu(&inner_packet(7))));
        frames.push(udp_frame(a, c, 2152, 2152, &gtpu(&inner_packet(8))));
        let mut whole = Tunnels::default();
        feed(&mut whole, &mut Decoder::default(), &frames, 1);
        assert_eq!(whole.rows().len(), 4);
        assert_eq!(whole.rows()[0].role_rule, RoleRule::FirstPacket);
        assert_eq!(
            (whole.rows()[0].c2s.frames, whole.rows()[0].s2c.frames),
            (1, 1)
        );
        for cut in 0..=frames.len() {
            let mut first = Tunnels::default();
            let mut second = Tunnels::default();
            let mut d = Decoder::default();
            feed(&mut first, &mut d, &frames[..cut], 1);
            feed(&mut second, &mut d, &frames[cut..], 1 + cut as u64);
            // Through serde, as split.json carries them.
            let second: Tunnels =
                serde_json::from_str(&serde_json::to_string(&second).unwrap()).unwrap();
            first.join(&second);
            assert_eq!(first, whole, "cut at {cut}");
        }
        // A cap of two tunnels: the third and fourth ones' packets go to the overflow.
        let mut capped = Tunnels::with_cap(2);
        feed(&mut capped, &mut Decoder::default(), &frames, 1);
        assert_eq!(capped.rows().len(), 2);
        assert_eq!(capped.overflow.frames, 4);
        assert_eq!(capped.total(), whole.total());
    }

    #[test]
    fn gre_has_no_ports_and_its_first_sender_is_the_client() {
        let inner = inner_packet(5);
        let mut gre = vec![0x00, 0x00, 0x08, 0x00];
        gre.extend_from_slice(&inner);
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 47, 0, 0];
        ip.extend_from_slice(&[203, 0, 113, 9]);
        ip.extend_from_slice(&[192, 0, 2, 1]);
        let total = (20 + gre.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&gre);
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        let mut t = Tunnels::default();
        feed(&mut t, &mut Decoder::default(), &[f.clone()], 1);
        let r = &t.rows()[0];
        assert_eq!(
            (r.kind, r.proto, r.role_rule),
            (TunnelKind::Gre, Proto::Other(47), RoleRule::FirstPacket)
        );
        assert_eq!(r.client.ip.to_string(), "203.0.113.9");
        assert_eq!(r.c2s.payload_bytes, gre.len() as u64);
    }
}
