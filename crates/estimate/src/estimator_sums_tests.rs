//! The day estimate from summed uploads against the upload-by-upload computation it replaced
//! (kept here as the oracle), and summing in groups against summing in one.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::collect::{Source, Unit};
use exfilmeter_content::{BodyResult, CodecRatio, Counted};
use exfilmeter_flow::FlowId;
use exfilmeter_ingest::{FileId, FrameRef, Timestamp};
use proptest::prelude::*;

/// The estimate as it was computed before uploads were summed: one upload at a time.
fn per_unit(
    units: &[&Unit],
    unexplained_missing: u64,
    model: &RecordModel,
    staged: Option<u64>,
    assumed: Option<&Content>,
) -> (DayEstimate, f64) {
    let mu = model.mean.max(1.0);
    let min = f64::from(model.min.max(1));
    let (mut low, mut point_f, mut high) = (0u64, 0f64, 0u64);
    let (mut counted, mut decoded) = (0u64, 0u64);
    let mut kinds = BTreeSet::new();
    let mut control = 0u64;
    // Volume classes: opaque (r in [1, r_max]) and deflate-family (codec range).
    let mut opaque = Basis {
        low: 0,
        point: 0,
        high: 0,
    };
    let mut deflate = opaque;
    for u in units {
        let b = &u.body;
        if u.control {
            control += b.length;
            continue;
        }
        kinds.insert(if u.source == crate::collect::Source::Tls {
            "tls"
        } else if u.source == crate::collect::Source::Raw {
            "raw"
        } else {
            b.kind.as_str()
        });
        match b.counted {
            Some(c) => {
                let hole = c.partial_bytes + c.missing;
                counted += c.complete;
                decoded += c.decoded_bytes;
                low += c.complete;
                point_f += c.complete as f64 + hole as f64 / mu;
                high += c.complete + c.partial.max((hole as f64 / min).ceil() as u64);
            }
            None => {
                let factor = if b.kind.base64() { 0.75 } else { 1.0 };
                let scale = |x: u64| (x as f64 * factor).round() as u64;
                let target = if b.kind.deflate() {
                    &mut deflate
                } else {
                    &mut opaque
                };
                target.low += scale(b.seen.saturating_sub(u.framing));
                target.point += scale(b.length);
                target.high += scale(b.length);
            }
        }
    }
    opaque.high += unexplained_missing;
    let mut r_min: Option<f64> = None;
    let mut r_max: Option<f64> = None;
    let mut volume = 0;
    let mut classes = Vec::new();
    for (basis, content) in [
        (opaque, assumed.cloned().unwrap_or(Content::Opaque)),
        (deflate, Content::Codec("deflate-6".into())),
    ] {
        if basis.high == 0 {
            continue;
        }
        volume += basis.point;
        let e = estimate(basis, &content, model, None);
        r_min = Some(r_min.map_or(e.r_min, |r| r.min(e.r_min)));
        r_max = Some(r_max.map_or(e.r_max, |r| r.max(e.r_max)));
        classes.push(Class {
            low: e.low,
            point: e.point,
            high: e.high,
        });
    }
    for c in &classes {
        low += c.low;
        point_f += c.point as f64;
        high += c.high;
    }
    let mut capped = false;
    if let Some(s) = staged {
        if high > s {
            high = s;
            capped = true;
        }
    }
    let low = low.min(high);
    let point = (point_f.round() as u64).clamp(low, high);
    let basis_layer = match (decoded > 0, volume > 0) {
        (true, true) => "decoded+app",
        (true, false) => "decoded",
        (false, true) => "app",
        (false, false) => "",
    };
    let e = DayEstimate {
        low,
        point,
        high,
        counted,
        decoded_bytes: decoded,
        volume_bytes: volume,
        basis_bytes: decoded + volume,
        basis_layer: basis_layer.into(),
        codec: kinds.into_iter().collect::<Vec<_>>().join(";"),
        r_min,
        r_max,
        mean_record_bytes: model.mean,
        excluded_control_bytes: control,
        capped_by_staged: capped,
    };
    (e, point_f)
}

fn model(min: u32, mean: f64) -> RecordModel {
    RecordModel {
        format: "lines".into(),
        files: vec![],
        min,
        max: min.max(mean as u32) * 2,
        sd: 0.0,
        quantiles: vec![],
        mean,
        ratios: vec![CodecRatio {
            codec: "deflate-6".into(),
            compressed: 1,
            ratio: 3.0,
            ..Default::default()
        }],
        ratio_source: Default::default(),
        sizes: vec![min; 100],
        fields: None,
        headers: vec![],
        intervals: Default::default(),
    }
}

const KINDS: [Kind; 5] = [
    Kind::Plain,
    Kind::Base64,
    Kind::Zlib,
    Kind::Opaque,
    Kind::Unseen,
];

prop_compose! {
    fn unit()(
        kind in 0usize..5,
        source in 0usize..3,
        control in proptest::bool::weighted(0.2),
        length in 0u64..20_000,
        seen_pct in 0u64..=100,
        framing in 0u64..300,
        counted in proptest::option::of((
            0u64..300,
            0u64..6,
            prop_oneof![Just(0u64), 1u64..900],
            prop_oneof![Just(0u64), 1u64..900],
            0u64..50_000,
        )),
        day in 0i32..3,
        host in 0usize..3,
    ) -> Unit {
        let f = FrameRef { file: FileId(0), index: 0, offset: 0 };
        let seen = length * seen_pct / 100;
        Unit {
            day,
            ts: Timestamp(0),
            flow: FlowId(1),
            host: ["a", "b", "c"][host].into(),
            source: [Source::HttpBody, Source::Tls, Source::Raw][source],
            body: BodyResult {
                kind: KINDS[kind],
                length,
                seen,
                missing: length - seen,
                counted: counted.map(|(complete, partial, partial_bytes, missing, decoded_bytes)| Counted {
                    complete,
                    complete_bytes: complete * 100,
                    partial,
                    partial_bytes,
                    missing,
                    decoded_bytes,
                    ..Counted::default()
                }),
                broken: false,
            },
            control,
            framing,
            frames: (f, f),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Every field of the estimate as upload-by-upload; the point estimate too, except where
    /// the old sum lay within a rounding error of a half record (its order of additions then
    /// decides the rounding: one record either way).
    #[test]
    fn summed_uploads_estimate_as_upload_by_upload(
        units in proptest::collection::vec(unit(), 0..12),
        extra in 0u64..5000,
        min in 1u32..400,
        mean in 1.0f64..600.0,
        staged in proptest::option::of(0u64..500),
    ) {
        let m = model(min, mean);
        let refs: Vec<&Unit> = units.iter().collect();
        let (old, point_f) = per_unit(&refs, extra, &m, staged, None);
        let new = estimate_day(&refs, extra, &m, staged, None);
        let near_half = (point_f - point_f.floor() - 0.5).abs() < 1e-6;
        if near_half {
            prop_assert!(old.point.abs_diff(new.point) <= 1);
            let same = DayEstimate { point: old.point, ..new.clone() };
            prop_assert_eq!(&old, &same);
        } else {
            prop_assert_eq!(&old, &new);
        }
        prop_assert_eq!(has_volume_part(&refs), UnitSums::of(refs.iter().copied()).has_volume_part());
    }

    /// Summed in groups (each upload with its order in the run) and merged in any order, the
    /// sums are those of every upload summed at once.
    #[test]
    fn sums_merged_from_groups_are_the_sums_of_all(
        units in proptest::collection::vec((unit(), 0usize..4), 0..16),
        order in proptest::collection::vec(0usize..4, 4),
    ) {
        let all = UnitSums::of(units.iter().map(|(u, _)| u));
        let mut groups = vec![UnitSums::default(); 4];
        for (i, (u, g)) in units.iter().enumerate() {
            groups[*g].add(u, i as u64);
        }
        let mut merged = UnitSums::default();
        let mut done = [false; 4];
        for g in order.iter().chain(&[0, 1, 2, 3]) {
            if !std::mem::replace(&mut done[*g], true) {
                merged.merge(std::mem::take(&mut groups[*g]));
            }
        }
        prop_assert_eq!(merged, all);
    }
}
