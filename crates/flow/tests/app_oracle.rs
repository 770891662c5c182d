//! Application metadata against tshark's fields on the real captures: DNS response
//! question names, HTTP Host headers, TLS ClientHello SNI (multisets per file).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{counts, shared, track};
use exfilmeter_flow::{FlowId, FlowSink, MetaEvent, Metadata, TrackerConfig};
use std::path::Path;
use std::process::Command;

#[derive(Default)]
struct Meta {
    dns: Vec<String>,
    hosts: Vec<String>,
    sni: Vec<String>,
}

impl FlowSink for Meta {
    fn metadata(&mut self, _f: FlowId, e: &MetaEvent) {
        match &e.meta {
            Metadata::Dns(m) if m.response => self.dns.extend(m.questions.iter().cloned()),
            Metadata::HttpRequest(r) if !e.tunnelled && r.method != "CONNECT" => {
                if let Some(h) = &r.host {
                    self.hosts.push(h.clone());
                }
            }
            Metadata::TlsClientHello(h) if !e.tunnelled => {
                if let Some(s) = &h.sni {
                    self.sni.push(s.clone());
                }
            }
            _ => {}
        }
    }
}

fn tshark(file: &Path, filter: &str, field: &str) -> Option<Vec<String>> {
    tshark_opts(file, filter, field, "tcp.reassemble_out_of_order:TRUE")
}

fn tshark_opts(file: &Path, filter: &str, field: &str, opt: &str) -> Option<Vec<String>> {
    let out = Command::new("tshark")
        .args(["-o", opt, "-r"])
        .arg(file)
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "occurrence=f",
            "-e",
            field,
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.to_ascii_lowercase())
            .collect(),
    )
}

fn strip_port(h: &str) -> String {
    match h.rsplit_once(':') {
        Some((a, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !a.contains(':') => a.to_string(),
        _ => h.to_string(),
    }
}

#[test]
fn dns_http_host_and_sni_agree_with_tshark() {
    let Some(dir) = shared("realpcaps") else {
        return;
    };
    if !exfilmeter_testkit::tool("tshark", "-v") {
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    let (mut n_dns, mut n_host, mut n_sni) = (0, 0, 0);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let mut m = Meta::default();
        track(&[f.as_path()], TrackerConfig::default(), &mut m);
        if let Some(t) = tshark(
            &f,
            "dns.flags.response == 1 && (udp.port == 53 || tcp.port == 53)",
            "dns.qry.name",
        ) {
            assert_eq!(counts(&m.dns), counts(&t), "{name}: DNS response names");
            n_dns += t.len();
        }
        if let Some(t) = tshark(
            &f,
            "http.request.method && tcp && !(http.request.method == \"CONNECT\")",
            "http.host",
        ) {
            let mut t: Vec<String> = t.iter().map(|h| strip_port(h)).collect();
            if counts(&m.hosts) != counts(&t) {
                // tshark reports a request only once its whole body is reassembled; a body
                // with a capture gap hides the request. Without desegmentation it reports
                // every request head.
                let flat = tshark_opts(
                    &f,
                    "http.request.method && tcp && !(http.request.method == \"CONNECT\")",
                    "http.host",
                    "tcp.desegment_tcp_streams:FALSE",
                )
                .unwrap();
                t = flat.iter().map(|h| strip_port(h)).collect();
            }
            assert_eq!(counts(&m.hosts), counts(&t), "{name}: HTTP Host");
            n_host += t.len();
        }
        if let Some(t) = tshark(
            &f,
            "tls.handshake.type == 1",
            "tls.handshake.extensions_server_name",
        ) {
            assert_eq!(counts(&m.sni), counts(&t), "{name}: TLS SNI");
            n_sni += t.len();
        }
    }
    eprintln!("compared {n_dns} DNS names, {n_host} Host headers, {n_sni} SNIs");
    assert!(
        n_dns > 100 && n_host > 100 && n_sni > 3,
        "{n_dns} {n_host} {n_sni}"
    );
}
