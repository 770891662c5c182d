//! The byte ledger of DESIGN §3: counters per flow, direction and local day.

use crate::key::Direction;
use chrono::NaiveDate;

/// Counters of one flow direction on one local day (all in bytes except `frames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Frames carrying this direction (each fragment of a reassembled datagram counts).
    pub frames: u64,
    /// Original wire length of those frames.
    pub frame_bytes: u64,
    /// IP total length (headers included, retransmissions included).
    pub ip_bytes: u64,
    /// TCP/UDP payload according to the headers (also for truncated frames),
    /// retransmissions included.
    pub payload_bytes: u64,
    /// TCP only: unique stream bytes evidenced by captured packets, each sequence number
    /// once, credited at the first capture of each range.
    pub stream_bytes: u64,
    /// Part of `stream_bytes` whose content the snapshot length cut off.
    pub truncated_bytes: u64,
    /// TCP payload bytes that were not new stream bytes (seen again).
    pub retrans_bytes: u64,
    /// Part of `retrans_bytes` whose content differed from the first copy.
    pub conflict_bytes: u64,
    /// Sequence space proven sent (later data, FIN/RST, peer ACK) but in no captured packet.
    pub gap_bytes: u64,
}

/// Column names of the ledger layers (DESIGN §3), shared by every table that carries them.
pub mod layer {
    /// `frames`.
    pub const FRAMES: &str = "frames";
    /// `frame_bytes`.
    pub const FRAME_BYTES: &str = "frame_bytes";
    /// `ip_bytes`.
    pub const IP_BYTES: &str = "ip_bytes";
    /// `payload_bytes`.
    pub const PAYLOAD_BYTES: &str = "payload_bytes";
    /// `stream_bytes`.
    pub const STREAM_BYTES: &str = "stream_bytes";
    /// `truncated_bytes`.
    pub const TRUNCATED_BYTES: &str = "truncated_bytes";
    /// `retrans_bytes`.
    pub const RETRANS_BYTES: &str = "retrans_bytes";
    /// `conflict_bytes`.
    pub const CONFLICT_BYTES: &str = "conflict_bytes";
    /// `gap_bytes`.
    pub const GAP_BYTES: &str = "gap_bytes";
}

impl Counters {
    /// The layers as table columns, in the flow ledger's order ([`Counters::values`]).
    pub const LAYERS: [&'static str; 9] = [
        layer::FRAMES,
        layer::FRAME_BYTES,
        layer::IP_BYTES,
        layer::PAYLOAD_BYTES,
        layer::STREAM_BYTES,
        layer::TRUNCATED_BYTES,
        layer::RETRANS_BYTES,
        layer::CONFLICT_BYTES,
        layer::GAP_BYTES,
    ];

    /// The counters in the order of [`Counters::LAYERS`].
    pub fn values(&self) -> [u64; 9] {
        [
            self.frames,
            self.frame_bytes,
            self.ip_bytes,
            self.payload_bytes,
            self.stream_bytes,
            self.truncated_bytes,
            self.retrans_bytes,
            self.conflict_bytes,
            self.gap_bytes,
        ]
    }

    /// Adds another set of counters.
    pub fn add(&mut self, o: &Counters) {
        self.frames += o.frames;
        self.frame_bytes += o.frame_bytes;
        self.ip_bytes += o.ip_bytes;
        self.payload_bytes += o.payload_bytes;
        self.stream_bytes += o.stream_bytes;
        self.truncated_bytes += o.truncated_bytes;
        self.retrans_bytes += o.retrans_bytes;
        self.conflict_bytes += o.conflict_bytes;
        self.gap_bytes += o.gap_bytes;
    }
}

/// A flow's ledger: counters per (direction, local day), kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    rows: Vec<(Direction, NaiveDate, Counters)>,
}

impl Ledger {
    /// The counters for a direction and day (created empty).
    #[inline]
    pub fn at(&mut self, dir: Direction, day: NaiveDate) -> &mut Counters {
        // Flows touch one or two days: a short linear scan from the end is fastest.
        let pos = self
            .rows
            .iter()
            .rposition(|(d, y, _)| *d == dir && *y == day);
        let i = match pos {
            Some(i) => i,
            None => {
                // Most flows have one row per direction: room for both at the first row,
                // then one at a time (a default Vec would reserve four 80-byte rows).
                self.rows
                    .reserve_exact(if self.rows.is_empty() { 2 } else { 1 });
                let i = self.rows.partition_point(|(d, y, _)| (*d, *y) < (dir, day));
                self.rows.insert(i, (dir, day, Counters::default()));
                i
            }
        };
        &mut self.rows[i].2
    }

    /// Rows sorted by direction (c2s first), then day.
    pub fn rows(&self) -> &[(Direction, NaiveDate, Counters)] {
        &self.rows
    }

    /// Sum over days for one direction.
    pub fn total(&self, dir: Direction) -> Counters {
        let mut c = Counters::default();
        for (d, _, x) in &self.rows {
            if *d == dir {
                c.add(x);
            }
        }
        c
    }
}
