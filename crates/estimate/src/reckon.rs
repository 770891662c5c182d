//! Records per day and host from its units (DESIGN §8): content that decoded to records is
//! counted; only what stayed opaque is estimated from its volume, per codec class, and the
//! two add up.
//!
//! For counted content with holes (capture gaps, snaplen): **low** counts the complete
//! records only, **point** adds the missing and fragment bytes divided by the mean record
//! size, **high** adds the most records those bytes can hold (at the smallest record size,
//! and at least one per fragment).

use crate::collect::Unit;
use crate::estimator::{estimate, Basis, Content};
use exfilmeter_content::Kind;
use exfilmeter_content::RecordModel;
use std::collections::BTreeSet;

/// The estimate of one day and host, with its basis and assumptions.
#[derive(Debug, Clone, PartialEq)]
pub struct DayEstimate {
    /// Records, low.
    pub low: u64,
    /// Records, point.
    pub point: u64,
    /// Records, high.
    pub high: u64,
    /// Records counted in decoded content (complete ones).
    pub counted: u64,
    /// Decoded bytes of the counted content.
    pub decoded_bytes: u64,
    /// Bytes left to the volume estimate (after the base64 factor).
    pub volume_bytes: u64,
    /// `decoded_bytes + volume_bytes`.
    pub basis_bytes: u64,
    /// `decoded`, `app` or `decoded+app`; empty when there was nothing.
    pub basis_layer: String,
    /// Content kinds of the bulk units, `;`-joined.
    pub codec: String,
    /// Compression ratio range of the volume part (None when everything was counted).
    pub r_min: Option<f64>,
    /// See `r_min`.
    pub r_max: Option<f64>,
    /// Mean recovered record size used.
    pub mean_record_bytes: f64,
    /// Application bytes of control units excluded from the basis.
    pub excluded_control_bytes: u64,
    /// `high` was lowered to the staged count.
    pub capped_by_staged: bool,
}

#[derive(Default)]
struct Class {
    low: u64,
    point: u64,
    high: u64,
}

/// Estimates one day and host from its units. `unexplained_missing` is the client→server
/// gap and truncated bytes of its flows that no unit accounts for (they widen `high`).
pub fn estimate_day(
    units: &[&Unit],
    unexplained_missing: u64,
    model: &RecordModel,
    staged: Option<u64>,
) -> DayEstimate {
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
        (opaque, Content::Opaque),
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
    DayEstimate {
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
    }
}

/// Whether any unit of the day was left to the volume estimate.
pub fn has_volume_part(units: &[&Unit]) -> bool {
    units
        .iter()
        .any(|u| !u.control && u.body.counted.is_none() && u.body.kind != Kind::Unseen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Source, Unit};
    use exfilmeter_content::CodecRatio;
    use exfilmeter_content::{BodyResult, Counted};
    use exfilmeter_flow::FlowId;
    use exfilmeter_ingest::{FileId, FrameRef, Timestamp};

    fn model() -> RecordModel {
        let sizes = vec![100u32; 2000];
        RecordModel {
            format: "lines".into(),
            files: vec![],
            min: 100,
            max: 100,
            sd: 0.0,
            quantiles: vec![],
            mean: 100.0,
            ratios: vec![
                CodecRatio {
                    codec: "deflate-1".into(),
                    compressed: 1,
                    ratio: 2.0,
                },
                CodecRatio {
                    codec: "deflate-9".into(),
                    compressed: 1,
                    ratio: 3.0,
                },
                CodecRatio {
                    codec: "xz-6".into(),
                    compressed: 1,
                    ratio: 4.0,
                },
            ],
            ratio_sample: 0,
            sizes,
            fields: None,
            headers: vec![],
        }
    }

    fn unit(kind: Kind, length: u64, seen: u64, counted: Option<Counted>) -> Unit {
        let f = FrameRef {
            file: FileId(0),
            index: 0,
            offset: 0,
        };
        Unit {
            day: 0,
            ts: Timestamp(0),
            flow: FlowId(1),
            host: "h".into(),
            source: Source::HttpBody,
            body: BodyResult {
                kind,
                length,
                seen,
                missing: length - seen,
                counted,
                broken: false,
            },
            control: false,
            framing: 0,
            frames: (f, f),
        }
    }

    #[test]
    fn counted_plus_opaque_add_up() {
        let m = model();
        let plain = unit(
            Kind::Plain,
            5000,
            4800,
            Some(Counted {
                complete: 47,
                complete_bytes: 4700,
                partial: 2,
                partial_bytes: 100,
                missing: 200,
                gaps: 1,
                decoded_bytes: 4800,
                ..Counted::default()
            }),
        );
        let sealed = unit(Kind::Opaque, 10_000, 10_000, None);
        let e = estimate_day(&[&plain, &sealed], 0, &m, None);
        // plain: low 47, point 47 + 300/100 = 50, high 47 + max(2, 3) = 50
        // opaque 10,000 B: r in [1, 4], r̂ = 2 → low 100, point 200, high 400
        assert_eq!((e.low, e.point, e.high), (147, 250, 450));
        assert_eq!(e.counted, 47);
        assert_eq!(e.basis_bytes, 4800 + 10_000);
        assert_eq!(e.basis_layer, "decoded+app");
        assert_eq!((e.r_min, e.r_max), (Some(1.0), Some(4.0)));
        assert_eq!(e.codec, "opaque;plain");
    }

    #[test]
    fn base64_deflate_that_did_not_decode_uses_the_deflate_range() {
        let m = model();
        let u = unit(Kind::Base64Zlib, 4000, 4000, None);
        let e = estimate_day(&[&u], 0, &m, None);
        // 3,000 compressed bytes × [2, 3] / 100 → 60..90
        assert_eq!((e.low, e.high), (60, 90));
        assert_eq!((e.r_min, e.r_max), (Some(2.0), Some(3.0)));
    }

    #[test]
    fn control_units_are_excluded_and_unexplained_gaps_widen_high() {
        let m = model();
        let mut beacon = unit(Kind::Unrecognised, 40, 40, None);
        beacon.control = true;
        let e = estimate_day(&[&beacon], 1000, &m, Some(5));
        assert_eq!(e.excluded_control_bytes, 40);
        assert_eq!(e.low, 0);
        // 1,000 missing bytes × 4 / 100 = 40, capped by 5 staged records
        assert_eq!(e.high, 5);
        assert!(e.capped_by_staged);
    }
}
