//! IOC sources responders exchange: a MISP event made with PyMISP's own data model (the
//! export a MISP server gives, and a feed's event file), and a Zeek Intel framework file.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_ingest::Timestamp;
use exfilmeter_intel::{detect_format, Format, IocSet};
use std::path::Path;
use std::process::Command;

fn at(rfc3339: &str) -> Timestamp {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    Timestamp(t.timestamp_nanos_opt().unwrap())
}

#[test]
fn a_misp_event_made_by_pymisp_loads_its_network_attributes_for_detection() {
    let has_pymisp = Command::new("python3")
        .args(["-c", "import pymisp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pymisp {
        exfilmeter_testkit::skip("python3 with the pymisp package (pip install pymisp)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/misp_export.py");
    let o = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let when = at("2014-09-19T12:00:00Z");
    for file in ["event.json", "feed-event.json"] {
        let p = dir.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(detect_format(&p, &text), Format::Misp, "{file}");
        let set = IocSet::load(&[&p], false).unwrap();
        for ip in ["203.0.113.10", "203.0.113.77", "192.0.2.55"] {
            assert!(
                set.match_ip(ip.parse().unwrap(), when).is_some(),
                "{file}: {ip}"
            );
        }
        for name in [
            "sync.jp-cdn-update.example.net",
            "files.backup-store.example.com",
            "api.cloud-telemetry.example.net",
            "cdn.exfil-relay.example.com",
        ] {
            assert!(set.match_name(name, when).is_some(), "{file}: {name}");
        }
        // to_ids false: informational, never matched.
        assert!(set
            .match_ip("198.51.100.99".parse().unwrap(), when)
            .is_none());
        // first_seen / last_seen bound the attribute.
        let after = at("2014-11-01T00:00:00Z");
        assert!(set
            .match_ip("203.0.113.77".parse().unwrap(), after)
            .is_none());
        assert!(set
            .match_ip("203.0.113.10".parse().unwrap(), after)
            .is_some());
        // The md5, the e-mail address and the to_ids-false address: ignored, counted.
        assert_eq!(set.ignored().len(), 3, "{file}: {:?}", set.ignored());
        assert!(set.warnings().is_empty());
        // The event's info labels what it matched.
        let id = set.match_ip("203.0.113.10".parse().unwrap(), when).unwrap();
        let label = set.get(id).unwrap().label.clone().unwrap();
        assert!(label.contains("Exfiltration of member records"), "{label}");
    }
}

#[test]
fn a_zeek_intel_file_loads_addresses_subnets_domains_and_urls() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("intel.dat");
    std::fs::write(
        &p,
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n\
         203.0.113.10\tIntel::ADDR\tcase-7\tupload server\n\
         198.51.100.0/25\tIntel::SUBNET\tcase-7\t-\n\
         sync.jp-cdn-update.example.net\tIntel::DOMAIN\tcase-7\tC2\n\
         files.backup-store.example.com/upload.php\tIntel::URL\tcase-7\t-\n\
         d41d8cd98f00b204e9800998ecf8427e\tIntel::FILE_HASH\tcase-7\tdropper\n\
         attacker@example.org\tIntel::EMAIL\tcase-7\t-\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(detect_format(&p, &text), Format::ZeekIntel);
    let set = IocSet::load(&[&p], false).unwrap();
    let t = Timestamp(0);
    assert!(set.match_ip("203.0.113.10".parse().unwrap(), t).is_some());
    assert!(set.match_ip("198.51.100.77".parse().unwrap(), t).is_some());
    assert!(set.match_ip("198.51.100.200".parse().unwrap(), t).is_none());
    assert!(set
        .match_name("sync.jp-cdn-update.example.net", t)
        .is_some());
    assert!(set
        .match_name("files.backup-store.example.com", t)
        .is_some());
    assert_eq!(set.ignored().len(), 2);
    let id = set.match_ip("203.0.113.10".parse().unwrap(), t).unwrap();
    assert_eq!(
        set.get(id).unwrap().label.as_deref(),
        Some("case-7 — upload server")
    );
    assert!(set.origin_text(id).ends_with("intel.dat:2"));
    // A malformed address is an error naming the line.
    std::fs::write(
        &p,
        "#fields\tindicator\tindicator_type\tmeta.source\n300.1.1.1\tIntel::ADDR\tx\n",
    )
    .unwrap();
    let e = IocSet::load(&[&p], false).unwrap_err().to_string();
    assert!(e.contains("intel.dat:2"), "{e}");
}
