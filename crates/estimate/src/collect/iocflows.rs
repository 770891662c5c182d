//! The closed IOC flows' facts (`ioc_flows.csv`, the STIX sightings), read back in time order
//! (first frame, then flow id). In memory by default; a run given a spill folder writes them
//! out as flows close, in sorted runs of [`RUN`] flows (MessagePack, each flow after its
//! length so that it is decoded from memory, in unnamed temporary files that vanish with the
//! process), and merges the runs when they are read: memory holds one run
//! and a read buffer per run, not every flow. Runs are merged by level as they pile up (64 runs
//! of one level make one of the next), so each flow is rewritten once per level and the files
//! open at once stay few.

use super::{IocFlow, Name};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Flows per sorted run written out (about 10 MB of them in memory).
pub const RUN: usize = 1 << 15;
/// Runs of one level merged into one of the next when there are this many.
const MERGE_AT: usize = 64;

/// The order of `ioc_flows.csv`.
fn key(f: &IocFlow) -> (i64, u64) {
    (f.first_ts.0, f.flow.0)
}

/// The closed IOC flows of a run.
#[derive(Debug, Default)]
pub struct IocFlows {
    /// Flows not yet written out (all of them without a spill folder).
    pending: Vec<IocFlow>,
    spill: Option<Spill>,
    /// Hosts given at the end of the run to flows that learnt no server name, by the server
    /// address they carry.
    renamed: HashMap<Name, Name>,
}

#[derive(Debug)]
struct Spill {
    /// Flows per run.
    run: usize,
    dir: PathBuf,
    /// Each run with its level (0: written from memory; n + 1: merged from runs of level n).
    runs: Vec<(u32, File)>,
    /// The first error writing a run: reported when the flows are read.
    error: Option<io::Error>,
}

impl Spill {
    /// Merges the runs of each level that has [`MERGE_AT`] of them into one of the next.
    fn merge_levels(&mut self) {
        let mut level = 0;
        while self.runs.iter().filter(|r| r.0 == level).count() >= MERGE_AT {
            let (taken, kept): (Vec<_>, Vec<_>) = self.runs.drain(..).partition(|r| r.0 == level);
            self.runs = kept;
            let files = taken.into_iter().map(|r| r.1).collect();
            match Merge::new(files, Vec::new()).and_then(|m| write_run(&self.dir, m)) {
                Ok(f) => self.runs.push((level + 1, f)),
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
            level += 1;
        }
    }
}

impl IocFlows {
    /// Flows written out in sorted runs in `dir` (unnamed temporary files) as they close.
    pub fn spilled_in(dir: &Path) -> IocFlows {
        IocFlows::spilled_in_runs_of(dir, RUN)
    }

    fn spilled_in_runs_of(dir: &Path, run: usize) -> IocFlows {
        IocFlows {
            spill: Some(Spill {
                run: run.max(1),
                dir: dir.to_path_buf(),
                runs: Vec::new(),
                error: None,
            }),
            ..IocFlows::default()
        }
    }

    /// Adds a closed flow.
    pub fn push(&mut self, f: IocFlow) {
        self.pending.push(f);
        if self
            .spill
            .as_ref()
            .is_some_and(|s| self.pending.len() >= s.run)
        {
            self.write_run();
        }
    }

    /// Writing a run out failed (the error is returned when the flows are read).
    pub fn failed(&self) -> bool {
        self.spill.as_ref().is_some_and(|s| s.error.is_some())
    }

    /// Takes the flows held in memory (a shard's, after each flow).
    pub fn take_pending(&mut self) -> Vec<IocFlow> {
        std::mem::take(&mut self.pending)
    }

    /// Gives each flow that learnt no server name the host `renamed` has for its address
    /// ([`IocFlow::unnamed`]) when the flows are read.
    pub fn rename(&mut self, renamed: HashMap<Name, Name>) {
        self.renamed = renamed;
    }

    fn write_run(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        if spill.error.is_some() {
            return;
        }
        self.pending.sort_unstable_by_key(key);
        let written = write_run(&spill.dir, self.pending.iter().map(Ok));
        match written {
            Ok(f) => {
                self.pending.clear();
                spill.runs.push((0, f));
                spill.merge_levels();
            }
            // The flows stay in memory; the error is reported when they are read.
            Err(e) => spill.error = Some(e),
        }
    }

    /// Every flow, in time order (first frame, then flow id), with the end-of-run hosts.
    /// One read at a time: the runs' files are shared by every read.
    pub fn sorted(&self) -> io::Result<impl Iterator<Item = io::Result<IocFlow>> + '_> {
        let mut runs = Vec::new();
        if let Some(spill) = self.spill.as_ref() {
            if let Some(e) = &spill.error {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "writing the IOC flows to a temporary file in {}: {e}",
                        spill.dir.display()
                    ),
                ));
            }
            for (_, f) in &spill.runs {
                let mut f = f.try_clone()?;
                f.seek(SeekFrom::Start(0))?;
                runs.push(f);
            }
        }
        let mut pending = self.pending.clone();
        pending.sort_unstable_by_key(key);
        let renamed = &self.renamed;
        Ok(Merge::new(runs, pending)?.map(move |f| {
            let mut f = f?;
            if let Some(h) = f.unnamed.as_ref().and_then(|ip| renamed.get(ip)) {
                f.host = h.clone();
            }
            Ok(f)
        }))
    }
}

/// Writes sorted flows to a new unnamed file in `dir`, rewound for reading.
fn write_run<T: std::borrow::Borrow<IocFlow>>(
    dir: &Path,
    flows: impl Iterator<Item = io::Result<T>>,
) -> io::Result<File> {
    let file = tempfile::tempfile_in(dir)?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    for f in flows {
        buf.clear();
        rmp_serde::encode::write(&mut buf, f?.borrow()).map_err(io::Error::other)?;
        let len = u32::try_from(buf.len())
            .ok()
            .filter(|&n| n as usize <= MAX_FLOW_BYTES)
            .ok_or_else(|| spill_error(format!("a flow of {} bytes", buf.len())))?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&buf)?;
    }
    w.flush()?;
    let mut file = w.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// A k-way merge of sorted runs and one sorted list in memory.
struct Merge {
    readers: Vec<BufReader<File>>,
    /// The flow being decoded.
    buf: Vec<u8>,
    /// The next flow of each reader, and the list's (last).
    heads: Vec<Option<IocFlow>>,
    memory: std::vec::IntoIter<IocFlow>,
    heap: BinaryHeap<Reverse<((i64, u64), usize)>>,
}

impl Merge {
    fn new(runs: Vec<File>, memory: Vec<IocFlow>) -> io::Result<Merge> {
        let mut m = Merge {
            readers: runs
                .into_iter()
                .map(|f| BufReader::with_capacity(1 << 16, f))
                .collect(),
            buf: Vec::new(),
            heads: Vec::new(),
            memory: memory.into_iter(),
            heap: BinaryHeap::new(),
        };
        m.heads = (0..=m.readers.len()).map(|_| None).collect();
        for i in 0..=m.readers.len() {
            m.advance(i)?;
        }
        Ok(m)
    }

    /// Reads source `i`'s next flow into its head.
    fn advance(&mut self, i: usize) -> io::Result<()> {
        let next = match self.readers.get_mut(i) {
            Some(r) => read_one(r, &mut self.buf)?,
            None => self.memory.next(),
        };
        if let Some(f) = &next {
            self.heap.push(Reverse((key(f), i)));
        }
        self.heads[i] = next;
        Ok(())
    }
}

/// The next flow of a run (its length, then its bytes), none at its end.
fn read_one(r: &mut BufReader<File>, buf: &mut Vec<u8>) -> io::Result<Option<IocFlow>> {
    use std::io::{BufRead as _, Read as _};
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|e| spill_error(format!("a flow's length cut short: {e}")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FLOW_BYTES {
        return Err(spill_error(format!("a flow of {len} bytes")));
    }
    buf.clear();
    r.take(len as u64).read_to_end(buf)?;
    if buf.len() != len {
        return Err(spill_error(format!(
            "a flow of {len} bytes cut short at {}",
            buf.len()
        )));
    }
    rmp_serde::from_slice(buf)
        .map(Some)
        .map_err(|e| spill_error(e.to_string()))
}

/// A flow's facts are a few hundred bytes; a length past this is a damaged file.
const MAX_FLOW_BYTES: usize = 1 << 26;

/// A damaged spill file.
fn spill_error(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("IOC flow spill: {what}"),
    )
}

impl Iterator for Merge {
    type Item = io::Result<IocFlow>;

    fn next(&mut self) -> Option<io::Result<IocFlow>> {
        let Reverse((_, i)) = self.heap.pop()?;
        let f = self.heads[i].take()?;
        Some(self.advance(i).map(|()| f))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use exfilmeter_ingest::{FileId, FrameRef, Timestamp};

    fn flow(id: u64, ts: i64, host: &str) -> IocFlow {
        let fr = FrameRef {
            file: FileId(0),
            index: id,
            offset: 0,
        };
        IocFlow {
            flow: exfilmeter_flow::FlowId(id),
            host: host.into(),
            indicator: "198.51.100.0/25".into(),
            iocs: vec![id as usize % 3],
            evidence: vec![(exfilmeter_intel::Via::Ip, fr)],
            server: "198.51.100.7".into(),
            port: 443,
            first_ts: Timestamp(ts),
            last_ts: Timestamp(ts + 5),
            frames: (fr, fr),
            c2s: exfilmeter_flow::Counters::default(),
            // Every 7th flow learnt no server name (its address is named at the end), every
            // 11th other one neither (an address the end does not name).
            unnamed: match (id % 7, id % 11) {
                (0, _) => Some("198.51.100.7".into()),
                (_, 0) => Some("198.51.100.8".into()),
                _ => None,
            },
        }
    }

    /// A run cut short inside a flow, or one whose length says more than a flow can be, reads
    /// back as an error naming the spill, not a panic and not fewer flows.
    #[test]
    fn a_damaged_run_is_an_error() {
        for damage in ["cut", "length"] {
            let dir = tempfile::tempdir().unwrap();
            let mut disk = IocFlows::spilled_in_runs_of(dir.path(), 4);
            for i in 0..4 {
                disk.push(flow(i, i as i64, "a"));
            }
            {
                let f = &mut disk.spill.as_mut().unwrap().runs[0].1;
                let size = f.metadata().unwrap().len();
                match damage {
                    "cut" => f.set_len(size - 3).unwrap(),
                    _ => {
                        f.seek(SeekFrom::Start(0)).unwrap();
                        f.write_all(&u32::MAX.to_le_bytes()).unwrap();
                    }
                }
            }
            let read: Vec<io::Result<IocFlow>> =
                disk.sorted().map_or_else(|e| vec![Err(e)], |m| m.collect());
            let err = read
                .iter()
                .find_map(|r| r.as_ref().err())
                .unwrap_or_else(|| panic!("{damage}: no error"));
            assert!(
                err.to_string().contains("IOC flow spill"),
                "{damage}: {err}"
            );
        }
    }

    /// Runs of one flow each: 64 make a run of level 1, 64 of those one of level 2; the flows
    /// read back are every one, in order.
    #[test]
    fn runs_merge_level_by_level() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = IocFlows::spilled_in_runs_of(dir.path(), 1);
        let n = MERGE_AT * MERGE_AT + MERGE_AT + 3;
        for i in 0..n {
            disk.push(flow(i as u64, ((i * 7919) % 1000) as i64, "a"));
        }
        let levels: Vec<u32> = disk
            .spill
            .as_ref()
            .unwrap()
            .runs
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(
            levels,
            [2, 1, 0, 0, 0],
            "one of level 2, one of level 1, three new"
        );
        let got: Vec<IocFlow> = disk.sorted().unwrap().map(Result::unwrap).collect();
        assert_eq!(got.len(), n);
        assert!(got.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Spilled in runs (merged again past [`MERGE_AT`] of them) or held in memory, the
        /// flows read back are the same: every one, once, in time order, renamed.
        #[test]
        fn spilled_flows_read_back_sorted_as_in_memory(
            times in proptest::collection::vec(0i64..50, 0..700),
            run in 1usize..9,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut mem = IocFlows::default();
            let mut disk = IocFlows::spilled_in_runs_of(dir.path(), run);
            let n = times.len();
            for (i, &t) in times.iter().enumerate() {
                mem.push(flow(i as u64, t, "a"));
                disk.push(flow(i as u64, t, "a"));
            }
            proptest::prop_assert_eq!(disk.pending.len(), n % run, "runs written out");
            let renamed: HashMap<Name, Name> = [("198.51.100.7".into(), "b".into())].into();
            mem.rename(renamed.clone());
            disk.rename(renamed);
            let a: Vec<IocFlow> = mem.sorted().unwrap().map(Result::unwrap).collect();
            let b: Vec<IocFlow> = disk.sorted().unwrap().map(Result::unwrap).collect();
            proptest::prop_assert_eq!(a.len(), n);
            proptest::prop_assert!(a.windows(2).all(|w| key(&w[0]) < key(&w[1])));
            proptest::prop_assert!(a.iter().all(|f| (&*f.host == "b") == (f.flow.0 % 7 == 0)));
            proptest::prop_assert!(a == b, "spilled and in-memory flows differ");
            // A second read gives the same.
            let c: Vec<IocFlow> = disk.sorted().unwrap().map(Result::unwrap).collect();
            proptest::prop_assert!(b == c);
        }
    }
}
