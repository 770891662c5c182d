//! Fuzzes the application-layer parsers on arbitrary bytes: DNS messages, TLS
//! ClientHellos and HTTP streams (split at a fuzzer-chosen point, both directions).
#![no_main]

use exfilmeter_flow::app::{dns, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse(data);
    let _ = tls::client_hello(data);
    let _ = exfilmeter_flow::app::fuzz_stream(data);
});
