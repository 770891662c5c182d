//! Frame provenance and link types.

use crate::Timestamp;
use std::fmt;

/// Index of an input file within one run (order of [`crate::expand_inputs`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct FileId(pub u32);

/// Where a frame came from: file, 1-based frame number as Wireshark numbers it, byte offset.
///
/// `offset` is the position of the record/block header in the capture stream (for
/// compressed captures, in the decompressed stream).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct FrameRef {
    /// The input file.
    pub file: FileId,
    /// 1-based frame number within the file (Wireshark's `frame.number`).
    pub index: u64,
    /// Byte offset of the frame's record or block header.
    pub offset: u64,
}

/// A link-layer header type (LINKTYPE_* registry value, as stored in the capture).
///
/// Open registry: unknown values are kept, not rejected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback (host-endian 4-byte address family).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP, historical DLT value 12 on some systems.
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP, historical DLT value 14 on some systems.
    pub const RAW_14: LinkType = LinkType(14);
    /// PPP (RFC 1661 with address/control bytes optional).
    pub const PPP: LinkType = LinkType(9);
    /// PPP in HDLC-like framing.
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// Raw IP (LINKTYPE_RAW).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback (network-order address family).
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Cisco HDLC.
    pub const C_HDLC: LinkType = LinkType(104);
    /// IEEE 802.11 without radio information.
    pub const IEEE802_11: LinkType = LinkType(105);
    /// IEEE 802.11 behind a radiotap header.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// Linux netfilter NFLOG.
    pub const NFLOG: LinkType = LinkType(239);

    /// Short name as tshark/libpcap print it, or `unknown`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "null",
            1 => "ether",
            9 => "ppp",
            12 | 14 | 101 => "rawip",
            50 => "ppp-hdlc",
            104 => "c-hdlc",
            105 => "ieee-802-11",
            108 => "loop",
            113 => "linux-sll",
            127 => "ieee-802-11-radiotap",
            228 => "rawip4",
            229 => "rawip6",
            239 => "nflog",
            276 => "linux-sll2",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One capture record before decoding: a view into the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture timestamp (UTC). For pcapng simple packet blocks, which carry none,
    /// the previous frame's time (see `ts_known`).
    pub ts: Timestamp,
    /// False when the format stored no timestamp for this frame.
    pub ts_known: bool,
    /// Provenance.
    pub frame: FrameRef,
    /// Interface index within the file (pcapng: global across sections; pcap: 0).
    pub interface: u32,
    /// Link type of the interface.
    pub link: LinkType,
    /// Original length on the wire (bytes).
    pub orig_len: u32,
    /// The captured bytes (`data.len()` is the captured length).
    pub data: &'a [u8],
}

impl Frame<'_> {
    /// Captured length in bytes.
    pub fn cap_len(&self) -> u32 {
        // data comes from a record whose length field is a u32.
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }

    /// True when the snapshot length cut the frame short.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}
