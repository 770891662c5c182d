//! Per-file and total summaries, as `exfilmeter inspect` prints them.

use crate::decode::{Decoded, Decoder, DecoderStats};
use crate::defrag::DefragStats;
use crate::error::CaptureError;
use crate::frame::Frame;
use crate::reader::{Interface, ReaderOutcome};
use crate::Timestamp;
use std::collections::BTreeMap;

/// 1990-01-01T00:00:00Z: frames stamped earlier (a clock never set, 1970 from epoch zero) are
/// kept and counted, but do not extend the days a capture covers.
pub const PLAUSIBLE_FROM: Timestamp = Timestamp(631_152_000 * 1_000_000_000);

/// Hours without a frame that cut a file's covered time in two ([`FileSummary::covered`]).
pub const GAP_HOURS: i64 = 48;

/// Distinct hours a file summary keeps (over 11 years of hours).
pub const HOURS_MAX: usize = 100_000;

const NS_PER_HOUR: i64 = 3_600 * 1_000_000_000;

/// A capture-time window (`--since`/`--until`): frames at or after `since` and before `until`
/// are inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// First instant inside.
    pub since: Option<Timestamp>,
    /// First instant no longer inside.
    pub until: Option<Timestamp>,
}

/// Where a time falls with respect to a [`Window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Before `since`.
    Before,
    /// Inside.
    Inside,
    /// At or after `until`.
    After,
}

impl Window {
    /// Whether the window leaves anything out at all.
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Where `ts` falls.
    #[inline]
    pub fn side(&self, ts: Timestamp) -> Side {
        if self.since.is_some_and(|s| ts < s) {
            Side::Before
        } else if self.until.is_some_and(|u| ts >= u) {
            Side::After
        } else {
            Side::Inside
        }
    }
}

/// What one capture file holds, and what was skipped or damaged in it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FileSummary {
    /// The path as given (or found).
    pub path: String,
    /// `pcap`, `nsecpcap`, `modpcap`, `pcapng` or `unknown`.
    pub format: String,
    /// `none`, `gzip` or `zstd`.
    pub compression: String,
    /// `little` / `big` (pcapng: one per distinct section byte order).
    pub byte_orders: Vec<String>,
    /// Lowercase hex SHA-256 of the stored file, when computed.
    pub sha256: Option<String>,
    /// Size of the stored file (bytes), when it could be read.
    pub size: Option<u64>,
    /// Frames read.
    pub packets: u64,
    /// Sum of original (wire) lengths (bytes).
    pub orig_bytes: u64,
    /// Sum of captured lengths (bytes).
    pub captured_bytes: u64,
    /// Earliest frame time.
    pub first_ts: Option<Timestamp>,
    /// Latest frame time.
    pub last_ts: Option<Timestamp>,
    /// Frames earlier than the frame before them (the file is not in time order).
    pub out_of_order: u64,
    /// Frames without a timestamp of their own (pcapng simple packet blocks).
    pub untimed: u64,
    /// Frames stamped before [`PLAUSIBLE_FROM`] (1990): a sensor clock that was never set.
    pub implausible_ts: u64,
    /// Earliest and latest frame time from [`PLAUSIBLE_FROM`] on.
    pub plausible_span: Option<(Timestamp, Timestamp)>,
    /// Frames from [`PLAUSIBLE_FROM`] on per UTC hour: (frames, earliest, latest) — where in
    /// time the file's traffic lies ([`FileSummary::covered`]). At most [`HOURS_MAX`] hours.
    pub hours: BTreeMap<i64, (u64, Timestamp, Timestamp)>,
    /// More distinct hours than [`HOURS_MAX`]: the covered span is first to last frame.
    pub hours_capped: bool,
    hour: Option<(i64, (u64, Timestamp, Timestamp))>,
    /// pcap file-header snaplen.
    pub snaplen: Option<u32>,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Frames whose captured length is below the original length.
    pub truncated: u64,
    /// Skipped frames by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Anomalies by name (kept frames that were odd; dropped fragments; …).
    pub anomalies: BTreeMap<String, u64>,
    /// pcapng blocks by type.
    pub blocks: BTreeMap<String, u64>,
    /// Damage, in file order.
    pub errors: Vec<CaptureError>,
    /// Errors counted beyond the kept ones.
    pub errors_suppressed: u64,
    /// Bytes skipped while resynchronising after damage.
    pub bytes_skipped: u64,
    /// Decoding counters (not in the serialised summary: `skipped` has them by name).
    #[serde(skip)]
    pub decode: DecoderStats,
    /// Reassembly counters.
    pub defrag: DefragStats,
    /// Frames before the window's `since` (read and hashed, not summarised).
    pub before_window: u64,
    /// Frames at or after the window's `until` (read and hashed, not summarised).
    pub after_window: u64,
    last_seen: Option<Timestamp>,
}

impl FileSummary {
    /// Starts the summary of one file.
    pub fn new(path: impl Into<String>) -> FileSummary {
        FileSummary {
            path: path.into(),
            ..FileSummary::default()
        }
    }

    /// Accounts one frame and what the decoder made of it.
    #[inline]
    pub fn add_frame(&mut self, frame: &Frame<'_>) {
        self.packets += 1;
        self.orig_bytes += u64::from(frame.orig_len);
        self.captured_bytes += frame.data.len() as u64;
        if frame.is_truncated() {
            self.truncated += 1;
        }
        if !frame.ts_known {
            self.untimed += 1;
            return;
        }
        let ts = frame.ts;
        if ts < PLAUSIBLE_FROM {
            self.implausible_ts += 1;
        } else {
            self.plausible_span = Some(match self.plausible_span {
                Some((a, b)) => (a.min(ts), b.max(ts)),
                None => (ts, ts),
            });
            let h = ts.0.div_euclid(NS_PER_HOUR);
            match &mut self.hour {
                Some((cur, (n, a, b))) if *cur == h => {
                    *n += 1;
                    *a = (*a).min(ts);
                    *b = (*b).max(ts);
                }
                _ => {
                    self.flush_hour();
                    self.hour = Some((h, (1, ts, ts)));
                }
            }
        }
        if self.first_ts.is_none_or(|f| ts < f) {
            self.first_ts = Some(ts);
        }
        if self.last_ts.is_none_or(|l| ts > l) {
            self.last_ts = Some(ts);
        }
        if self.last_seen.is_some_and(|p| ts < p) {
            self.out_of_order += 1;
        }
        self.last_seen = Some(ts);
    }

    /// Reads a whole file: the convenience loop used by `inspect`. Frames outside `window`
    /// are read (and hashed) but only counted in `before_window`/`after_window`: the rest of
    /// the summary — packets, bytes, times, decoding, skips — is of the frames inside it.
    /// Damage, pcapng blocks and per-interface packet counts stay those of the whole file.
    pub fn read(
        path: &std::path::Path,
        shown: &str,
        file: crate::FileId,
        hash: crate::HashAlgo,
        window: Window,
        decoder: &mut Decoder,
        mut progress: impl FnMut(u64),
    ) -> Result<FileSummary, std::io::Error> {
        let mut reader = crate::CaptureReader::open(path, file, hash)?;
        let mut s = FileSummary::new(shown);
        let mut seen = 0u64;
        while let Some(frame) = reader.next_frame() {
            seen += 1;
            if seen % 65_536 == 0 {
                progress(frame.frame.offset);
            }
            match window.side(frame.ts) {
                Side::Inside => {}
                Side::Before => {
                    s.before_window += 1;
                    continue;
                }
                Side::After => {
                    s.after_window += 1;
                    continue;
                }
            }
            s.add_frame(&frame);
            let _: Decoded<'_> = decoder.decode(&frame);
        }
        decoder.finish();
        s.finish(reader.finish(), decoder);
        Ok(s)
    }

    /// Nothing of the file is a capture: no frame, and reading stopped at its first bytes
    /// for want of a capture's magic (or the file is empty). A file found while walking a
    /// folder that is not a capture is left out; one named on the command line is an error.
    pub fn not_a_capture(&self) -> bool {
        self.packets == 0
            && self.errors.first().is_some_and(|e| {
                matches!(
                    e.kind,
                    crate::DamageKind::BadMagic | crate::DamageKind::Empty
                )
            })
    }

    fn flush_hour(&mut self) {
        let Some((h, (n, a, b))) = self.hour.take() else {
            return;
        };
        let room = self.hours.len() < HOURS_MAX;
        match self.hours.entry(h) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let e = e.get_mut();
                e.0 += n;
                e.1 = e.1.min(a);
                e.2 = e.2.max(b);
            }
            std::collections::btree_map::Entry::Vacant(e) if room => {
                e.insert((n, a, b));
            }
            std::collections::btree_map::Entry::Vacant(_) => self.hours_capped = true,
        }
    }

    /// The spans of time the file covers, and the frames left out of them: its frames from
    /// 1990 on, cut where more than [`GAP_HOURS`] pass without a frame; a piece holding less
    /// than 1 % of the file's frames beside a larger one is a clock outlier (one frame stamped
    /// 2037 in a file of 2008), left out of the covered time and counted.
    pub fn covered(&self) -> (Vec<(Timestamp, Timestamp)>, u64) {
        if self.hours_capped || (self.hours.is_empty() && self.hour.is_none()) {
            return (self.plausible_span.into_iter().collect(), 0);
        }
        // The hour still being counted (before `finish`) is part of it.
        let mut hours = self.hours.clone();
        if let Some((h, (n, a, b))) = self.hour {
            let e = hours.entry(h).or_insert((0, a, b));
            e.0 += n;
            e.1 = e.1.min(a);
            e.2 = e.2.max(b);
        }
        let mut runs: Vec<(u64, Timestamp, Timestamp)> = Vec::new();
        let mut prev: Option<i64> = None;
        for (&h, &(n, a, b)) in &hours {
            match (prev, runs.last_mut()) {
                (Some(p), Some(r)) if h - p <= GAP_HOURS => {
                    r.0 += n;
                    r.1 = r.1.min(a);
                    r.2 = r.2.max(b);
                }
                _ => runs.push((n, a, b)),
            }
            prev = Some(h);
        }
        let total: u64 = runs.iter().map(|r| r.0).sum();
        let largest = runs.iter().map(|r| r.0).max().unwrap_or(0);
        let mut kept = Vec::new();
        let mut outliers = 0;
        for (n, a, b) in runs {
            if n < largest && n.saturating_mul(100) < total {
                outliers += n;
            } else {
                kept.push((a, b));
            }
        }
        (kept, outliers)
    }

    /// Completes the summary from the reader's outcome and the decoder's counters.
    pub fn finish(&mut self, outcome: ReaderOutcome, decoder: &Decoder) {
        self.flush_hour();
        let st = outcome.stats;
        self.format = st.format.map_or("unknown", |f| f.as_str()).to_string();
        self.compression = outcome.compression.as_str().to_string();
        self.byte_orders = st
            .byte_orders
            .iter()
            .map(|b| b.as_str().to_string())
            .collect();
        self.snaplen = st.snaplen;
        self.interfaces = st.interfaces;
        self.blocks = st.blocks;
        self.errors = outcome.errors;
        self.errors_suppressed = st.errors_suppressed;
        self.bytes_skipped = st.bytes_skipped;
        if let Some(d) = outcome.digest {
            self.size = Some(d.size);
            self.sha256 = d.sha256.map(hex::encode);
        }
        self.decode = decoder.stats().clone();
        self.defrag = decoder.defrag_stats().clone();
        self.skipped = BTreeMap::new();
        for (r, n) in &self.decode.skipped {
            *self.skipped.entry(r.to_string()).or_insert(0) += n;
        }
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: u64| {
            if v > 0 {
                a.insert(k.to_string(), v);
            }
        };
        put("bad_timestamp", st.bad_timestamps);
        put("out_of_order_frames", self.out_of_order);
        put("frames_without_timestamp", self.untimed);
        put("resyncs_after_damage", st.resyncs);
        put(
            "ipv6_extension_header_errors",
            self.decode.ext_header_errors,
        );
        let f = &self.defrag;
        put("fragments_overlapping", f.overlapping_fragments);
        put("fragments_conflicting", f.conflicting_fragments);
        put("fragments_inconsistent_end", f.inconsistent_end);
        put("fragments_truncated", f.truncated_fragments);
        put("fragments_oversized", f.oversized_fragments);
        put("fragments_expired", f.expired_fragments);
        put("fragments_evicted_by_cap", f.evicted_fragments);
        self.anomalies = a;
    }

    /// Link types of the interfaces, distinct, in interface order (`ether (1)`).
    pub fn link_types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.interfaces {
            let s = i.link.to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Duration between first and last frame (ns).
    pub fn duration_ns(&self) -> Option<i64> {
        Some(self.last_ts?.0 - self.first_ts?.0)
    }
}

/// Counters summed over several files.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Files summarised.
    pub files: u64,
    /// Files with at least one error.
    pub files_with_errors: u64,
    /// Sum of stored sizes.
    pub size: u64,
    /// Frames.
    pub packets: u64,
    /// Original bytes.
    pub orig_bytes: u64,
    /// Captured bytes.
    pub captured_bytes: u64,
    /// Earliest frame over all files.
    pub first_ts: Option<Timestamp>,
    /// Latest frame over all files.
    pub last_ts: Option<Timestamp>,
    /// Truncated frames.
    pub truncated: u64,
    /// Distinct link types.
    pub link_types: Vec<String>,
    /// Skipped frames by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Anomalies by name.
    pub anomalies: BTreeMap<String, u64>,
    /// Errors (kept plus suppressed).
    pub errors: u64,
    /// Decoded packets.
    pub decoded_packets: u64,
    /// Frames before the window.
    pub before_window: u64,
    /// Frames at or after the window's end.
    pub after_window: u64,
}

impl Totals {
    /// Adds one file.
    pub fn add(&mut self, f: &FileSummary) {
        self.files += 1;
        if !f.errors.is_empty() {
            self.files_with_errors += 1;
        }
        self.size += f.size.unwrap_or(0);
        self.packets += f.packets;
        self.orig_bytes += f.orig_bytes;
        self.captured_bytes += f.captured_bytes;
        if let Some(t) = f.first_ts {
            if self.first_ts.is_none_or(|x| t < x) {
                self.first_ts = Some(t);
            }
        }
        if let Some(t) = f.last_ts {
            if self.last_ts.is_none_or(|x| t > x) {
                self.last_ts = Some(t);
            }
        }
        self.truncated += f.truncated;
        self.before_window += f.before_window;
        self.after_window += f.after_window;
        for l in f.link_types() {
            if !self.link_types.contains(&l) {
                self.link_types.push(l);
            }
        }
        for (k, v) in &f.skipped {
            *self.skipped.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &f.anomalies {
            *self.anomalies.entry(k.clone()).or_insert(0) += v;
        }
        self.errors += f.errors.len() as u64 + f.errors_suppressed;
        self.decoded_packets += f.decode.packets;
    }

    /// Duration between first and last frame (ns).
    pub fn duration_ns(&self) -> Option<i64> {
        Some(self.last_ts?.0 - self.first_ts?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileId, FrameRef, LinkType};

    fn summary_of(stamps: &[i64]) -> FileSummary {
        let mut s = FileSummary::new("x.pcap");
        for (i, &t) in stamps.iter().enumerate() {
            s.add_frame(&Frame {
                ts: Timestamp(t * 1_000_000_000),
                ts_known: true,
                frame: FrameRef {
                    file: FileId(0),
                    index: i as u64 + 1,
                    offset: 0,
                },
                interface: 0,
                link: LinkType::ETHERNET,
                orig_len: 60,
                data: &[0; 60],
            });
        }
        s
    }

    const D2008: i64 = 1_212_000_000; // 2008-05-28
    const D2037: i64 = 2_130_000_000; // 2037-07-01

    #[test]
    fn a_few_frames_stamped_decades_away_are_clock_outliers_not_covered_time() {
        let mut stamps: Vec<i64> = (0..1000).map(|i| D2008 + i * 30).collect();
        stamps.extend([D2037, D2037 + 1, D2037 + 2]);
        stamps.push(D2008 + 30_001);
        let s = summary_of(&stamps);
        let (spans, outliers) = s.covered();
        assert_eq!(outliers, 3);
        assert_eq!(
            spans,
            vec![(
                Timestamp(D2008 * 1_000_000_000),
                Timestamp((D2008 + 30_001) * 1_000_000_000)
            )]
        );
    }

    #[test]
    fn a_file_with_two_real_stretches_covers_both_and_none_is_an_outlier() {
        // A sensor that captured two mornings three days apart, in one file.
        let mut stamps: Vec<i64> = (0..500).map(|i| D2008 + i * 10).collect();
        stamps.extend((0..300).map(|i| D2008 + 3 * 86_400 + i * 10));
        let (spans, outliers) = summary_of(&stamps).covered();
        assert_eq!(outliers, 0);
        assert_eq!(spans.len(), 2);
        // Gaps of up to two days keep one span.
        let stamps: Vec<i64> = (0..100).map(|i| D2008 + i * 47 * 3_600).collect();
        let (spans, outliers) = summary_of(&stamps).covered();
        assert_eq!((spans.len(), outliers), (1, 0));
    }

    #[test]
    fn without_hours_the_covered_time_is_first_to_last() {
        let mut s = summary_of(&[D2008, D2008 + 10]);
        s.hours_capped = true;
        assert_eq!(s.covered().0.len(), 1);
        assert_eq!(FileSummary::new("y").covered(), (vec![], 0));
    }
}
