//! Classic pcap: 24-byte file header, 16-byte record headers (24 in the "modified"
//! variant), µs or ns fractions, either byte order.
//!
//! Read first: the pcap format draft (draft-ietf-opsawg-pcap), sections 4 and 5.

use super::{ByteOrder, Candidate, CaptureReader, Format, FrameMeta, State, Step, MAX_BLOCK_LEN};
use crate::error::DamageKind;
use crate::frame::LinkType;
use crate::reader::pcapng::Interface;
use crate::Timestamp;

/// libpcap's usual upper bound for a record's captured length; records may exceed a
/// small file snaplen up to this (libpcap accepts them too).
const LIBPCAP_MAX_SNAPLEN: u32 = 262_144;
/// Largest original length believed in a resync candidate (TSO/GSO super-frames reach 64 KiB
/// plus headers; some loopback captures more).
const MAX_PLAUSIBLE_ORIG: u32 = 1 << 24;
/// Records that must follow a resync candidate back to back before it is accepted.
const RESYNC_CHAIN: usize = 4;
/// A resync candidate's timestamp must lie this close to the last good one (seconds).
const RESYNC_WINDOW_SECS: i64 = 14 * 86_400;

pub(crate) struct PcapState {
    order: ByteOrder,
    hdr_len: usize,
    frac_units: u32,
    max_caplen: u32,
    link: LinkType,
}

impl PcapState {
    fn read_header(&self, b: &[u8]) -> (u32, u32, u32, u32) {
        let o = self.order;
        (o.u32(b, 0), o.u32(b, 4), o.u32(b, 8), o.u32(b, 12))
    }
}

impl CaptureReader {
    pub(super) fn pcap_start(&mut self) -> Step {
        let head = &self.rb.buf[self.rb.start..self.rb.end];
        if head.len() < 24 {
            self.stats.format = Some(Format::Unknown);
            let n = head.len();
            self.error(
                0,
                DamageKind::BadFileHeader,
                format!("file ends inside the 24-byte pcap file header ({n} bytes present)"),
            );
            return Step::Done;
        }
        let hdr = match pcap_parser::pcap::parse_pcap_header(head) {
            Ok((_, h)) => h,
            Err(_) => {
                self.stats.format = Some(Format::Unknown);
                self.error(
                    0,
                    DamageKind::BadFileHeader,
                    "unreadable pcap file header".into(),
                );
                return Step::Done;
            }
        };
        let order = if hdr.is_bigendian() {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        let (format, hdr_len, frac_units) = if hdr.is_modified_format() {
            (Format::PcapModified, 24, 1_000_000)
        } else if hdr.is_nanosecond_precision() {
            (Format::PcapNs, 16, 1_000_000_000)
        } else {
            (Format::Pcap, 16, 1_000_000)
        };
        // The link type is the low 16 bits; the upper bits carry FCS information.
        let link = LinkType((hdr.network.0 as u32 & 0xffff) as u16);
        self.stats.format = Some(format);
        self.stats.byte_orders = vec![order];
        self.stats.snaplen = Some(hdr.snaplen);
        self.stats.interfaces.push(Interface {
            section: 0,
            link,
            snaplen: hdr.snaplen,
            ts_units_per_sec: u64::from(frac_units),
            ts_offset_secs: 0,
            name: None,
            packets: 0,
        });
        let max_caplen = hdr
            .snaplen
            .max(LIBPCAP_MAX_SNAPLEN)
            .min(MAX_BLOCK_LEN as u32);
        self.rb.start += 24;
        self.state = State::Pcap(PcapState {
            order,
            hdr_len,
            frac_units,
            max_caplen,
            link,
        });
        Step::Continue
    }

    pub(super) fn pcap_step(&mut self) -> Step {
        let State::Pcap(st) = &self.state else {
            return Step::Done;
        };
        let (hdr_len, max_caplen, frac_units, link) =
            (st.hdr_len, st.max_caplen, st.frac_units, st.link);
        if self.rb.avail() < hdr_len {
            self.fill(hdr_len);
        }
        let offset = self.rb.offset();
        let avail = self.rb.avail();
        if avail == 0 {
            return Step::Done;
        }
        if avail < hdr_len {
            self.error(
                offset,
                DamageKind::Truncated,
                format!("file ends inside a record header ({avail} of {hdr_len} bytes present)"),
            );
            self.rb.start = self.rb.end;
            return Step::Done;
        }
        let s = self.rb.start;
        let (ts_sec, frac, caplen, origlen) = match &self.state {
            State::Pcap(st) => st.read_header(&self.rb.buf[s..s + 16]),
            _ => return Step::Done,
        };
        if caplen > max_caplen {
            self.error(
                offset,
                DamageKind::BadLength,
                format!(
                    "corrupt record: captured length {caplen} (0x{caplen:08X}) exceeds the limit of {max_caplen} bytes"
                ),
            );
            return self.pcap_resync();
        }
        let total = hdr_len + caplen as usize;
        if self.rb.avail() < total {
            self.fill(total);
            if self.rb.avail() < total {
                let present = self.rb.avail() - hdr_len;
                self.error(
                    offset,
                    DamageKind::Truncated,
                    format!(
                        "file ends inside packet data: record declares {caplen} captured bytes, {present} present"
                    ),
                );
                self.rb.start = self.rb.end;
                return Step::Done;
            }
        }
        // Filling may have moved the bytes to the front of the buffer.
        let s = self.rb.start;
        let data = s + hdr_len..s + total;
        self.rb.start = s + total;
        let ts = if frac >= frac_units {
            self.stats.bad_timestamps += 1;
            self.error(
                offset,
                DamageKind::BadTimestamp,
                format!(
                    "timestamp fraction {frac} is out of range (must be below {frac_units}); kept as {ts_sec} s + {frac} units"
                ),
            );
            pcap_ts(ts_sec, frac, frac_units)
        } else {
            pcap_ts(ts_sec, frac, frac_units)
        };
        Step::Frame(FrameMeta {
            data,
            ts,
            ts_known: true,
            interface: 0,
            link,
            orig_len: origlen,
            offset,
        })
    }

    fn pcap_resync(&mut self) -> Step {
        let State::Pcap(st) = &self.state else {
            return Step::Done;
        };
        let (order, hdr_len, frac_units, max_caplen) =
            (st.order, st.hdr_len, st.frac_units, st.max_caplen);
        let last = self.last_ts.map(Timestamp::secs);
        let found = self.resync(1, |b, at_eof| {
            pcap_chain(b, at_eof, order, hdr_len, frac_units, max_caplen, last)
        });
        if found {
            Step::Continue
        } else {
            Step::Done
        }
    }
}

fn pcap_ts(sec: u32, frac: u32, units: u32) -> Timestamp {
    // u32 seconds and a u32 fraction always fit i64 nanoseconds (year < 2242).
    let per = i64::from(1_000_000_000 / units);
    Timestamp(i64::from(sec) * 1_000_000_000 + i64::from(frac) * per)
}

/// Does a chain of plausible records start at `b[0]`?
fn pcap_chain(
    b: &[u8],
    at_eof: bool,
    order: ByteOrder,
    hdr_len: usize,
    frac_units: u32,
    max_caplen: u32,
    last_secs: Option<i64>,
) -> Candidate {
    let mut p = 0usize;
    for n in 0..RESYNC_CHAIN {
        if p == b.len() && at_eof && n > 0 {
            return Candidate::Yes;
        }
        if p + hdr_len > b.len() {
            return if at_eof {
                Candidate::No
            } else {
                Candidate::NeedMore(p + hdr_len)
            };
        }
        let (sec, frac, caplen, orig) = (
            order.u32(b, p),
            order.u32(b, p + 4),
            order.u32(b, p + 8),
            order.u32(b, p + 12),
        );
        if frac >= frac_units
            || caplen > max_caplen
            || orig > MAX_PLAUSIBLE_ORIG
            || orig == 0
            || caplen > orig
        {
            return Candidate::No;
        }
        if let Some(last) = last_secs {
            if (i64::from(sec) - last).abs() > RESYNC_WINDOW_SECS {
                return Candidate::No;
            }
        }
        p += hdr_len + caplen as usize;
    }
    if p > b.len() && !at_eof {
        // The last record's data must be present too.
        return Candidate::NeedMore(p);
    }
    if p > b.len() {
        Candidate::No
    } else {
        Candidate::Yes
    }
}
