//! The IOC set: every indicator of every source, indexed for matching addresses
//! (longest prefix) and names (exact, then the longest matching suffix).

use crate::indicator::{Indicator, Target};
use crate::load::{
    detect_format, parse_csv, parse_stix, parse_text, Format, IntelError, Sink, Warning,
};
use crate::net::masked;
use exfilmeter_ingest::Timestamp;
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Index of an indicator in [`IocSet::indicators`].
pub type IocId = usize;

/// All indicators, indexed.
#[derive(Debug, Default)]
pub struct IocSet {
    sources: Vec<PathBuf>,
    indicators: Vec<Indicator>,
    warnings: Vec<Warning>,
    ignored: Vec<Warning>,
    /// (is_v6, prefix) → masked network → indicators. Prefixes kept longest first.
    nets: FxHashMap<(bool, u8), FxHashMap<u128, Vec<IocId>>>,
    prefixes_v4: Vec<u8>,
    prefixes_v6: Vec<u8>,
    names: FxHashMap<String, Vec<IocId>>,
    suffixes: FxHashMap<String, Vec<IocId>>,
}

impl IocSet {
    /// Reads sources (format by extension, else by content). Without `lenient`, the first
    /// malformed entry is an error naming file and line; with it, a [`Warning`]. A source
    /// with no indicator at all is always an error.
    pub fn load<P: AsRef<Path>>(paths: &[P], lenient: bool) -> Result<IocSet, IntelError> {
        let mut set = IocSet::default();
        for p in paths {
            let path = p.as_ref();
            let content = std::fs::read_to_string(path).map_err(|e| IntelError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            set.add_source(path, &content, detect_format(path, &content), lenient)?;
        }
        Ok(set)
    }

    /// Adds one source's text.
    pub fn add_source(
        &mut self,
        path: &Path,
        content: &str,
        format: Format,
        lenient: bool,
    ) -> Result<(), IntelError> {
        let source = self.sources.len() as u32;
        self.sources.push(path.to_path_buf());
        let before = self.indicators.len();
        let mut found = Vec::new();
        {
            let mut sink = Sink {
                source,
                path,
                lenient,
                out: &mut found,
                warnings: &mut self.warnings,
                ignored: &mut self.ignored,
            };
            match format {
                Format::Text => parse_text(content, &mut sink)?,
                Format::Csv => parse_csv(content, &mut sink)?,
                Format::Stix => parse_stix(content, &mut sink)?,
                Format::ZeekIntel => crate::exchange::parse_zeek_intel(content, &mut sink)?,
                Format::Misp => {
                    let doc: serde_json::Value =
                        serde_json::from_str(content).map_err(|e| IntelError::Parse {
                            path: path.to_path_buf(),
                            line: e.line() as u32,
                            message: format!("not valid JSON: {e}"),
                        })?;
                    crate::exchange::parse_misp(&doc, &mut sink)?
                }
            }
        }
        if found.is_empty() {
            return Err(IntelError::Empty {
                path: path.to_path_buf(),
            });
        }
        for ind in found {
            let id = self.indicators.len();
            match &ind.target {
                Target::Net(n) => {
                    let v6 = n.addr.is_ipv6();
                    self.nets
                        .entry((v6, n.prefix))
                        .or_default()
                        .entry(masked(n.addr, n.prefix))
                        .or_default()
                        .push(id);
                    let list = if v6 {
                        &mut self.prefixes_v6
                    } else {
                        &mut self.prefixes_v4
                    };
                    if !list.contains(&n.prefix) {
                        list.push(n.prefix);
                        list.sort_unstable_by(|a, b| b.cmp(a));
                    }
                }
                Target::Name(s) => self.names.entry(s.clone()).or_default().push(id),
                Target::Suffix(s) => self.suffixes.entry(s.clone()).or_default().push(id),
            }
            self.indicators.push(ind);
        }
        debug_assert!(self.indicators.len() > before);
        Ok(())
    }

    /// The source files, by [`crate::Origin::source`].
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    /// All indicators.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// Entries skipped in lenient mode.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Well-formed entries left out on purpose: not network indicators (file hashes, e-mail
    /// addresses…), or marked not for detection (MISP `to_ids: false`, deleted).
    pub fn ignored(&self) -> &[Warning] {
        &self.ignored
    }

    /// Indicator `id`.
    pub fn get(&self, id: IocId) -> Option<&Indicator> {
        self.indicators.get(id)
    }

    /// `file:line` of an indicator, for reports.
    pub fn origin_text(&self, id: IocId) -> String {
        let mut s = String::new();
        self.write_origin(id, &mut s);
        s
    }

    /// Appends [`IocSet::origin_text`] to `out` (no allocation of its own).
    pub fn write_origin(&self, id: IocId, out: &mut String) {
        use std::fmt::Write as _;
        match self.indicators.get(id) {
            Some(i) => {
                match self.sources.get(i.origin.source as usize) {
                    Some(p) => {
                        let _ = write!(out, "{}", p.display());
                    }
                    None => out.push('?'),
                }
                let _ = write!(out, ":{}", i.origin.line);
            }
            None => out.push('?'),
        }
    }

    fn first_valid(&self, ids: &[IocId], ts: Timestamp) -> Option<IocId> {
        ids.iter()
            .copied()
            .find(|&i| self.indicators[i].valid_at(ts))
    }

    /// The indicator of the longest prefix containing `ip` that is valid at `ts`.
    pub fn match_ip(&self, ip: IpAddr, ts: Timestamp) -> Option<IocId> {
        let v6 = ip.is_ipv6();
        let prefixes = if v6 {
            &self.prefixes_v6
        } else {
            &self.prefixes_v4
        };
        for &p in prefixes {
            if let Some(ids) = self.nets.get(&(v6, p)).and_then(|m| m.get(&masked(ip, p))) {
                if let Some(id) = self.first_valid(ids, ts) {
                    return Some(id);
                }
            }
        }
        None
    }

    /// The indicator for a host name valid at `ts`: an exact name first, then the longest
    /// matching `*.suffix`. Case and a trailing dot are ignored.
    pub fn match_name(&self, name: &str, ts: Timestamp) -> Option<IocId> {
        if self.names.is_empty() && self.suffixes.is_empty() {
            return None;
        }
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(id) = self.names.get(&n).and_then(|ids| self.first_valid(ids, ts)) {
            return Some(id);
        }
        let mut rest = n.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(id) = self
                .suffixes
                .get(parent)
                .and_then(|ids| self.first_valid(ids, ts))
            {
                return Some(id);
            }
            rest = parent;
        }
        None
    }

    /// Number of indicators.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }
}
