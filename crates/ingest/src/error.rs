//! Error types of the ingest crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// An error that stops the processing of one input (or of the argument list).
#[derive(Debug)]
#[non_exhaustive]
pub enum IngestError {
    /// An input path could not be opened or read.
    Io {
        /// The input.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A glob pattern was malformed or matched nothing.
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// Why it was rejected.
        message: String,
    },
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            IngestError::Pattern { pattern, message } => {
                write!(f, "pattern {pattern:?}: {message}")
            }
        }
    }
}

impl std::error::Error for IngestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IngestError::Io { source, .. } => Some(source),
            IngestError::Pattern { .. } => None,
        }
    }
}

/// What kind of damage a [`CaptureError`] describes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum DamageKind {
    /// The file is empty.
    Empty,
    /// The first bytes are neither pcap nor pcapng (after decompression).
    BadMagic,
    /// The file header itself is cut short or invalid.
    BadFileHeader,
    /// The file ends inside a record or block.
    Truncated,
    /// A record or block length is impossible (too large, too small, misaligned, mismatched).
    BadLength,
    /// A block's content could not be parsed although its framing was sound.
    BadBlock,
    /// A packet refers to an interface that was never described.
    UnknownInterface,
    /// A timestamp is out of range (fraction ≥ 1 s, or beyond the representable years).
    BadTimestamp,
    /// Reading or decompressing failed.
    Io,
}

impl DamageKind {
    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DamageKind::Empty => "empty",
            DamageKind::BadMagic => "bad_magic",
            DamageKind::BadFileHeader => "bad_file_header",
            DamageKind::Truncated => "truncated",
            DamageKind::BadLength => "bad_length",
            DamageKind::BadBlock => "bad_block",
            DamageKind::UnknownInterface => "unknown_interface",
            DamageKind::BadTimestamp => "bad_timestamp",
            DamageKind::Io => "io",
        }
    }
}

/// Damage found inside one capture file. Reading goes on where it can.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaptureError {
    /// Byte offset of the damaged record or block (in the decompressed stream for
    /// compressed captures).
    pub offset: u64,
    /// Classification.
    pub kind: DamageKind,
    /// Human-readable explanation, without the file name (the caller adds it).
    pub message: String,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.message)
    }
}
