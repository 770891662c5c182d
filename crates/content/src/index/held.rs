//! Recovered files held in memory: on the heap, or from 4 MiB on in a mapping backed by huge
//! pages.

use crate::records::read_full;
use std::fs::File;
use std::io::Read;

/// The bytes of a recovered file kept in memory. From [`HUGE_FROM`] bytes on they are held in
/// an anonymous mapping the kernel is asked to back with huge pages (2 MiB): matching reads
/// rows at random places of the file, and with 4 KiB pages nearly every row read also
/// misses the address translation cache (on a virtual machine, a two-level page walk).
/// Measured: counting + matching rows in random order against 1 M rows ~1.3× faster. Where
/// the kernel gives no huge pages, the mapping is ordinary memory; where the mapping fails,
/// a heap buffer.
#[derive(Debug)]
pub(crate) enum Held {
    Heap(Vec<u8>),
    Huge(memmap2::MmapMut),
}

/// Files smaller than this stay on the heap (they fit in the caches).
pub(crate) const HUGE_FROM: usize = 4 << 20;

impl Held {
    /// Bytes already read (an archive's decoded records).
    pub(crate) fn new(v: Vec<u8>) -> Held {
        if v.len() < HUGE_FROM {
            return Held::Heap(v);
        }
        match Held::mapping(v.len()) {
            Some(mut m) => {
                m.copy_from_slice(&v);
                Held::Huge(m)
            }
            None => Held::Heap(v),
        }
    }

    /// The rest of file `f`, `size` bytes by its metadata (read to its end whatever its size
    /// turns out to be).
    pub(crate) fn read(mut f: &File, size: u64) -> std::io::Result<Held> {
        let len = usize::try_from(size).unwrap_or(0);
        if len >= HUGE_FROM {
            if let Some(mut m) = Held::mapping(len) {
                let n = read_full(&mut f, &mut m)?;
                let mut more = Vec::new();
                f.read_to_end(&mut more)?;
                if n == len && more.is_empty() {
                    return Ok(Held::Huge(m));
                }
                // The file changed size while being read.
                let mut v = m.get(..n).unwrap_or(&[]).to_vec();
                v.extend_from_slice(&more);
                return Ok(Held::Heap(v));
            }
        }
        let mut v = Vec::with_capacity(len);
        f.read_to_end(&mut v)?;
        Ok(Held::Heap(v))
    }

    fn mapping(len: usize) -> Option<memmap2::MmapMut> {
        let m = memmap2::MmapMut::map_anon(len).ok()?;
        // Advice only: without huge pages the mapping works the same.
        #[cfg(target_os = "linux")]
        let _ = m.advise(memmap2::Advice::HugePage);
        Some(m)
    }
}

impl std::ops::Deref for Held {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Held::Heap(v) => v,
            Held::Huge(m) => m,
        }
    }
}
