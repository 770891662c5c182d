//! `split`: one capture file cut into bucket files by flow, for analysis on many machines
//! (DESIGN §12, decision 0027).
//!
//! Each frame is decoded as a run would decode it and written, unchanged, to the bucket its
//! flow hashes to ([`shard_of`], the hash of the thread shards): both directions of a flow,
//! the inner flow of a tunnel and the frames of a reassembled datagram land in one bucket.
//! The bucket files are pcapng (one interface block per original interface, nanosecond
//! timestamps); every frame carries a comment with its provenance and its place in the run:
//!
//! ```text
//! exfilmeter file=3 frame=1234 offset=567890 packet=1201 clock=1404172800123456789
//! ```
//!
//! `file`: the input's index in the run; `frame`: its 1-based number in that file; `offset`:
//! the byte offset of its record or block there; `packet`: the ordinal (1-based, within the
//! file) of the packet the frame completed, or `held` for an IP fragment held for reassembly
//! (written to every bucket and to the DNS file, since the flow it belongs to is known only
//! when its datagram completes), or `done` for the frame that completed such a datagram, in
//! the buckets other than its own (and the DNS file): decoded there to complete the datagram
//! and dropped, so every bucket's decoder holds what one run's holds; `clock`: the latest capture time over the file's packets so
//! far (`untimed` is added for frames the format stored no time for).
//!
//! Beside the buckets, `dns.pcapng` has every packet to or from a DNS port (`is_dns_port`: 53,
//! and 5353/5355 over UDP; with the held
//! fragments): what the bucket tasks need to learn the DNS answers of the whole run in capture
//! order, as the reading thread of a sharded run hands them to every shard. `split.json`
//! has the file's summary (what `inspect` reports, with its SHA-256), the packet count, the
//! latest capture time, the points where the capture clock entered a new sweep slot
//! ([`Tracker::sweep_slot`]), the decoder's counters, what went to each bucket, and the file's
//! tunnels table ([`Tunnels`], decision 0031: the tunnels' packets spread over the buckets by
//! their inner flows, so the table is counted here, where the whole file passes in order).

use exfilmeter_flow::app::dns::is_dns_port;
use exfilmeter_flow::{endpoints, shard_of, Tracker, Tunnels};
use exfilmeter_ingest::{
    CaptureReader, Decoded, Decoder, FileId, FileSummary, Filter, Frame, HashAlgo, Input, Packet,
    SkipReason, Timestamp, Transport,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Format version of `split.json` and the frame comments.
pub const SPLIT_VERSION: u32 = 5;

/// The most buckets a split writes (each is an open file while the capture is read).
pub const MAX_BUCKETS: usize = 4096;

/// What `split` is asked to do.
#[derive(Debug, Clone)]
pub struct SplitConfig {
    /// Number of buckets (≥ 1).
    pub buckets: usize,
    /// Hash of the input (chain of custody).
    pub hash: HashAlgo,
    /// `-f/--filter`: only matching packets go to the buckets (the rest are counted).
    pub filter: Option<Filter>,
    /// The filter as given (recorded in `split.json`).
    pub expr: Option<String>,
    /// Captures in the whole run, when this split knows it (recorded in `split.json`).
    pub run_files: Option<u32>,
}

/// What one bucket file got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Frames written (held fragments included).
    pub frames: u64,
    /// Packets whose frame was written (`packet=` comments).
    pub packets: u64,
    /// Captured bytes of those frames.
    pub bytes: u64,
}

/// `split.json`: one capture file's split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFile {
    /// [`SPLIT_VERSION`].
    pub version: u32,
    /// exfilmeter's version that wrote it.
    pub tool_version: String,
    /// The input's index in the run (the `file=` of the comments, `FileId`).
    pub index: u32,
    /// Its file name (how the run's tables name its frames: `name#frame`).
    pub name: String,
    /// Its path as the split was given it (also when it could not be opened).
    pub path: String,
    /// Buckets written.
    pub buckets: usize,
    /// The file could be opened (else `problem` says why, and nothing else is filled in).
    pub opened: bool,
    /// Why it could not be opened or hashed.
    pub problem: Option<String>,
    /// What was read: as `inspect` reports it (damage with its byte offset, SHA-256).
    pub summary: Option<FileSummary>,
    /// Packets decoded that passed the filter: the `packet=` ordinals run 1..=packets.
    pub packets: u64,
    /// The latest capture time over those packets.
    pub clock_max: Option<Timestamp>,
    /// Where the latest capture time entered a new sweep slot: (packet ordinal, clock).
    pub slots: Vec<(u64, Timestamp)>,
    /// Packets left out by the filter.
    pub filtered: u64,
    /// Packets decoded (a reassembled datagram counts once), as the decoder counts them.
    pub decoded: u64,
    /// Frames that did not become packets, by reason (in the report's order).
    pub skipped: Vec<(SkipReason, u64)>,
    /// The capture filter the split applied (`-f/--filter`), as given.
    pub filter: Option<String>,
    /// Per bucket.
    pub written: Vec<Written>,
    /// The DNS file.
    pub dns: Written,
    /// IP fragments held for reassembly (written to every bucket and the DNS file).
    pub held: u64,
    /// Frames that completed a datagram of held fragments, also written to every other
    /// bucket and the DNS file as `packet=done` (decoded there to complete it, then dropped).
    pub completed: u64,
    /// The file was found in a folder (a run leaves such a file out when it is not a
    /// capture).
    pub in_folder: bool,
    /// Captures in the whole run, when the split was given the whole run (CAPTURES without
    /// `--index`, or with `--only`): a bucket task and merge check that they have that many,
    /// so a split folder that still holds files of an earlier, larger run is refused.
    pub run_files: Option<u32>,
    /// The tunnels the file's packets came out of (those the filter left out not counted):
    /// what a run's reading thread counts, joined by `merge` in the run's order.
    pub tunnels: Tunnels,
}

/// Where a split is: its file's bytes read before it (for a progress display over several
/// files).
#[derive(Debug, Clone, Copy, Default)]
pub struct SplitProgress {
    /// Bytes of the earlier files of this split.
    pub before: u64,
}

/// The folder of file `index`'s split under `out`.
pub fn split_dir(out: &Path, index: u32) -> PathBuf {
    out.join(format!("file={index:06}"))
}

/// The name of bucket `b`'s file in a split folder.
pub fn bucket_file(b: usize) -> String {
    format!("bucket={b:05}.pcapng")
}

/// The pcapng writer of one bucket file.
struct NgWriter {
    w: BufWriter<std::fs::File>,
    path: PathBuf,
    /// Original (interface, link type) → interface id in this file.
    ifaces: HashMap<(u32, u16), u32>,
    got: Written,
    block: Vec<u8>,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.extend(std::iter::repeat_n(0u8, pad4(value.len())));
}

fn end_of_options(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0, 0, 0, 0]);
}

impl NgWriter {
    fn create(path: PathBuf, comment: &str) -> io::Result<NgWriter> {
        let f = std::fs::File::create(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut w = NgWriter {
            w: BufWriter::with_capacity(1 << 20, f),
            path,
            ifaces: HashMap::new(),
            got: Written::default(),
            block: Vec::with_capacity(1 << 16),
        };
        let mut body = Vec::new();
        body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        option(&mut body, 1, comment.as_bytes());
        option(
            &mut body,
            4,
            format!("exfilmeter {}", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        end_of_options(&mut body);
        w.put(0x0A0D_0D0A, &body)?;
        Ok(w)
    }

    fn put(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        let total = (12 + body.len() + pad4(body.len())) as u32;
        self.w.write_all(&kind.to_le_bytes())?;
        self.w.write_all(&total.to_le_bytes())?;
        self.w.write_all(body)?;
        self.w.write_all(&[0u8; 3][..pad4(body.len())])?;
        self.w.write_all(&total.to_le_bytes())
    }

    fn interface(&mut self, f: &Frame<'_>) -> io::Result<u32> {
        let key = (f.interface, f.link.0);
        if let Some(&id) = self.ifaces.get(&key) {
            return Ok(id);
        }
        let id = self.ifaces.len() as u32;
        let mut body = Vec::new();
        body.extend_from_slice(&f.link.0.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        option(
            &mut body,
            2,
            format!("interface {} of the original file", f.interface).as_bytes(),
        );
        option(&mut body, 9, &[9]);
        end_of_options(&mut body);
        self.put(0x0000_0001, &body)?;
        self.ifaces.insert(key, id);
        Ok(id)
    }

    fn frame(&mut self, f: &Frame<'_>, note: &str, packet: bool) -> io::Result<()> {
        let id = self.interface(f)?;
        let ts = f.ts.0 as u64;
        let mut body = std::mem::take(&mut self.block);
        body.clear();
        body.extend_from_slice(&id.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&f.cap_len().to_le_bytes());
        body.extend_from_slice(&f.orig_len.to_le_bytes());
        body.extend_from_slice(f.data);
        body.extend(std::iter::repeat_n(0u8, pad4(f.data.len())));
        option(&mut body, 1, note.as_bytes());
        end_of_options(&mut body);
        let r = self.put(0x0000_0006, &body);
        self.block = body;
        r?;
        self.got.frames += 1;
        self.got.bytes += u64::from(f.cap_len());
        if packet {
            self.got.packets += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Written> {
        self.w
            .flush()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        Ok(self.got)
    }
}

/// Whether a packet is DNS as a sharded run's reading thread reads it (either port a DNS
/// port, `is_dns_port`).
fn is_dns(p: &Packet<'_>) -> bool {
    let (_, src, dst) = endpoints(p);
    let tcp = match p.transport {
        Transport::Tcp(_) => true,
        Transport::Udp { .. } => false,
        _ => return false,
    };
    is_dns_port(src.port, tcp) || is_dns_port(dst.port, tcp)
}

/// Splits input `input` (the run's file number `index`, named `name`) into
/// `cfg.buckets` bucket files and a DNS file under `out/file=<index>/`, with its
/// `split.json`. A file that cannot be opened gives a `split.json` that says so (and no
/// buckets); damage inside it is in the summary, with what came before it split. `Err`: a
/// file could not be written.
pub fn split_file(
    input: &Input,
    index: u32,
    name: &str,
    cfg: &SplitConfig,
    out: &Path,
    progress: &mut dyn crate::pipeline::Progress,
    at: SplitProgress,
) -> io::Result<SplitFile> {
    let n = cfg.buckets.clamp(1, MAX_BUCKETS);
    let dir = split_dir(out, index);
    std::fs::create_dir_all(&dir)?;
    let shown = input.path.display().to_string();
    let mut sf = SplitFile {
        version: SPLIT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        index,
        name: name.to_string(),
        path: input.path.display().to_string(),
        buckets: n,
        opened: false,
        problem: None,
        summary: None,
        packets: 0,
        clock_max: None,
        slots: Vec::new(),
        filtered: 0,
        decoded: 0,
        skipped: Vec::new(),
        filter: cfg.expr.clone(),
        written: Vec::new(),
        dns: Written::default(),
        held: 0,
        completed: 0,
        in_folder: input.origin == exfilmeter_ingest::InputOrigin::Directory,
        run_files: cfg.run_files,
        tunnels: Tunnels::default(),
    };
    let mut reader = match CaptureReader::open(&input.path, FileId(index), cfg.hash) {
        Ok(r) => r,
        Err(e) => {
            sf.problem = Some(e.to_string());
            write_json(&dir, &sf)?;
            return Ok(sf);
        }
    };
    sf.opened = true;
    progress.file(&shown, name);
    let mut buckets = (0..n)
        .map(|b| {
            NgWriter::create(
                dir.join(bucket_file(b)),
                &format!("exfilmeter split of {name} (file {index} of the run): bucket {b} of {n}"),
            )
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut dns = NgWriter::create(
        dir.join("dns.pcapng"),
        &format!("exfilmeter split of {name} (file {index} of the run): DNS-port packets"),
    )?;
    let mut decoder = Decoder::default();
    let mut summary = FileSummary::new(shown);
    let mut k = 0u64;
    let mut clock = Timestamp(i64::MIN);
    let mut note = String::with_capacity(128);
    let mut frames = 0u64;
    while let Some(frame) = reader.next_frame() {
        summary.add_frame(&frame);
        frames += 1;
        if frames % crate::pipeline::TICK == 0 {
            progress.advanced(at.before + frame.frame.offset, 0);
        }
        let untimed = if frame.ts_known { "" } else { " untimed" };
        let prov = |note: &mut String, what: &str, clock: Timestamp| {
            use std::fmt::Write as _;
            note.clear();
            let _ = write!(
                note,
                "exfilmeter file={index} frame={} offset={} packet={what} clock={}{untimed}",
                frame.frame.index, frame.frame.offset, clock.0
            );
        };
        match decoder.decode(&frame) {
            Decoded::Packet(p) => {
                // The frame that completed a datagram of held fragments: the other buckets'
                // decoders hold those fragments too, so they get the frame as well (marked
                // `done`: decoded to complete the datagram, then dropped), and end with the
                // defragmentation state of one run.
                let completed = p.wire.frames > 1;
                // Where the frame went as a packet: its bucket, and whether dns.pcapng has it.
                let mut went = None;
                if cfg.filter.as_ref().is_some_and(|f| !f.matches(&p)) {
                    sf.filtered += 1;
                } else {
                    k += 1;
                    if Tracker::sweep_slot(p.ts.max(clock)) > Tracker::sweep_slot(clock) {
                        sf.slots.push((k, p.ts.max(clock)));
                    }
                    clock = clock.max(p.ts);
                    sf.tunnels.packet(&p);
                    prov(&mut note, &k.to_string(), clock);
                    let b = shard_of(&p, n);
                    let dns_too = is_dns(&p);
                    if let Some(w) = buckets.get_mut(b) {
                        w.frame(&frame, &note, true)?;
                    }
                    if dns_too {
                        dns.frame(&frame, &note, true)?;
                    }
                    went = Some((b, dns_too));
                }
                if completed {
                    sf.completed += 1;
                    prov(&mut note, "done", clock);
                    to_the_rest(&mut buckets, &mut dns, &frame, &note, went)?;
                }
            }
            Decoded::FragmentHeld => {
                sf.held += 1;
                prov(&mut note, "held", clock);
                to_the_rest(&mut buckets, &mut dns, &frame, &note, None)?;
            }
            Decoded::Skipped(_) => {}
        }
    }
    let outcome = reader.finish();
    decoder.finish();
    summary.finish(outcome, &decoder);
    sf.packets = k;
    sf.clock_max = (k > 0).then_some(clock);
    sf.decoded = decoder.stats().packets;
    sf.skipped = decoder
        .stats()
        .skipped
        .iter()
        .map(|(r, n)| (r.clone(), *n))
        .collect();
    sf.summary = Some(summary);
    sf.written = buckets
        .into_iter()
        .map(NgWriter::finish)
        .collect::<io::Result<_>>()?;
    sf.dns = dns.finish()?;
    write_json(&dir, &sf)?;
    Ok(sf)
}

/// Writes a frame that is no packet of theirs (a held fragment, a `done` frame) to every
/// bucket and to the DNS file, except where it `went` as a packet (its bucket, and the DNS
/// file when it has it).
fn to_the_rest(
    buckets: &mut [NgWriter],
    dns: &mut NgWriter,
    frame: &Frame<'_>,
    note: &str,
    went: Option<(usize, bool)>,
) -> io::Result<()> {
    for (i, w) in buckets.iter_mut().enumerate() {
        if went.map(|(b, _)| b) != Some(i) {
            w.frame(frame, note, false)?;
        }
    }
    if !went.is_some_and(|(_, in_dns)| in_dns) {
        dns.frame(frame, note, false)?;
    }
    Ok(())
}

fn write_json(dir: &Path, sf: &SplitFile) -> io::Result<()> {
    let path = dir.join("split.json");
    let text = serde_json::to_string_pretty(sf).map_err(io::Error::other)?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Reads a split folder's `split.json`.
pub fn read_split(dir: &Path) -> io::Result<SplitFile> {
    let path = dir.join("split.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    // The version first: another version's fields are not this one's.
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(SPLIT_VERSION)) {
        return Err(bad(format!(
            "{}: split format {} (this exfilmeter reads {SPLIT_VERSION}: split the captures again with it)",
            path.display(),
            version.map_or_else(|| "unknown".to_string(), |v| v.to_string())
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(format!("{}: {e}", path.display())))
}

/// A frame's place in the run, read back from its comment in a bucket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    /// The input's index in the run.
    pub file: u32,
    /// Frame number in that file.
    pub frame: u64,
    /// Byte offset of its record or block there.
    pub offset: u64,
    /// Packet ordinal within the file, `None` for a held fragment or a `done` frame.
    pub packet: Option<u64>,
    /// Latest capture time over the file's packets up to this one.
    pub clock: Timestamp,
    /// The original format stored no time for it.
    pub untimed: bool,
}

impl Provenance {
    /// Parses a frame comment written by `split`.
    pub fn parse(s: &str) -> Option<Provenance> {
        let mut it = s.split(' ');
        if it.next()? != "exfilmeter" {
            return None;
        }
        let (mut file, mut frame, mut offset, mut packet, mut clock) =
            (None, None, None, None, None);
        let mut untimed = false;
        for part in it {
            if part == "untimed" {
                untimed = true;
                continue;
            }
            let (k, v) = part.split_once('=')?;
            match k {
                "file" => file = v.parse().ok(),
                "frame" => frame = v.parse().ok(),
                "offset" => offset = v.parse().ok(),
                "packet" if v == "held" || v == "done" => packet = Some(None),
                "packet" => packet = Some(Some(v.parse().ok()?)),
                "clock" => clock = v.parse().ok().map(Timestamp),
                _ => return None,
            }
        }
        Some(Provenance {
            file: file?,
            frame: frame?,
            offset: offset?,
            packet: packet?,
            clock: clock?,
            untimed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_round_trips_and_refuses_other_comments() {
        let p = Provenance::parse(
            "exfilmeter file=3 frame=1234 offset=567890 packet=1201 clock=-5 untimed",
        );
        assert_eq!(
            p,
            Some(Provenance {
                file: 3,
                frame: 1234,
                offset: 567890,
                packet: Some(1201),
                clock: Timestamp(-5),
                untimed: true,
            })
        );
        let held = Provenance::parse("exfilmeter file=0 frame=1 offset=24 packet=held clock=7");
        assert_eq!(held.map(|p| p.packet), Some(None));
        assert_eq!(Provenance::parse("a comment from Wireshark"), None);
        assert_eq!(Provenance::parse("exfilmeter file=0 frame=1"), None);
        assert_eq!(
            Provenance::parse("exfilmeter file=0 frame=1 offset=2 packet=x clock=3"),
            None
        );
    }

    #[test]
    fn blocks_are_padded_to_four_bytes() {
        let mut b = Vec::new();
        option(&mut b, 1, b"abcde");
        assert_eq!(b.len(), 4 + 8);
        assert_eq!(&b[..4], &[1, 0, 5, 0]);
    }
}
