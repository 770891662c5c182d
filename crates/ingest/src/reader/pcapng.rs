//! pcapng: sections (each with its own byte order), interfaces (each with its own link
//! type, snaplen, `if_tsresol` and `if_tsoffset`), enhanced, simple and obsolete packet
//! blocks; every other block is counted and skipped.
//!
//! Read first: draft-ietf-opsawg-pcapng, sections 3 (block layout) and 4 (blocks).
//! Framing (lengths, trailer, alignment) is validated here before `pcap-parser` sees a
//! block, so a corrupt length never drives an allocation or a read past the block.

use super::{ByteOrder, Candidate, CaptureReader, FrameMeta, State, Step, MAX_BLOCK_LEN};
use crate::error::DamageKind;
use crate::frame::LinkType;
use crate::Timestamp;
use pcap_parser::pcapng as ng;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const OBSOLETE_PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const NRB: u32 = 0x0000_0004;
const ISB: u32 = 0x0000_0005;
const EPB: u32 = 0x0000_0006;
const BOM: u32 = 0x1A2B_3C4D;
/// Blocks that must follow a resync candidate back to back before it is accepted.
const RESYNC_CHAIN: usize = 3;

/// One capture interface (pcap: the file header; pcapng: an IDB).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interface {
    /// pcapng section number (0-based); 0 for pcap.
    pub section: u32,
    /// Link type.
    pub link: LinkType,
    /// Snapshot length (0 = unlimited).
    pub snaplen: u32,
    /// Timestamp units per second (10^6 by default).
    pub ts_units_per_sec: u64,
    /// `if_tsoffset` in seconds.
    pub ts_offset_secs: i64,
    /// `if_name`, when given.
    pub name: Option<String>,
    /// Frames captured on it.
    pub packets: u64,
}

/// What a packet needs of its interface.
#[derive(Clone, Copy)]
struct IfaceTiming {
    link: LinkType,
    snaplen: u32,
    ts_units_per_sec: u64,
    ts_offset_secs: i64,
}

#[derive(Default)]
pub(crate) struct NgState {
    order: Option<ByteOrder>,
    /// Index in `stats.interfaces` of this section's first interface.
    section_base: usize,
}

fn block_name(t: u32) -> String {
    match t {
        SHB => "SHB".into(),
        IDB => "IDB".into(),
        OBSOLETE_PB => "PB (obsolete)".into(),
        SPB => "SPB".into(),
        NRB => "NRB".into(),
        ISB => "ISB".into(),
        EPB => "EPB".into(),
        0x0000_0009 => "SJE".into(),
        0x0000_000A => "DSB".into(),
        0x0000_0BAD | 0x4000_0BAD => "custom".into(),
        0x8000_0001 => "PIB".into(),
        _ => format!("unknown 0x{t:08X}"),
    }
}

/// Reads the section byte order from an SHB's byte-order magic (bytes 8..12).
fn shb_order(b: &[u8]) -> Option<ByteOrder> {
    let m = [b[8], b[9], b[10], b[11]];
    if u32::from_le_bytes(m) == BOM {
        Some(ByteOrder::Little)
    } else if u32::from_be_bytes(m) == BOM {
        Some(ByteOrder::Big)
    } else {
        None
    }
}

/// Checks the framing of the block at `b[0]`: Ok(len) or the reason it is impossible.
fn frame_block(b: &[u8], order: ByteOrder) -> Result<usize, String> {
    let len = order.u32(b, 4) as usize;
    if len < 12 {
        return Err(format!("block length {len} is below the 12-byte minimum"));
    }
    if len % 4 != 0 {
        return Err(format!("block length {len} is not a multiple of 4"));
    }
    if len > MAX_BLOCK_LEN {
        return Err(format!(
            "block length {len} exceeds the {MAX_BLOCK_LEN}-byte limit"
        ));
    }
    Ok(len)
}

/// Checks that the options in `b[start..end]` are well framed: each `code, len, value`
/// padded to 4 bytes fits, and the list ends at `end` or with `opt_endofopt`.
/// (pcap-parser silently drops a trailing option that overruns its block.)
fn options_ok_at(b: &[u8], mut at: usize, end: usize, order: ByteOrder) -> bool {
    while at < end {
        if at + 4 > end {
            return false;
        }
        let code = order.u16(b, at);
        let len = usize::from(order.u16(b, at + 2));
        if code == 0 {
            return true;
        }
        let padded = (len + 3) & !3;
        if at + 4 + padded > end {
            return false;
        }
        at += 4 + padded;
    }
    true
}

impl CaptureReader {
    pub(super) fn ng_step(&mut self) -> Step {
        self.fill(12);
        let offset = self.rb.offset();
        let avail = self.rb.avail();
        if avail == 0 {
            return Step::Done;
        }
        if avail < 12 {
            self.error(
                offset,
                DamageKind::Truncated,
                format!("file ends inside a block header ({avail} of 12 bytes present)"),
            );
            self.rb.start = self.rb.end;
            return Step::Done;
        }
        let s = self.rb.start;
        let raw_type = u32::from_le_bytes([
            self.rb.buf[s],
            self.rb.buf[s + 1],
            self.rb.buf[s + 2],
            self.rb.buf[s + 3],
        ]);
        let order = if raw_type == SHB {
            match shb_order(&self.rb.buf[s..s + 12]) {
                Some(o) => o,
                None => {
                    self.error(
                        offset,
                        DamageKind::BadFileHeader,
                        "section header block with an invalid byte-order magic".into(),
                    );
                    return self.ng_resync();
                }
            }
        } else {
            match &self.state {
                State::PcapNg(NgState { order: Some(o), .. }) => *o,
                _ => {
                    self.error(
                        offset,
                        DamageKind::BadFileHeader,
                        "pcapng file does not start with a section header block".into(),
                    );
                    return Step::Done;
                }
            }
        };
        let btype = order.u32(&self.rb.buf[s..s + 4], 0);
        let len = match frame_block(&self.rb.buf[s..s + 12], order) {
            Ok(l) => l,
            Err(why) => {
                self.error(
                    offset,
                    DamageKind::BadLength,
                    format!("corrupt {} block: {why}", block_name(btype)),
                );
                return self.ng_resync();
            }
        };
        if self.rb.avail() < len {
            self.fill(len);
            if self.rb.avail() < len {
                let left = self.rb.avail();
                self.error(
                    offset,
                    DamageKind::Truncated,
                    format!(
                        "{} block of {len} bytes runs past the end of the file ({left} bytes left): file cut short or length corrupt",
                        block_name(btype)
                    ),
                );
                return self.ng_resync();
            }
        }
        // Filling may have moved the bytes to the front of the buffer.
        let s = self.rb.start;
        let trailer = order.u32(&self.rb.buf[s..s + len], len - 4);
        if trailer as usize != len {
            self.error(
                offset,
                DamageKind::BadLength,
                format!(
                    "corrupt {} block: leading length {len} differs from trailing length {trailer}",
                    block_name(btype)
                ),
            );
            return self.ng_resync();
        }
        *self.stats.blocks.entry(block_name(btype)).or_insert(0) += 1;
        match btype {
            EPB | OBSOLETE_PB => self.ng_packet(btype, order, s, len, offset),
            SPB => self.ng_simple(order, s, len, offset),
            SHB => {
                self.rb.start = s + len;
                if let Err(e) = ng::parse_sectionheaderblock(&self.rb.buf[s..s + len]) {
                    self.error(
                        offset,
                        DamageKind::BadBlock,
                        format!("unreadable section header block: {e:?}"),
                    );
                }
                self.stats.sections += 1;
                if !self.stats.byte_orders.contains(&order) {
                    self.stats.byte_orders.push(order);
                }
                let base = self.stats.interfaces.len();
                self.state = State::PcapNg(NgState {
                    order: Some(order),
                    section_base: base,
                });
                Step::Continue
            }
            IDB => {
                self.rb.start = s + len;
                let block = &self.rb.buf[s..s + len];
                if len >= 20 && !options_ok_at(block, 16, len - 4, order) {
                    self.error(
                        offset,
                        DamageKind::BadBlock,
                        "interface description block options run past the end of the block; the options that fit are used".into(),
                    );
                }
                let block = &self.rb.buf[s..s + len];
                let parsed = match order {
                    ByteOrder::Little => ng::parse_interfacedescriptionblock_le(block),
                    ByteOrder::Big => ng::parse_interfacedescriptionblock_be(block),
                };
                let section = self.stats.sections.saturating_sub(1);
                match parsed {
                    Ok((_, idb)) => {
                        let units = idb.ts_resolution();
                        let name = idb.if_name().and_then(Result::ok).map(str::to_string);
                        let iface = Interface {
                            section,
                            link: LinkType(idb.linktype.0 as u16),
                            snaplen: idb.snaplen,
                            ts_units_per_sec: units.unwrap_or(1_000_000),
                            ts_offset_secs: idb.ts_offset(),
                            name,
                            packets: 0,
                        };
                        if units.is_none() {
                            self.error(
                                offset,
                                DamageKind::BadBlock,
                                format!(
                                    "interface {}: invalid if_tsresol {}; microseconds assumed",
                                    self.stats.interfaces.len(),
                                    idb.if_tsresol
                                ),
                            );
                        }
                        self.stats.interfaces.push(iface);
                    }
                    Err(e) => {
                        // Keep the interface numbering intact: later packets refer to it.
                        let b = &self.rb.buf[s..s + len];
                        let link = if len >= 12 { order.u16(b, 8) } else { 0 };
                        let snaplen = if len >= 16 { order.u32(b, 12) } else { 0 };
                        self.error(
                            offset,
                            DamageKind::BadBlock,
                            format!(
                                "interface description block with unreadable options ({e:?}); link type {link} and microsecond timestamps assumed"
                            ),
                        );
                        self.stats.interfaces.push(Interface {
                            section,
                            link: LinkType(link),
                            snaplen,
                            ts_units_per_sec: 1_000_000,
                            ts_offset_secs: 0,
                            name: None,
                            packets: 0,
                        });
                    }
                }
                Step::Continue
            }
            _ => {
                // NRB, ISB, DSB, custom, journal, process info, unknown: counted, skipped.
                self.rb.start = s + len;
                Step::Continue
            }
        }
    }

    fn section_base(&self) -> usize {
        match &self.state {
            State::PcapNg(st) => st.section_base,
            _ => 0,
        }
    }

    /// Interface `if_id` of the current section (its global index and description), or
    /// an `UnknownInterface` error with `why` when the section never described it.
    fn section_interface(
        &mut self,
        if_id: u32,
        offset: u64,
        why: impl FnOnce() -> String,
    ) -> Option<(usize, IfaceTiming)> {
        let global = self.section_base() + if_id as usize;
        let section = self.stats.sections.saturating_sub(1);
        match self.stats.interfaces.get(global) {
            // No clone of the interface (its name would allocate per packet).
            Some(i) if i.section == section => Some((
                global,
                IfaceTiming {
                    link: i.link,
                    snaplen: i.snaplen,
                    ts_units_per_sec: i.ts_units_per_sec,
                    ts_offset_secs: i.ts_offset_secs,
                },
            )),
            _ => {
                self.error(offset, DamageKind::UnknownInterface, why());
                None
            }
        }
    }

    fn ng_packet(
        &mut self,
        btype: u32,
        order: ByteOrder,
        s: usize,
        len: usize,
        offset: u64,
    ) -> Step {
        let block_start = s;
        self.rb.start = s + len;
        let b = &self.rb.buf[s..s + len];
        if len < 32 {
            self.error(
                offset,
                DamageKind::BadLength,
                format!("packet block of {len} bytes is shorter than its 32-byte header"),
            );
            return Step::Continue;
        }
        let mut options_ok = true;
        let (if_id, ts_hi, ts_lo, caplen, origlen) = if btype == EPB {
            // Let pcap-parser validate the block (options included) before trusting it.
            options_ok = match order {
                ByteOrder::Little => ng::parse_enhancedpacketblock_le(b).is_ok(),
                ByteOrder::Big => ng::parse_enhancedpacketblock_be(b).is_ok(),
            };
            let caplen = order.u32(b, 20) as usize;
            let opts = 28usize.saturating_add((caplen + 3) & !3);
            if caplen <= len - 32 && opts < len - 4 {
                options_ok &= options_ok_at(b, opts, len - 4, order);
            }
            (
                order.u32(b, 8),
                order.u32(b, 12),
                order.u32(b, 16),
                order.u32(b, 20),
                order.u32(b, 24),
            )
        } else {
            // Obsolete Packet Block: interface id and drops count are 16-bit.
            (
                u32::from(order.u16(b, 8)),
                order.u32(b, 12),
                order.u32(b, 16),
                order.u32(b, 20),
                order.u32(b, 24),
            )
        };
        if !options_ok {
            // Options are damaged: the packet header and data may still be sound
            // (checked below); note it and carry on.
            self.error(
                offset,
                DamageKind::BadBlock,
                "enhanced packet block with unreadable options; packet kept".into(),
            );
        }
        if caplen as usize > len - 32 {
            self.error(
                offset,
                DamageKind::BadLength,
                format!(
                    "packet block claims {caplen} captured bytes but holds only {}; block skipped",
                    len - 32
                ),
            );
            return Step::Continue;
        }
        let Some((global, iface)) = self.section_interface(if_id, offset, || {
            format!("packet refers to interface {if_id}, which this section never described; packet skipped")
        }) else {
            return Step::Continue;
        };
        let ticks = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
        let ns = i128::from(ticks) * 1_000_000_000 / i128::from(iface.ts_units_per_sec)
            + i128::from(iface.ts_offset_secs) * 1_000_000_000;
        let ts = match Timestamp::from_nanos_i128(ns) {
            Some(t) => t,
            None => self.check_ts(
                None,
                offset,
                &format!(
                    "timestamp {ticks} ticks at {} per second is beyond the year 2262",
                    iface.ts_units_per_sec
                ),
            ),
        };
        let data = block_start + 28..block_start + 28 + caplen as usize;
        Step::Frame(FrameMeta {
            data,
            ts,
            ts_known: true,
            interface: global as u32,
            link: iface.link,
            orig_len: origlen,
            offset,
        })
    }

    fn ng_simple(&mut self, order: ByteOrder, s: usize, len: usize, offset: u64) -> Step {
        self.rb.start = s + len;
        if len < 16 {
            self.error(
                offset,
                DamageKind::BadLength,
                format!("simple packet block of {len} bytes is shorter than its 16-byte header"),
            );
            return Step::Continue;
        }
        let Some((global, iface)) = self.section_interface(0, offset, || {
            "simple packet block before any interface description; packet skipped".into()
        }) else {
            return Step::Continue;
        };
        let origlen = order.u32(&self.rb.buf[s..s + len], 8);
        // The captured length is implied: the smaller of the original length, the
        // interface snaplen and the space in the block.
        let mut caplen = (origlen as usize).min(len - 16);
        if iface.snaplen > 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Step::Frame(FrameMeta {
            data: s + 12..s + 12 + caplen,
            ts: self.last_ts.unwrap_or_default(),
            ts_known: false,
            interface: global as u32,
            link: iface.link,
            orig_len: origlen,
            offset,
        })
    }

    fn ng_resync(&mut self) -> Step {
        let order = match &self.state {
            State::PcapNg(NgState { order: Some(o), .. }) => *o,
            _ => return Step::Done,
        };
        let ifaces = self.stats.interfaces.len() - self.section_base();
        let found = self.resync(4, |b, at_eof| ng_chain(b, at_eof, order, ifaces));
        if found {
            Step::Continue
        } else {
            Step::Done
        }
    }
}

/// Does a chain of well-framed blocks start at `b[0]`?
fn ng_chain(b: &[u8], at_eof: bool, order: ByteOrder, ifaces: usize) -> Candidate {
    let mut p = 0usize;
    for n in 0..RESYNC_CHAIN {
        if p == b.len() && at_eof && n > 0 {
            return Candidate::Yes;
        }
        if p + 12 > b.len() {
            return if at_eof {
                Candidate::No
            } else {
                Candidate::NeedMore(p + 12)
            };
        }
        let raw_type = u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
        let (o, t) = if raw_type == SHB {
            match shb_order(&b[p..p + 12]) {
                Some(o) => (o, SHB),
                None => return Candidate::No,
            }
        } else {
            (order, order.u32(b, p))
        };
        if !matches!(
            t,
            SHB | IDB | OBSOLETE_PB | SPB | NRB | ISB | EPB | 9 | 10 | 0x0BAD | 0x4000_0BAD
        ) {
            return Candidate::No;
        }
        let Ok(len) = frame_block(&b[p..p + 12], o) else {
            return Candidate::No;
        };
        if p + len > b.len() {
            return if at_eof {
                Candidate::No
            } else {
                Candidate::NeedMore(p + len)
            };
        }
        if o.u32(b, p + len - 4) as usize != len {
            return Candidate::No;
        }
        if t == EPB {
            if len < 32 {
                return Candidate::No;
            }
            let if_id = o.u32(b, p + 8) as usize;
            let caplen = o.u32(b, p + 20) as usize;
            if if_id >= ifaces.max(1) || caplen > len - 32 {
                return Candidate::No;
            }
        }
        p += len;
    }
    Candidate::Yes
}
