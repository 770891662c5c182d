//! Acceptance on `../shared/scenarios/*/truth.json`: per local day and malicious host, the
//! application bytes equal truth, the true number of records sent lies within
//! [low, high], and on days whose uploads were all decodable and complete in the capture
//! the point estimate is within 2 % of truth.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exfilmeter_estimate::{
    estimate_day, headers_of, records_seen, ContentLedger, FlowDay, Header, KeySpec, Level, NoRows,
    Pipeline, RecordFormat, RecordModel, RecoveredIndex, Rules, Sighting, Tee, Unit,
};
use exfilmeter_flow::{DayClock, TrackerConfig};
use exfilmeter_ingest::{expand_inputs, HashAlgo};
use exfilmeter_intel::{Attributor, Internal, IocSet};
use std::collections::BTreeMap;
use std::path::PathBuf;

use exfilmeter_testkit::scenarios;

fn sorted(dir: PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

struct Run {
    truth: serde_json::Value,
    model: RecordModel,
    index: RecoveredIndex,
    units: Vec<Unit>,
    days: Vec<FlowDay>,
    sightings: Vec<Sighting>,
}

/// Runs a scenario's captures through decoder, tracker, attributor and content ledger.
fn run(d: &std::path::Path) -> Run {
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
    let tz: chrono_tz::Tz = truth["time_zone"].as_str().unwrap().parse().unwrap();
    let set = IocSet::load(&[d.join("iocs.txt")], false).unwrap();
    let recovered = sorted(d.join("recovered"));
    let key = KeySpec::Column(1);
    let model = RecordModel::build(&recovered, &RecordFormat::Csv, Header::No, Some(&key)).unwrap();
    let index = RecoveredIndex::build(
        &recovered,
        &RecordFormat::Csv,
        &headers_of(&recovered, &RecordFormat::Csv, Header::No),
        Some(&key),
    )
    .unwrap();
    let mut shape = model.shape(&RecordFormat::Csv);
    shape.match_against(&index);
    let (units, days, sightings) = {
        let ledger = ContentLedger::new(&shape, Rules::default(), DayClock::new(tz), &set)
            .with_index(&index);
        let tee = Tee {
            rows: NoRows,
            content: ledger,
        };
        let mut a = Attributor::new(&set, Internal::default(), 3600, tee);
        let files: Vec<String> = sorted(d.join("captures"))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let inputs = expand_inputs(&files).unwrap();
        let cfg = TrackerConfig {
            tz,
            ..TrackerConfig::default()
        };
        let read = Pipeline::new(cfg, HashAlgo::None).run(&inputs, &mut a, &mut ());
        assert!(!read.partial);
        let mut ledger = a.inner.content;
        ledger.finish();
        let units = std::mem::take(&mut ledger.units);
        let days = ledger.take_days();
        let sightings = std::mem::take(&mut ledger.sightings.list);
        (units, days, sightings)
    };
    Run {
        truth,
        model,
        index,
        units,
        days,
        sightings,
    }
}

fn date(d: i32) -> String {
    exfilmeter_flow::Day(d).to_string()
}

#[test]
fn records_per_day_and_host_lie_within_the_interval_and_plain_days_are_exact() {
    for d in scenarios() {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let r = run(&d);
        let (truth, model) = (&r.truth, &r.model);
        let mut units: BTreeMap<(String, String), Vec<&Unit>> = BTreeMap::new();
        for u in &r.units {
            units
                .entry((date(u.day), u.host.to_string()))
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
        for r in r.days.iter().filter(|r| r.c2s) {
            // Never more application bytes than the flow sent that day.
            assert!(
                r.app_bytes <= r.stream_bytes + r.gap_bytes,
                "{name}: row of flow {} (and the flows summed with it) on {}: app {} > stream {} + gap {}",
                r.flow_id,
                date(r.day),
                r.app_bytes,
                r.stream_bytes,
                r.gap_bytes
            );
            let k = (date(r.day), r.host.to_string());
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
                let e = estimate_day(&us, extra, model, None, None);
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

#[test]
fn confirmed_records_per_day_equal_the_truth_confirmable_set() {
    for d in scenarios() {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let r = run(&d);
        let key = |row: u32| -> String {
            let k = r.index.rows[row as usize].key;
            String::from_utf8_lossy(r.index.key(k)).to_string()
        };
        type Sets = BTreeMap<(String, String), std::collections::BTreeSet<String>>;
        let (mut confirmed, mut partial): (Sets, Sets) = Default::default();
        for s in &r.sightings {
            let k = (date(s.day), s.host.clone());
            match s.seen.level {
                Level::Confirmed => {
                    confirmed.entry(k).or_default().insert(key(s.seen.row));
                }
                Level::Partial => {
                    partial.entry(k).or_default().insert(key(s.seen.row));
                }
                Level::KeyOnly => {}
            }
        }
        let mut total = 0;
        for (day, dv) in r.truth["days"].as_object().unwrap() {
            for (host, m) in dv["malicious"].as_object().unwrap() {
                let k = (day.clone(), host.clone());
                let want: std::collections::BTreeSet<String> = m["confirmable_member_numbers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                let got = confirmed.remove(&k).unwrap_or_default();
                let extra: Vec<_> = got.difference(&want).collect();
                let missed: Vec<_> = want.difference(&got).collect();
                assert!(
                    extra.is_empty() && missed.is_empty(),
                    "{name} {day} {host}: {} false confirmations {extra:?}, {} missed {missed:?}",
                    extra.len(),
                    missed.len()
                );
                // Partial rows were sent that day and are not confirmable.
                let sent: std::collections::BTreeSet<String> = m["member_numbers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                for p in partial.remove(&k).unwrap_or_default() {
                    assert!(
                        sent.contains(&p),
                        "{name} {day} {host}: partial {p} not sent"
                    );
                }
                total += want.len();
            }
        }
        assert!(
            confirmed.is_empty(),
            "{name}: confirmations on days/hosts truth lacks: {confirmed:?}"
        );
        let never: std::collections::BTreeSet<String> = r.truth["records"]
            ["recovered_but_never_sent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let seen = records_seen(&r.index, &r.sightings);
        let unique = seen.iter().filter(|s| s.level == Level::Confirmed).count();
        assert_eq!(
            unique as u64,
            r.truth["records"]["confirmable_count"].as_u64().unwrap(),
            "{name}: unique confirmed records"
        );
        for s in &seen {
            assert!(
                !never.contains(&key(s.row)),
                "{name}: never-sent {} seen",
                key(s.row)
            );
        }
        eprintln!("{name}: {total} per-day confirmations, {unique} unique, all equal to truth");
    }
}
