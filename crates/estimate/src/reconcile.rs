//! Reconciliation of the records confirmed by matching with the volume estimate (DESIGN §9):
//! sightings of recovered rows placed on a local day, host and flow, counted per day × host
//! and per period. Rows are counted by key (a key staged twice counts once), and a row sent
//! twice is one row with both sightings.

use exfilmeter_content::{Level, Merge, Pending, RecoveredIndex};
use exfilmeter_flow::FlowId;
use std::collections::{BTreeMap, BTreeSet};

/// A sighting of a recovered row in the traffic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sighting {
    /// What was seen.
    pub seen: Pending,
    /// Local day of the upload's completion (the day its records count on).
    pub day: i32,
    /// Host.
    pub host: String,
    /// Flow.
    pub flow: FlowId,
    /// The server address of a flow that learnt no server name, whose host the end of the
    /// run may still name: sightings of two such flows stay apart until then.
    #[serde(default)]
    pub unnamed: Option<String>,
}

impl Merge for Sighting {
    type Key = (u32, Level, i32, String, Option<String>);
    fn key(&self) -> Self::Key {
        (
            self.seen.row,
            self.seen.level,
            self.day,
            self.host.clone(),
            self.unnamed.clone(),
        )
    }
    fn absorb(&mut self, o: Self) {
        if o.seen.ts < self.seen.ts {
            self.flow = o.flow;
        }
        self.seen.absorb(o.seen);
    }
}

/// Counts of one day and host, or of one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recon {
    /// Records (distinct keys, or rows without key) confirmed.
    pub confirmed: u64,
    /// Records seen cut, and not confirmed in the same span.
    pub partial: u64,
    /// Records whose key only was seen, and not confirmed or partial in the same span.
    pub key_only: u64,
    /// Bytes of the confirmed sightings (every sighting).
    pub matched_bytes: u64,
    /// Record transmissions the confirmed records explain: every confirmed sighting, a
    /// record sent three times counting three (distinct records are `confirmed`).
    pub explained: u64,
}

/// The identity a record is counted by: its key, else its row.
fn identity(index: &RecoveredIndex, row: u32) -> u64 {
    match index.rows.get(row as usize) {
        Some(r) if r.key != u32::MAX => u64::from(r.key),
        _ => (1 << 32) | u64::from(row),
    }
}

/// Reconciles the sightings that `keep` selects.
pub fn recon_of<'a>(
    index: &RecoveredIndex,
    sightings: impl Iterator<Item = &'a Sighting>,
) -> Recon {
    recon_by_identity(sightings.map(|s| {
        let id = identity(index, s.seen.row);
        (id, s.seen.level, s.seen.bytes, s.seen.count)
    }))
}

/// Reconciles sightings given as (record identity, level, bytes matched, sightings it stands
/// for): each record counts once, at the best level it reached; matched bytes and explained
/// transmissions are summed over confirmed sightings.
/// (`recon_of` on the index, and the same on the rows of `sightings.csv`.)
pub fn recon_by_identity<I: Ord>(sightings: impl Iterator<Item = (I, Level, u64, u64)>) -> Recon {
    let mut best: BTreeMap<I, Level> = BTreeMap::new();
    let (mut matched, mut explained) = (0, 0);
    for (id, level, bytes, count) in sightings {
        let e = best.entry(id).or_insert(level);
        *e = (*e).min(level);
        if level == Level::Confirmed {
            matched += bytes;
            explained += count;
        }
    }
    let count = |l: Level| best.values().filter(|&&v| v == l).count() as u64;
    Recon {
        confirmed: count(Level::Confirmed),
        partial: count(Level::Partial),
        key_only: count(Level::KeyOnly),
        matched_bytes: matched,
        explained,
    }
}

/// The identity of a record as written in `sightings.csv`: its key, else `file:line`.
pub fn identity_text(index: &RecoveredIndex, row: u32) -> String {
    match index.rows.get(row as usize) {
        Some(r) if r.key != u32::MAX => String::from_utf8_lossy(index.key(r.key)).to_string(),
        Some(r) => {
            let file = index
                .files
                .get(r.file as usize)
                .and_then(|f| f.path.file_name())
                .map_or_else(String::new, |n| n.to_string_lossy().to_string());
            format!("{file}:{}", r.line)
        }
        None => format!("?:{row}"),
    }
}

/// Reconciliation per local day and host.
pub fn recon_by_day(
    index: &RecoveredIndex,
    sightings: &[Sighting],
) -> BTreeMap<(i32, String), Recon> {
    let mut groups: BTreeMap<(i32, &str), Vec<&Sighting>> = BTreeMap::new();
    for s in sightings {
        groups.entry((s.day, s.host.as_str())).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|((d, h), v)| ((d, h.to_string()), recon_of(index, v.into_iter())))
        .collect()
}

/// One line of `confirmed_records.csv`: a record at the best level it was seen at, with
/// its first sighting at that level and how many sightings it had in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSeen {
    /// Row.
    pub row: u32,
    /// Best level.
    pub level: Level,
    /// First sighting at that level.
    pub first: Sighting,
    /// Sightings at any level.
    pub sightings: u64,
    /// Days with a sighting at the best level.
    pub days: BTreeSet<i32>,
}

/// Every record seen, one per identity (key), ordered by level, then first-seen time, then
/// row.
pub fn records_seen(index: &RecoveredIndex, sightings: &[Sighting]) -> Vec<RecordSeen> {
    let mut by: BTreeMap<u64, RecordSeen> = BTreeMap::new();
    for s in sightings {
        let id = identity(index, s.seen.row);
        match by.get_mut(&id) {
            None => {
                by.insert(
                    id,
                    RecordSeen {
                        row: s.seen.row,
                        level: s.seen.level,
                        first: s.clone(),
                        sightings: s.seen.count,
                        days: [s.day].into_iter().collect(),
                    },
                );
            }
            Some(r) => {
                r.sightings += s.seen.count;
                let better = s.seen.level < r.level;
                let earlier = s.seen.level == r.level
                    && (s.seen.ts, s.seen.row) < (r.first.seen.ts, r.first.seen.row);
                if better {
                    r.days.clear();
                }
                if s.seen.level == r.level || better {
                    r.days.insert(s.day);
                }
                if better || earlier {
                    r.level = s.seen.level;
                    r.row = s.seen.row;
                    r.first = s.clone();
                }
            }
        }
    }
    let mut out: Vec<RecordSeen> = by.into_values().collect();
    out.sort_by_key(|a| (a.level, a.first.seen.ts, a.row));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use exfilmeter_content::testkit::{csv_index, line};
    use exfilmeter_content::{Cursor, Matcher};

    #[test]
    fn whole_lines_confirm_cut_lines_are_partial_and_keys_alone_key_only() {
        let (_dir, idx) = csv_index("100000001,Alice,Tokyo\n100000002,Bob,Osaka\n100000003,Carol,Kobe\n100000001,Alice,Tokyo\n", true);
        let mut m = Matcher::new(&idx);
        let mut out = Vec::new();
        let mut prev = Cursor::default();
        for (text, whole, i) in [
            (&b"100000002,Bob,Osaka"[..], true, 1),
            (b"100000003,Carol,Ko", false, 3),
            (b"note about 100000001 only", true, 5),
            (b"100000002,Bob,Osakb", true, 7),
        ] {
            m.line(&line(text, whole, i), text, &mut prev, &mut out);
        }
        let levels: Vec<(u32, Level)> = out.iter().map(|p| (p.row, p.level)).collect();
        assert_eq!(
            levels,
            vec![
                (1, Level::Confirmed),
                (2, Level::Partial),
                (0, Level::KeyOnly),
                (1, Level::KeyOnly)
            ]
        );
        assert_eq!(out[0].frames.0.index, 1);
        assert_eq!(out[0].frames.1.index, 2);
        let s: Vec<Sighting> = out
            .into_iter()
            .map(|p| Sighting {
                seen: p,
                day: 0,
                host: "h".into(),
                flow: FlowId(1),
                unnamed: None,
            })
            .collect();
        // Row 1 confirmed and key-only: counted once, as confirmed.
        let r = recon_of(&idx, s.iter());
        assert_eq!((r.confirmed, r.partial, r.key_only), (1, 1, 1));
        assert_eq!(r.matched_bytes, 19);
        let seen = records_seen(&idx, &s);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].level, Level::Confirmed);
        assert_eq!(seen[0].sightings, 2);
    }

    /// Sightings of flows that learnt no server name merge only with those to the same
    /// address: the end of the run may name the two addresses' hosts differently.
    #[test]
    fn unnamed_flows_sightings_merge_per_server_address() {
        let f = exfilmeter_ingest::FrameRef {
            file: exfilmeter_ingest::FileId(0),
            index: 1,
            offset: 0,
        };
        let s = |flow: u64, unnamed: Option<&str>| Sighting {
            seen: Pending {
                row: 3,
                level: Level::Confirmed,
                ts: exfilmeter_ingest::Timestamp(flow as i64),
                frames: (f, f),
                bytes: 10,
                count: 1,
            },
            day: 5,
            host: "198.51.100.0/25".into(),
            flow: FlowId(flow),
            unnamed: unnamed.map(str::to_string),
        };
        let mut v = vec![
            s(1, Some("198.51.100.7")),
            s(2, Some("198.51.100.9")),
            s(3, Some("198.51.100.7")),
            s(4, None),
        ];
        exfilmeter_content::compact(&mut v);
        let kept: Vec<(u64, Option<&str>, u64)> = v
            .iter()
            .map(|x| (x.flow.0, x.unnamed.as_deref(), x.seen.count))
            .collect();
        assert_eq!(
            kept,
            [
                (1, Some("198.51.100.7"), 2),
                (2, Some("198.51.100.9"), 1),
                (4, None, 1)
            ]
        );
    }
}
