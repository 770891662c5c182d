//! Acceptance on `../shared/scenarios/*/truth.json`: per local day and malicious host, the
//! application bytes equal truth, the true number of records sent lies within
//! [low, high], and on days whose uploads were all decodable and complete in the capture
//! the point estimate is within 2 % of truth.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_estimate::{
    estimate_day, ContentLedger, Header, KeySpec, RecordFormat, RecordModel, Rules, Unit,
};
use exfilmeter_flow::{DayClock, Tracker, TrackerConfig};
use exfilmeter_ingest::{CaptureReader, Decoded, Decoder, FileId, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn scenarios() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scenarios");
    if !root.exists() {
        eprintln!("SKIPPED: {} not found", root.display());
        return Vec::new();
    }
    ["small-s1", "small-s2-pcapng-sll", "jal-lite-s3"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

fn sorted(dir: PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn date(d: i32) -> String {
    (chrono::NaiveDate::default() + chrono::Days::new(d as u64)).to_string()
}

#[test]
fn records_per_day_and_host_lie_within_the_interval_and_plain_days_are_exact() {
    for d in scenarios() {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
        let tz: chrono_tz::Tz = truth["time_zone"].as_str().unwrap().parse().unwrap();
        let set = IocSet::load(&[d.join("iocs.txt")], false).unwrap();
        let model = RecordModel::build(
            &sorted(d.join("recovered")),
            &RecordFormat::Csv,
            Header::No,
            Some(&KeySpec::Column(1)),
        )
        .unwrap();
        let shape = model.shape(&RecordFormat::Csv);
        let ledger = ContentLedger::new(&shape, Rules::default(), DayClock::new(tz), &set);
        let mut tracker = Tracker::new(TrackerConfig {
            tz,
            ..TrackerConfig::default()
        });
        let mut decoder = Decoder::default();
        let mut a = Attributor::new(&set, Internal::default(), 3600, ledger);
        for (i, f) in sorted(d.join("captures")).iter().enumerate() {
            let mut r = CaptureReader::open(f, FileId(i as u32), HashAlgo::None).unwrap();
            while let Some(frame) = r.next_frame() {
                if let Decoded::Packet(p) = decoder.decode(&frame) {
                    tracker.packet(&p, &mut a);
                }
            }
        }
        decoder.finish();
        tracker.finish(&mut a);
        let mut ledger = a.inner;
        ledger.finish();
        let mut units: BTreeMap<(String, String), Vec<&Unit>> = BTreeMap::new();
        for u in &ledger.units {
            units
                .entry((date(u.day), u.host.clone()))
                .or_default()
                .push(u);
        }
        let hosts = truth["malicious_hosts"].as_object().unwrap();
        for (_, h) in units.keys() {
            assert!(hosts.contains_key(h), "{name}: unit of unknown host {h}");
        }
        let mut app: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut missing: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut cut = std::collections::BTreeSet::new();
        for r in ledger.days.iter().filter(|r| r.c2s) {
            let k = (date(r.day), r.host.clone());
            *app.entry(k.clone()).or_default() += r.app_bytes;
            *missing.entry(k.clone()).or_default() += r.gap_bytes + r.truncated_bytes;
            if r.truncated_bytes > 0 {
                cut.insert(k);
            }
        }
        // Uploads per day and host that decode completely (plain or zlib+base64).
        let mut exact_days: BTreeMap<(String, String), bool> = BTreeMap::new();
        for u in truth["uploads"].as_array().unwrap() {
            let ch = u["channel"].as_str().unwrap();
            let host = match ch {
                "proxy" => "files.backup-store.example.com",
                "tls" => "api.cloud-telemetry.example.net",
                _ => "sync.jp-cdn-update.example.net",
            };
            assert!(hosts.contains_key(host));
            let ok = matches!(u["encoding"].as_str().unwrap(), "plain" | "zb64")
                && u["complete_in_capture"].as_bool().unwrap();
            let e = exact_days
                .entry((u["day"].as_str().unwrap().to_string(), host.to_string()))
                .or_insert(true);
            *e &= ok;
        }
        let (mut checked, mut exact) = (0, 0);
        let mut worst = 0f64;
        for (day, dv) in truth["days"].as_object().unwrap() {
            for (host, m) in dv["malicious"].as_object().unwrap() {
                let k = (day.clone(), host.clone());
                // Record transmissions (a record uploaded twice counts twice: volume cannot tell).
                let sent = m["record_uploads"].as_u64().unwrap();
                if !cut.contains(&k) {
                    assert_eq!(
                        app.get(&k).copied().unwrap_or(0),
                        m["ledger"]["out"]["app_bytes"].as_u64().unwrap(),
                        "{name} {day} {host}: app_bytes"
                    );
                }
                let us = units.get(&k).cloned().unwrap_or_default();
                let explained: u64 = us.iter().map(|u| u.body.missing).sum();
                let extra = missing
                    .get(&k)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(explained);
                let e = estimate_day(&us, extra, &model, None);
                eprintln!(
                    "{name} {day} {host}: truth {sent}, estimate {}..{}..{} ({}, counted {}, volume {} B)",
                    e.low, e.point, e.high, e.codec, e.counted, e.volume_bytes
                );
                assert!(
                    e.low <= sent && sent <= e.high,
                    "{name} {day} {host}: truth {sent} outside {}..{} ({e:?})",
                    e.low,
                    e.high
                );
                if sent > 0 && exact_days.get(&k).copied().unwrap_or(false) {
                    let err = (e.point as f64 - sent as f64).abs() / sent as f64;
                    worst = worst.max(err);
                    assert!(
                        err <= 0.02,
                        "{name} {day} {host}: point {} vs truth {sent}",
                        e.point
                    );
                    exact += 1;
                }
                checked += 1;
            }
        }
        eprintln!(
            "{name}: {checked} day×host rows, {exact} decodable days within 2 % (worst {:.3} %)",
            worst * 100.0
        );
        assert!(checked > 10 && exact > 3, "{name}: {checked} {exact}");
    }
}
