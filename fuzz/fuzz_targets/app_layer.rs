//! Fuzzes the application-layer parsers on arbitrary bytes: DNS messages, TLS
//! ClientHellos, QUIC Initial and DTLS handshake datagrams (the input, then its halves, as
//! datagrams of one flow) and HTTP streams (split at a fuzzer-chosen point, both directions).
#![no_main]

use exfilmeter_flow::app::{dns, dtls, quic, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse(data);
    let _ = tls::client_hello(data);
    let (a, b) = data.split_at(data.len() / 2);
    let mut d = dtls::DtlsHello::default();
    let mut q = quic::QuicInitial::default();
    for datagram in [data, a, b] {
        let _ = d.datagram(datagram);
        let _ = q.datagram(datagram);
    }
    let _ = exfilmeter_flow::app::fuzz_stream(data);
});
