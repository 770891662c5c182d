//! A refillable read buffer over a [`ByteStream`], with absolute stream offsets.

use crate::stream::ByteStream;
use std::io::{self, Read};

/// Default buffer size: 1 MiB measured fastest here (`perf stat -r 8` on 1.1 GB:
/// 0.346 s against 0.436 s with 4 MiB and 0.356 s with 256 KiB): large enough that the
/// `read` calls are negligible, small enough that the bytes are still in cache when parsed.
pub(crate) const BUF_SIZE: usize = 1 << 20;

pub(crate) struct ReadBuf {
    pub(crate) buf: Vec<u8>,
    /// First unconsumed byte.
    pub(crate) start: usize,
    /// One past the last valid byte.
    pub(crate) end: usize,
    /// Stream offset of `buf[0]`.
    pub(crate) base: u64,
    pub(crate) eof: bool,
}

impl ReadBuf {
    pub(crate) fn new() -> ReadBuf {
        ReadBuf {
            buf: vec![0; BUF_SIZE],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Bytes available from `start`.
    #[inline]
    pub(crate) fn avail(&self) -> usize {
        self.end - self.start
    }

    /// Stream offset of `start`.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Ensures at least `need` bytes are available from `start`, unless the stream
    /// ends first. `need` must be bounded by the caller (it sizes the buffer).
    pub(crate) fn fill(&mut self, stream: &mut ByteStream, need: usize) -> io::Result<()> {
        if self.avail() >= need || self.eof {
            return Ok(());
        }
        if self.start + need > self.buf.len() {
            self.compact(need);
        }
        if need > self.buf.len() {
            // Grow to hold the record (bounded by the caller's record-size limit).
            self.buf.resize(need, 0);
        }
        while self.avail() < need && !self.eof {
            match stream.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The stream cannot go on: what is buffered stays usable.
                    self.eof = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn compact(&mut self, need: usize) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        // Shrink back after a huge record passed, so memory does not stay high.
        if self.buf.len() > BUF_SIZE && self.end <= BUF_SIZE && need <= BUF_SIZE {
            self.buf.truncate(BUF_SIZE);
            self.buf.shrink_to_fit();
        }
    }
}
