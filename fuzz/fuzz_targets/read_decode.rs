//! Fuzzes the capture reader and the decoder together: arbitrary bytes as a capture
//! file (pcap, pcapng, or compressed), every frame decoded. Must never panic, hang or
//! allocate by an unchecked length.
#![no_main]

use exfilmeter_ingest::{ByteStream, CaptureReader, DefragConfig, Decoder, FileId, HashAlgo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stream = match ByteStream::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), HashAlgo::None) {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut reader = CaptureReader::from_stream(stream, FileId(0));
    // Small reassembly caps so eviction paths are exercised too.
    let mut decoder = Decoder::new(DefragConfig {
        max_bytes: 1 << 16,
        max_datagrams: 8,
        timeout_ns: 1_000_000_000,
    });
    while let Some(frame) = reader.next_frame() {
        let _ = decoder.decode(&frame);
    }
    decoder.finish();
    let _ = reader.finish();
});
