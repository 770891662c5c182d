//! Capture ingest for exfilmeter: from capture files to decoded packets.
//!
//! - [`expand_inputs`] turns files, directories and glob patterns into a sorted list.
//! - [`CaptureReader`] reads pcap (µs/ns, both byte orders, "modified") and pcapng
//!   (sections, interfaces, `if_tsresol`/`if_tsoffset`), gzip- or zstd-compressed or not,
//!   hashing the stored bytes with SHA-256 on a second thread as it goes. Damage becomes
//!   a [`CaptureError`] with its byte offset; frames before it are kept and the reader
//!   resynchronises behind it.
//! - [`Decoder`] decodes a [`Frame`] into a [`Packet`] (link layers, IPv4/IPv6 with
//!   extension headers, TCP/UDP/ICMP), reassembling IP fragments with bounded memory,
//!   or says why it skipped it ([`SkipReason`]).
//! - [`FileSummary`] accumulates what `exfilmeter inspect` prints.
//!
//! ```no_run
//! use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
//! let mut reader = CaptureReader::open("trace.pcap".as_ref(), FileId(0), HashAlgo::Sha256)?;
//! let mut decoder = Decoder::default();
//! while let Some(frame) = reader.next_frame() {
//!     if let Decoded::Packet(p) = decoder.decode(&frame) {
//!         println!("{} {} -> {} {} bytes", p.ts, p.ip.src, p.ip.dst, p.payload_len);
//!     }
//! }
//! let outcome = reader.finish();
//! for e in &outcome.errors {
//!     eprintln!("trace.pcap: {e}");
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

mod decode;
mod defrag;
mod error;
mod filter;
mod frame;
mod inputs;
pub mod reader;
mod stream;
mod summary;
mod timestamp;

pub use decode::{
    Carrier, Decoded, Decoder, DecoderStats, IpVersion, IpView, Packet, SkipReason, TcpFlags,
    TcpView, Transport, TunnelEnds, TunnelKind, VlanTags, Wire, WlanReason,
};
pub use defrag::{DefragConfig, DefragStats};
pub use error::{CaptureError, DamageKind, IngestError};
pub use filter::Filter;
pub use frame::{FileId, Frame, FrameRef, LinkType};
pub use inputs::{expand_inputs, Input, InputOrigin};
pub use reader::{ByteOrder, CaptureReader, Format, Interface, ReaderOutcome, ReaderStats};
pub use stream::{digest_file, digest_file_unless, ByteStream, Compression, FileDigest, HashAlgo};
pub use summary::{FileSummary, Side, Totals, Window, PLAUSIBLE_FROM};
pub use timestamp::{Timestamp, NANOS_PER_SEC};
