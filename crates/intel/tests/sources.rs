//! IOC sources: each rule of each format and each malformed-input case.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_ingest::Timestamp;
use exfilmeter_intel::{Format, IntelError, IocSet, Target};
use std::path::Path;

fn set(name: &str, content: &str, format: Format, lenient: bool) -> Result<IocSet, IntelError> {
    let mut s = IocSet::default();
    s.add_source(Path::new(name), content, format, lenient)?;
    Ok(s)
}

fn ts(s: &str) -> Timestamp {
    Timestamp(
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap(),
    )
}

const T0: Timestamp = Timestamp(1_411_084_800_000_000_000);

#[test]
fn text_rules_ip_cidr_domain_suffix_url_comments_blank_lines() {
    let s = set(
        "iocs.txt",
        "# header\n\n203.0.113.10\n198.51.100.0/25   # C2 range\n2001:db8:c2::23\nSync.JP-cdn-update.example.net\n*.backup-store.example.com\nhxxps://api[.]cloud-telemetry[.]example[.]net/v1/up\n",
        Format::Text,
        false,
    )
    .unwrap();
    assert_eq!(s.len(), 6);
    let ip = |a: &str| s.match_ip(a.parse().unwrap(), T0).map(|i| s.origin_text(i));
    assert_eq!(ip("203.0.113.10").as_deref(), Some("iocs.txt:3"));
    assert_eq!(ip("198.51.100.23").as_deref(), Some("iocs.txt:4"));
    assert_eq!(ip("198.51.100.200"), None);
    assert_eq!(ip("2001:db8:c2::23").as_deref(), Some("iocs.txt:5"));
    let name = |n: &str| s.match_name(n, T0).map(|i| s.origin_text(i));
    assert_eq!(
        name("sync.jp-cdn-update.example.net.").as_deref(),
        Some("iocs.txt:6")
    );
    assert_eq!(
        name("files.backup-store.example.com").as_deref(),
        Some("iocs.txt:7")
    );
    assert_eq!(
        name("a.b.backup-store.example.com").as_deref(),
        Some("iocs.txt:7")
    );
    assert_eq!(
        name("backup-store.example.com"),
        None,
        "*.suffix does not match the bare domain"
    );
    assert_eq!(
        name("notbackup-store.example.com"),
        None,
        "suffix matches on label boundaries"
    );
    assert_eq!(
        name("API.Cloud-Telemetry.example.NET").as_deref(),
        Some("iocs.txt:8")
    );
}

#[test]
fn longest_prefix_wins() {
    let s = set(
        "n.txt",
        "10.0.0.0/8\n10.1.0.0/16\n10.1.2.3\n",
        Format::Text,
        false,
    )
    .unwrap();
    let m = |a: &str| {
        s.match_ip(a.parse().unwrap(), T0)
            .map(|i| s.indicators()[i].target.to_string())
    };
    assert_eq!(m("10.1.2.3").as_deref(), Some("10.1.2.3"));
    assert_eq!(m("10.1.9.9").as_deref(), Some("10.1.0.0/16"));
    assert_eq!(m("10.200.0.1").as_deref(), Some("10.0.0.0/8"));
    assert_eq!(m("11.0.0.1"), None);
}

#[test]
fn malformed_text_line_is_an_error_naming_file_and_line_or_a_warning_when_lenient() {
    let content = "203.0.113.10\nnot a domain!\n198.51.100.0/99\n";
    let e = set("bad.txt", content, Format::Text, false).unwrap_err();
    assert_eq!(
        e.to_string().split(':').take(2).collect::<Vec<_>>(),
        vec!["bad.txt", "2"]
    );
    let s = set("bad.txt", content, Format::Text, true).unwrap();
    assert_eq!(s.len(), 1);
    let lines: Vec<u32> = s.warnings().iter().map(|w| w.origin.line).collect();
    assert_eq!(lines, vec![2, 3]);
}

#[test]
fn a_source_without_indicators_is_an_error_even_when_lenient() {
    for (content, lenient) in [("# only comments\n\n", false), ("garbage here!\n", true)] {
        assert!(matches!(
            set("e.txt", content, Format::Text, lenient),
            Err(IntelError::Empty { .. })
        ));
    }
}

#[test]
fn csv_with_header_types_labels_and_validity_windows() {
    let content = "indicator,type,label,valid_from,valid_until\n\
        203.0.113.10,ip,exfil server,2014-07-01,2014-09-01T00:00:00Z\n\
        203.0.113.77,ipv4,\"exfil, new IP\",2014-09-01T00:00:00Z,\n\
        sync.jp-cdn-update.example.net,domain,,,\n\
        \"*.example.org\",suffix,c2,,\n\
        http://files.example.com/up,url,,,\n";
    let s = set("iocs.csv", content, Format::Csv, false).unwrap();
    assert_eq!(s.len(), 5);
    let old: std::net::IpAddr = "203.0.113.10".parse().unwrap();
    assert!(s.match_ip(old, ts("2014-08-15T00:00:00Z")).is_some());
    assert!(
        s.match_ip(old, ts("2014-09-02T00:00:00Z")).is_none(),
        "expired"
    );
    assert!(
        s.match_ip(old, ts("2014-06-30T00:00:00Z")).is_none(),
        "not yet valid"
    );
    let new = s
        .match_ip("203.0.113.77".parse().unwrap(), ts("2014-09-20T00:00:00Z"))
        .unwrap();
    assert_eq!(s.indicators()[new].label.as_deref(), Some("exfil, new IP"));
    assert!(s.match_name("ntp.example.org", T0).is_some());
    assert_eq!(
        s.indicators()[4].target,
        Target::Name("files.example.com".into())
    );
}

#[test]
fn csv_malformed_cases() {
    for (row, why) in [
        ("203.0.113.10,domain,,,", "type mismatch"),
        ("example.com,colour,,,", "unknown type"),
        ("203.0.113.10,ip,,yesterday,", "bad time"),
        ("203.0.113.10,ip,,2014-09-02,2014-09-01", "window reversed"),
        ("\"203.0.113.10,ip,,,", "unterminated quote"),
    ] {
        let content = format!("indicator,type,label,valid_from,valid_until\n{row}\n");
        let e = set("x.csv", &content, Format::Csv, false);
        assert!(
            matches!(e, Err(IntelError::Parse { line: 2, .. })),
            "{why}: {e:?}"
        );
    }
}

#[test]
fn stix_bundle_with_or_patterns_cidr_and_validity() {
    let bundle = r#"{"type":"bundle","id":"bundle--1","objects":[
      {"type":"identity","id":"identity--1","name":"CERT"},
      {"type":"indicator","id":"indicator--1","name":"exfil","pattern_type":"stix",
       "pattern":"[domain-name:value = 'sync.jp-cdn-update.example.net'] OR [ipv4-addr:value = '203.0.113.10']",
       "valid_from":"2014-07-01T00:00:00Z"},
      {"type":"indicator","id":"indicator--2","pattern":"[ipv4-addr:value ISSUBSET '198.51.100.0/25' OR ipv6-addr:value = '2001:db8:c2::23']",
       "valid_from":"2014-07-01T00:00:00Z"},
      {"type":"indicator","id":"indicator--3","pattern":"[url:value = 'https://files.backup-store.example.com/u']",
       "valid_from":"2014-07-01T00:00:00Z","valid_until":"2014-12-31T00:00:00Z"}
    ]}"#;
    let s = set("b.json", bundle, Format::Stix, false).unwrap();
    assert_eq!(s.len(), 5);
    assert_eq!(
        s.origin_text(s.match_ip("198.51.100.5".parse().unwrap(), T0).unwrap()),
        "b.json:3"
    );
    assert!(s.match_name("sync.jp-cdn-update.example.net", T0).is_some());
    assert!(s.match_name("files.backup-store.example.com", T0).is_some());
    assert!(s
        .match_ip("203.0.113.10".parse().unwrap(), ts("2014-06-01T00:00:00Z"))
        .is_none());
}

#[test]
fn stix_malformed_cases() {
    let cases = [
        r#"{"type":"bundle","objects":[{"type":"indicator","id":"indicator--9","pattern":"[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']"}]}"#,
        r#"{"type":"bundle","objects":[{"type":"indicator","id":"indicator--9","pattern":"[file:hashes.MD5 = 'abc']"}]}"#,
        r#"{"type":"bundle","objects":[{"type":"indicator","id":"indicator--9"}]}"#,
        r#"{"type":"bundle","objects":[{"type":"indicator","id":"indicator--9","pattern_type":"yara","pattern":"rule x {}"}]}"#,
        r#"{"type":"bundle","objects":[{"type":"indicator","id":"indicator--9","pattern":"[ipv4-addr:value = 'not-an-ip']"}]}"#,
    ];
    for c in cases {
        assert!(
            matches!(
                set("s.json", c, Format::Stix, false),
                Err(IntelError::Parse { line: 1, .. })
            ),
            "{c}"
        );
    }
    assert!(matches!(
        set("s.json", "{not json", Format::Stix, false),
        Err(IntelError::Parse { .. })
    ));
    assert!(matches!(
        set("s.json", r#"{"type":"report"}"#, Format::Stix, false),
        Err(IntelError::Parse { .. })
    ));
}

#[test]
fn formats_are_detected_by_extension_then_content() {
    use exfilmeter_intel::detect_format;
    assert_eq!(detect_format(Path::new("a.json"), ""), Format::Stix);
    assert_eq!(detect_format(Path::new("a.csv"), ""), Format::Csv);
    assert_eq!(
        detect_format(Path::new("a.txt"), "  {\"type\":\"bundle\"}"),
        Format::Stix
    );
    assert_eq!(
        detect_format(Path::new("a"), "indicator,type\n"),
        Format::Csv
    );
    assert_eq!(detect_format(Path::new("a"), "1.2.3.4\n"), Format::Text);
}

#[test]
fn scenario_ioc_files_load_and_name_their_hosts() {
    for dir in exfilmeter_testkit::scenarios() {
        let f = dir.join("iocs.txt");
        let s = IocSet::load(&[&f], false).unwrap();
        assert!(s.len() >= 6, "{}", dir.display());
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap())
                .unwrap();
        // Every malicious host is covered: by its name, or by one of its addresses.
        for (host, h) in truth["malicious_hosts"].as_object().unwrap() {
            let by_name = s.match_name(host, T0).is_some();
            let by_ip = h["ips"].as_array().unwrap().iter().any(|ip| {
                s.match_ip(ip.as_str().unwrap().parse().unwrap(), T0)
                    .is_some()
            });
            assert!(by_name || by_ip, "{}: {host} not covered", dir.display());
        }
        assert!(
            s.match_name("ntp.time-sync-service.example.org", T0)
                .is_none(),
            "C2 listed by address only"
        );
        // The IP-change host's new address is not listed: only DNS can attribute it.
        assert!(s.match_ip("203.0.113.77".parse().unwrap(), T0).is_none());
        assert!(s.match_ip("198.51.100.23".parse().unwrap(), T0).is_some());
    }
}

#[test]
fn single_label_names_and_host_port_entries_load_from_text() {
    let content =
        "localhost\nFILESRV01   # internal file server\n203.0.113.7:8443\nc2.example.com:443\n";
    let s = set("names.txt", content, Format::Text, false).unwrap();
    let targets: Vec<String> = s
        .indicators()
        .iter()
        .map(|i| i.target.to_string())
        .collect();
    assert_eq!(
        targets,
        ["localhost", "filesrv01", "203.0.113.7", "c2.example.com"]
    );
    assert_eq!(
        s.match_ip("203.0.113.7".parse().unwrap(), T0)
            .map(|i| s.indicators()[i].text.as_str()),
        Some("203.0.113.7:8443")
    );
}
