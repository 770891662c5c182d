//! Application-layer tests: pipelining, body framing across any split, CONNECT tunnels,
//! DNS over TCP, hostile input.

use super::*;
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};

#[derive(Default)]
struct Got {
    meta: Vec<(Direction, bool, Metadata)>,
    bodies: BTreeBody,
}

type BTreeBody = std::collections::BTreeMap<u32, Vec<u8>>;

fn run(app: &mut App, chunks: &[(Direction, &[u8])]) -> Got {
    let mut got = Got::default();
    for (i, (dir, bytes)) in chunks.iter().enumerate() {
        let frame = FrameRef {
            file: FileId(0),
            index: i as u64 + 1,
            offset: 0,
        };
        app.data(*dir, Timestamp(i as i64), frame, bytes, &mut |o| match o {
            AppOut::Meta(m) => got.meta.push((m.dir, m.tunnelled, m.meta)),
            AppOut::Body {
                message,
                offset,
                bytes,
                ..
            } => {
                let b = got.bodies.entry(message).or_default();
                if b.is_empty() {
                    // A body continued from an earlier call (or after a gap) starts later.
                    b.resize(offset as usize, b'?');
                }
                assert_eq!(offset as usize, b.len(), "body pieces in order");
                b.extend_from_slice(bytes);
            }
        });
    }
    got
}

fn split_every(dir: Direction, data: &[u8], n: usize) -> Vec<(Direction, &[u8])> {
    data.chunks(n).map(|c| (dir, c)).collect()
}

const PIPELINE: &[u8] = b"POST /a HTTP/1.1\r\nHost: one.example\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nHost: two.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: three.example\r\n\r\n";

#[test]
fn pipelined_requests_with_length_and_chunked_bodies_at_any_split() {
    for n in [1, 2, 3, 7, 13, 64, 1000] {
        let mut app = App::tcp(false);
        let got = run(&mut app, &split_every(Direction::C2s, PIPELINE, n));
        let hosts: Vec<_> = got
            .meta
            .iter()
            .filter_map(|(_, _, m)| match m {
                Metadata::HttpRequest(r) => r.host.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(
            hosts,
            vec!["one.example", "two.example", "three.example"],
            "split {n}"
        );
        assert_eq!(
            got.bodies.get(&0).map(Vec::as_slice),
            Some(&b"hello"[..]),
            "split {n}"
        );
        assert_eq!(
            got.bodies.get(&1).map(Vec::as_slice),
            Some(&b"abcdefg"[..]),
            "split {n}"
        );
        assert_eq!(app.malformed, 0);
    }
}

#[test]
fn connect_tunnel_reveals_inner_sni_and_reply() {
    let mut app = App::tcp(false);
    let hello = tls::tests_support::hello("files.backup-store.example.com");
    let got = run(
        &mut app,
        &[
            (Direction::C2s, b"CONNECT files.backup-store.example.com:443 HTTP/1.1\r\nHost: files.backup-store.example.com:443\r\n\r\n"),
            (Direction::S2c, b"HTTP/1.1 200 Connection established\r\n\r\n"),
            (Direction::C2s, &hello),
        ],
    );
    assert!(
        matches!(&got.meta[0], (Direction::C2s, false, Metadata::HttpRequest(r)) if r.connect_host().as_deref() == Some("files.backup-store.example.com"))
    );
    assert!(matches!(
        &got.meta[1],
        (
            Direction::S2c,
            false,
            Metadata::ConnectReply { status: 200 }
        )
    ));
    assert!(
        matches!(&got.meta[2], (Direction::C2s, true, Metadata::TlsClientHello(h)) if h.sni.as_deref() == Some("files.backup-store.example.com"))
    );
}

#[test]
fn connect_tunnel_carrying_plain_http_posts() {
    let mut app = App::tcp(false);
    let got = run(
        &mut app,
        &[
            (
                Direction::C2s,
                b"CONNECT files.example.com:443 HTTP/1.1\r\n\r\n",
            ),
            (Direction::S2c, b"HTTP/1.1 200 OK\r\n\r\n"),
            (
                Direction::C2s,
                b"POST /u HTTP/1.1\r\nHost: files.example.com\r\nContent-Length: 3\r\n\r\nxyz",
            ),
        ],
    );
    assert!(got.meta.iter().any(|(_, t, m)| *t && matches!(m, Metadata::HttpRequest(r) if r.host.as_deref() == Some("files.example.com"))));
    assert_eq!(got.bodies.get(&0).map(Vec::as_slice), Some(&b"xyz"[..]));
}

#[test]
fn dns_over_tcp_messages_across_segments() {
    let msg: Vec<u8> = {
        let mut m = vec![0xAB, 0xCD, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 7];
        m.extend_from_slice(b"example");
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    };
    let mut stream = (msg.len() as u16).to_be_bytes().to_vec();
    stream.extend(&msg);
    stream.extend((msg.len() as u16).to_be_bytes());
    stream.extend(&msg);
    let mut app = App::tcp(true);
    let got = run(&mut app, &split_every(Direction::S2c, &stream, 5));
    let n = got
        .meta
        .iter()
        .filter(|(_, _, m)| matches!(m, Metadata::Dns(d) if d.questions == ["a.example"]))
        .count();
    assert_eq!(n, 2);
}

#[test]
fn endless_headers_stop_the_parser_without_growing() {
    let mut app = App::tcp(false);
    let mut chunks = vec![(Direction::C2s, &b"GET / HTTP/1.1\r\n"[..])];
    let header = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for _ in 0..3000 {
        chunks.push((Direction::C2s, &header[..]));
    }
    let got = run(&mut app, &chunks);
    assert!(got.meta.is_empty());
    assert_eq!(app.malformed, 1);
    assert!(matches!(app.half[0], Parser::Off));
}

#[test]
fn gap_inside_a_length_body_keeps_the_parser_going() {
    let mut app = App::tcp(false);
    run(
        &mut app,
        &[(
            Direction::C2s,
            b"POST /a HTTP/1.1\r\nHost: x.example\r\nContent-Length: 10\r\n\r\nab",
        )],
    );
    app.gap(Direction::C2s, 5);
    let got = run(
        &mut app,
        &[(
            Direction::C2s,
            b"cdeGET /n HTTP/1.1\r\nHost: y.example\r\n\r\n",
        )],
    );
    assert_eq!(
        got.bodies.get(&0).map(Vec::as_slice),
        Some(&b"???????cde"[..]),
        "offsets skip the gap"
    );
    assert!(got.meta.iter().any(
        |(_, _, m)| matches!(m, Metadata::HttpRequest(r) if r.host.as_deref() == Some("y.example"))
    ));
}

#[test]
fn gap_reaching_exactly_the_end_of_a_length_body_keeps_the_parser_going() {
    let mut app = App::tcp(false);
    run(
        &mut app,
        &[(
            Direction::C2s,
            b"POST /a HTTP/1.1\r\nHost: x.example\r\nContent-Length: 10\r\n\r\nabc",
        )],
    );
    app.gap(Direction::C2s, 7);
    let got = run(
        &mut app,
        &[(
            Direction::C2s,
            b"GET /n HTTP/1.1\r\nHost: y.example\r\n\r\n",
        )],
    );
    let heads: Vec<_> = got
        .meta
        .iter()
        .filter_map(|(_, _, m)| match m {
            Metadata::HttpRequest(r) => Some((r.host.clone(), r.head_bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(heads, vec![(Some("y.example".to_string()), 36)]);
}

#[test]
fn non_http_non_tls_streams_are_left_alone() {
    let mut app = App::tcp(false);
    let got = run(
        &mut app,
        &[
            (Direction::C2s, b"SSH-2.0-OpenSSH_9.6\r\n"),
            (Direction::S2c, b"\x00\x01binary"),
        ],
    );
    assert!(got.meta.is_empty());
    assert_eq!(app.malformed, 0);
}

#[test]
fn responses_pair_with_requests_head_has_no_body_and_bodies_run_to_close() {
    let mut app = App::tcp(false);
    let got = run(
        &mut app,
        &[
            (Direction::C2s, b"HEAD /a HTTP/1.1\r\nHost: h.example\r\n\r\nGET /b HTTP/1.1\r\nHost: h.example\r\n\r\nGET /c HTTP/1.0\r\nHost: h.example\r\n\r\n"),
            (Direction::S2c, b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"),
            (Direction::S2c, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
            (Direction::S2c, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"),
        ],
    );
    let statuses: Vec<u16> = got
        .meta
        .iter()
        .filter_map(|(_, _, m)| match m {
            Metadata::HttpResponse(r) => Some(r.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![200, 100, 200, 200]);
    // Response bodies are keyed by response number (HEAD's response has none).
    assert_eq!(got.bodies.get(&1).map(Vec::as_slice), Some(&b"ok"[..]));
    assert_eq!(
        got.bodies.get(&2).map(Vec::as_slice),
        Some(&b"until the end"[..])
    );
    assert_eq!(app.malformed, 0);
}

#[test]
fn tls_application_data_records_are_reported_with_their_lengths() {
    let mut stream = tls::tests_support::hello("a.example");
    stream.extend([0x14, 3, 3, 0, 1, 1]); // change cipher spec
    for len in [300u16, 17, 16401] {
        stream.extend([0x17, 3, 3]);
        stream.extend(len.to_be_bytes());
        stream.extend(std::iter::repeat_n(0xAA, usize::from(len)));
    }
    for n in [1, 7, 1000, 100_000] {
        let mut app = App::tcp(false);
        let got = run(&mut app, &split_every(Direction::C2s, &stream, n));
        let lens: Vec<u16> = got
            .meta
            .iter()
            .filter_map(|(_, _, m)| match m {
                Metadata::TlsRecord { length, .. } => Some(*length),
                _ => None,
            })
            .collect();
        assert_eq!(lens, vec![300, 17, 16401], "split {n}");
        assert!(got
            .meta
            .iter()
            .any(|(_, _, m)| matches!(m, Metadata::TlsClientHello(_))));
    }
}

#[test]
fn metadata_is_the_same_whether_heads_lie_in_one_segment_or_are_split() {
    // Heads read where they lie (one segment) and heads copied across segments must give
    // the same events: requests, responses, and TLS records with a partial one at the end.
    let req = b"GET /x HTTP/1.1\r\nHost: a.example\r\n\r\nPOST /y HTTP/1.1\r\nHost: b.example\r\nContent-Length: 3\r\n\r\nabc";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n";
    let mut tls_c = tls::tests_support::hello("c.example");
    tls_c.extend(tls::tests_support::hello("d.example"));
    tls_c.extend([0x17, 3, 3, 0, 4, 1, 2, 3, 4]);
    let whole = |n: usize| {
        let mut app = App::tcp(false);
        let mut chunks = split_every(Direction::C2s, req, n);
        chunks.extend(split_every(Direction::S2c, resp, n));
        let mut tls_app = App::tcp(false);
        let a = run(&mut app, &chunks);
        let b = run(&mut tls_app, &split_every(Direction::C2s, &tls_c, n));
        (a.meta, a.bodies, b.meta, app.malformed + tls_app.malformed)
    };
    let reference = whole(100_000);
    assert_eq!(reference.0.len(), 4, "two requests, two responses");
    assert_eq!(reference.2.len(), 3, "two ClientHellos and one record");
    assert_eq!(reference.3, 0);
    for n in [1, 2, 5, 16, 40, 41, 77] {
        assert_eq!(whole(n), reference, "split {n}");
    }
}
