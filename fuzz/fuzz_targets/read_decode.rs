//! Fuzzes the capture reader, the decoder and the flow tracker (with TCP reassembly and
//! the application layer) together: arbitrary bytes as a capture file (pcap, pcapng, or
//! compressed), every frame decoded and tracked. Must never panic, hang or allocate by
//! an unchecked length.
#![no_main]

use exfilmeter_flow::{Collect, Tracker, TrackerConfig};
use exfilmeter_ingest::{ByteStream, CaptureReader, Decoded, DefragConfig, Decoder, FileId, HashAlgo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stream = match ByteStream::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), HashAlgo::None) {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut reader = CaptureReader::from_stream(stream, FileId(0));
    // Small caps so eviction and cap paths are exercised too.
    let mut decoder = Decoder::new(DefragConfig {
        max_bytes: 1 << 16,
        max_datagrams: 8,
        timeout_ns: 1_000_000_000,
    });
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: 16,
        ooo_per_flow: 4096,
        ooo_total: 16384,
        window: 256,
        window_total: 4096,
        ..TrackerConfig::default()
    });
    let mut sink = Collect::default();
    while let Some(frame) = reader.next_frame() {
        if let Decoded::Packet(p) = decoder.decode(&frame) {
            tracker.packet(&p, &mut sink);
        }
    }
    decoder.finish();
    tracker.finish(&mut sink);
    let _ = reader.finish();
});
