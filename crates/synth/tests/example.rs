//! The generated incident, analysed by the real pipeline, against the generator's truth:
//! attribution of every malicious flow (DNS, SNI, address), client→server stream bytes per
//! local day and host, HTTP POST body bytes and TLS plaintext bytes equal to the records
//! uploaded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_flow::{
    DayClock, Direction, FlowId, FlowRecord, FlowSink, MetaEvent, Metadata, Tracker, TrackerConfig,
};
use exfilmeter_ingest::{
    ByteStream, CaptureReader, Decoded, Decoder, FileId, FrameRef, HashAlgo, Timestamp,
};
use exfilmeter_intel::{Attributor, Format, Internal, IocSet, Verdict, VerdictSink, Via};
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
struct Sink {
    post: HashMap<FlowId, Vec<(Timestamp, u64)>>,
    tls: HashMap<FlowId, Vec<(Timestamp, u64)>>,
    done: Vec<(FlowRecord, Verdict)>,
}

impl FlowSink for Sink {
    fn metadata(&mut self, f: FlowId, e: &MetaEvent) {
        if let (Direction::C2s, Metadata::TlsRecord { length, .. }) = (e.dir, &e.meta) {
            self.tls
                .entry(f)
                .or_default()
                .push((e.ts, u64::from(*length) - 17));
        }
    }
    fn body(
        &mut self,
        f: FlowId,
        dir: Direction,
        _m: u32,
        _o: u64,
        ts: Timestamp,
        _fr: FrameRef,
        b: &[u8],
    ) {
        if dir == Direction::C2s {
            self.post.entry(f).or_default().push((ts, b.len() as u64));
        }
    }
}

impl VerdictSink for Sink {
    fn verdict(&mut self, r: FlowRecord, v: Verdict) {
        self.done.push((r, v));
    }
}

#[test]
fn generated_incident_is_measured_exactly() {
    let inc = exfilmeter_synth::generate(2014);
    let mut set = IocSet::default();
    set.add_source("iocs.txt".as_ref(), &inc.iocs, Format::Text, false)
        .unwrap();
    let tz: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    let mut tracker = Tracker::new(TrackerConfig {
        tz,
        ..TrackerConfig::default()
    });
    let mut decoder = Decoder::default();
    let mut a = Attributor::new(&set, Internal::default(), 3600, Sink::default());
    let stream = ByteStream::from_reader(
        Box::new(std::io::Cursor::new(inc.pcap.clone())),
        HashAlgo::None,
    )
    .unwrap();
    let mut r = CaptureReader::from_stream(stream, FileId(0));
    while let Some(frame) = r.next_frame() {
        if let Decoded::Packet(p) = decoder.decode(&frame) {
            tracker.packet(&p, &mut a);
        }
    }
    assert!(r.finish().errors.is_empty());
    tracker.finish(&mut a);
    let sink = a.inner;
    let mut clock = DayClock::new(tz);
    let mut got: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut vias = Vec::new();
    for (rec, v) in &sink.done {
        let Some(host) = v.server_name.clone().filter(|_| v.is_ioc()) else {
            continue;
        };
        vias.extend(v.reasons.iter().map(|r| r.via));
        for (d, day, c) in rec.ledger.rows() {
            if *d == Direction::C2s {
                got.entry((day.to_string(), host.clone())).or_default().0 += c.stream_bytes;
            }
        }
        for (ts, n) in sink
            .post
            .get(&rec.id)
            .into_iter()
            .flatten()
            .chain(sink.tls.get(&rec.id).into_iter().flatten())
        {
            got.entry((clock.day(*ts).to_string(), host.clone()))
                .or_default()
                .1 += n;
        }
    }
    for t in &inc.truth {
        let (stream, records) = got
            .get(&(t.day.clone(), t.host.clone()))
            .copied()
            .unwrap_or_default();
        assert_eq!(stream, t.stream_bytes, "{} {} stream bytes", t.day, t.host);
        assert_eq!(records, t.record_bytes, "{} {} record bytes", t.day, t.host);
    }
    for via in [Via::Dns, Via::Sni, Via::Ip, Via::Host] {
        assert!(vias.contains(&via), "no attribution via {via:?}");
    }
    assert_eq!(inc.recovered.lines().count(), 300);
}

#[test]
fn generation_is_deterministic() {
    let a = exfilmeter_synth::generate(7);
    let b = exfilmeter_synth::generate(7);
    assert_eq!(a.pcap, b.pcap);
    assert_eq!(a.recovered, b.recovered);
    assert_ne!(a.pcap, exfilmeter_synth::generate(8).pcap);
}

#[test]
fn bundled_example_is_what_the_generator_makes() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/example");
    let inc = exfilmeter_synth::generate(2014);
    assert_eq!(
        std::fs::read(dir.join("capture.pcap")).unwrap(),
        inc.pcap,
        "regenerate: see testdata/README.md"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("iocs.txt")).unwrap(),
        inc.iocs
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("recovered/stage.csv")).unwrap(),
        inc.recovered
    );
}
