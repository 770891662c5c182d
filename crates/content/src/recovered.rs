//! The recovered files, read once: their bytes (an archive's decoded records), the SHA-256 of
//! the bytes as stored, the archive framing and the header decision. The record model, the
//! index of their rows and the run's manifest all take their facts from here, so each file
//! is opened and read one time (files beyond the memory budget are read again, streaming,
//! by the model and the index; see [`open`]).

use crate::index::Held;
use crate::inflate::{sniff_archive, Framing, Inflate};
use crate::records::{read_full, Header, RecordFormat};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of the start of a file the header decision looks at.
const HEADER_LOOK: usize = 1 << 16;

/// A recovered file read once.
#[derive(Debug)]
pub struct RecoveredFile {
    /// The file as given.
    pub path: PathBuf,
    /// Size as stored (bytes).
    pub stored_size: u64,
    /// SHA-256 of the bytes as stored.
    pub sha256: [u8; 32],
    /// The archive framing (zip, gzip, zlib), when the file is an archive of records.
    pub archive: Option<Framing>,
    /// Whether its first record is a header line.
    pub header: bool,
    pub(crate) handle: File,
    /// The records' bytes (an archive's decoded entries), when they fit in the memory budget.
    pub(crate) data: Option<Held>,
    /// An archive's bytes as stored.
    pub(crate) raw: Option<Arc<[u8]>>,
}

/// A recovered file that cannot be read.
#[derive(Debug)]
pub struct OpenError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for OpenError {}

impl RecoveredFile {
    /// The SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The records' bytes, when held in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// A reader of the records' bytes from their start: the bytes in memory, or the file
    /// read again (streaming) when it was beyond the memory budget.
    pub(crate) fn reader(&self) -> std::io::Result<Box<dyn BufRead + '_>> {
        match &self.data {
            Some(v) => Ok(Box::new(&v[..])),
            None => {
                let f = self.handle.try_clone()?;
                let mut r = std::io::BufReader::with_capacity(1 << 20, f);
                std::io::Seek::rewind(&mut r)?;
                Ok(Box::new(r))
            }
        }
    }
}

/// Reads each of `paths` once, keeping their bytes in memory while the total stays within
/// `memory` bytes (an archive is always decoded in memory). A file beyond the budget is read
/// once here for its hash and its first bytes, and streamed again by the model and the index.
/// `header` is the header setting; with [`Header::Auto`] the first 64 KiB decide.
pub fn open(
    paths: &[PathBuf],
    format: &RecordFormat,
    header: Header,
    memory: u64,
) -> Result<Vec<RecoveredFile>, OpenError> {
    let mut held = 0u64;
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let f = open_one(path, format, header, memory.saturating_sub(held)).map_err(|source| {
            OpenError {
                path: path.clone(),
                source,
            }
        })?;
        held += f.data.as_ref().map_or(0, |d| d.len() as u64);
        out.push(f);
    }
    Ok(out)
}

fn open_one(
    path: &Path,
    format: &RecordFormat,
    header: Header,
    room: u64,
) -> std::io::Result<RecoveredFile> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut head = vec![0u8; HEADER_LOOK];
    let n = read_full(&mut &f, &mut head)?;
    head.truncate(n);
    let archive = sniff_archive(&head);
    let mut sha = Sha256::new();
    let (data, raw, stored) = if let Some(framing) = archive {
        let mut raw = std::mem::take(&mut head);
        (&f).read_to_end(&mut raw)?;
        sha.update(&raw);
        let mut d = Inflate::new(framing, Vec::new());
        d.write_all(&raw)?;
        let (decoded, _) = d.finish()?;
        let stored = raw.len() as u64;
        (Some(Held::new(decoded)), Some(Arc::from(raw)), stored)
    } else if size <= room {
        std::io::Seek::rewind(&mut &f)?;
        let all = Held::read(&f, size)?;
        sha.update(&all[..]);
        let stored = all.len() as u64;
        (Some(all), None, stored)
    } else {
        sha.update(&head);
        let mut buf = vec![0u8; 1 << 20];
        let mut stored = n as u64;
        loop {
            let k = (&f).read(&mut buf)?;
            if k == 0 {
                break;
            }
            sha.update(&buf[..k]);
            stored += k as u64;
        }
        (None, None, stored)
    };
    // The decoded records' start when held, else the bytes read first.
    let look = data
        .as_deref()
        .map_or(&head[..], |d| &d[..d.len().min(HEADER_LOOK)]);
    let hdr = header_in(look, format, header);
    Ok(RecoveredFile {
        path: path.to_path_buf(),
        stored_size: stored,
        sha256: sha.finalize().into(),
        archive,
        header: hdr,
        handle: f,
        data,
        raw,
    })
}

/// The header decision on a file's first bytes (fixed-width records have none).
pub(crate) fn header_in(head: &[u8], format: &RecordFormat, header: Header) -> bool {
    if matches!(format, RecordFormat::Fixed(_)) {
        return false;
    }
    match header {
        Header::Yes => true,
        Header::No => false,
        Header::Auto => {
            let head = &head[..head.len().min(HEADER_LOOK)];
            let recs = crate::records::split(head, format);
            crate::records::has_header(head, &recs, header)
        }
    }
}
