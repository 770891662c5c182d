//! Record estimates (DESIGN §8), in two steps: what a day and host's units hold — records
//! counted in decoded content plus a volume estimate of what stayed opaque ([`estimate_day`])
//! — and the volume estimate itself ([`estimate`]).
//!
//! ## Per day and host
//!
//! Content that decoded to records is
//! counted; only what stayed opaque is estimated from its volume, per codec class, and the
//! two add up.
//!
//! For counted content with holes (capture gaps, snaplen): **low** counts the complete
//! records only, **point** adds the missing and fragment bytes divided by the mean record
//! size, **high** adds the most records those bytes can hold (at the smallest record size,
//! and at least one per fragment).
//!
//! ## From volume
//!
//! Low / point / high record counts from byte volumes, with the assumptions that produced
//! them:
//!
//! - **low** = `B_low · r_min / μ_hi` — stream bytes only, the least compression, the
//!   largest plausible mean record size;
//! - **point** = `B · r̂ / μ̂`;
//! - **high** = `min(staged, B_high · r_max / μ_lo)` — gaps included, the best compression,
//!   the smallest plausible mean record size;
//!
//! where `μ_lo, μ_hi` are the 2.5 / 97.5 % quantiles of the mean size of *n* consecutive
//! recovered records with *n* ≈ the estimate itself (iterated twice), so a 10-record day
//! gets a wide interval and a 10,000-record day a narrow one.

use crate::collect::Unit;
use exfilmeter_content::Kind;
use exfilmeter_content::RecordModel;
use std::collections::BTreeSet;

/// What the traffic shows about the content that carried the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Records sent as stored (r = 1).
    Plain,
    /// Compressed with this codec of the model (e.g. `deflate-6`), recognised from the
    /// traffic (zlib header, archive magic): r is that codec family's range.
    Codec(String),
    /// Compressed with an unknown codec: r ∈ [r_min, r_max] of the model.
    Compressed,
    /// Opaque (encrypted; maybe compressed first): r ∈ [1, r_max].
    Opaque,
    /// Packed with a compression ratio the analyst measured (`--assume HOST=3.2`), in
    /// thousandths: r = this / 1000.
    Ratio(u64),
}

impl Content {
    /// An analyst's assumption on how a host's opaque channel packs records (`--assume
    /// HOST=CODEC`): `plain` (r = 1), `deflate`/`zlib`/`gzip` (the deflate range measured on
    /// the recovered files), `zstd`, `xz` (that codec's measured ratios), or a measured
    /// ratio (a number ≥ 1, e.g. `3.2`).
    pub fn assumed(codec: &str) -> Result<Content, String> {
        let c = codec.trim().to_ascii_lowercase();
        match c.as_str() {
            "plain" | "none" => Ok(Content::Plain),
            "deflate" | "zlib" => Ok(Content::Codec("deflate-6".into())),
            "gzip" => Ok(Content::Codec("gzip-6".into())),
            "zstd" => Ok(Content::Codec("zstd-3".into())),
            "xz" | "lzma" => Ok(Content::Codec("xz-6".into())),
            _ => match c.parse::<f64>() {
                Ok(r) if r.is_finite() && r >= 1.0 => Ok(Content::Ratio((r * 1000.0).round() as u64)),
                Ok(r) => Err(format!("a compression ratio is at least 1 (got {r})")),
                Err(_) => Err(format!(
                    "unknown codec {codec:?}: plain, deflate, zlib, gzip, zstd, xz, or a measured ratio such as 3.2"
                )),
            },
        }
    }
}

/// The byte basis of one day and host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Basis {
    /// Bytes certainly sent (stream-based).
    pub low: u64,
    /// Best value (stream-based, decoded where content was decodable).
    pub point: u64,
    /// Upper bound (stream bytes plus gap bytes).
    pub high: u64,
}

/// An estimate and every assumption behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Records, low.
    pub low: u64,
    /// Records, point.
    pub point: u64,
    /// Records, high (capped by the staged count when known).
    pub high: u64,
    /// Compression ratio range used and the point value.
    pub r_min: f64,
    /// See `r_min`.
    pub r_point: f64,
    /// See `r_min`.
    pub r_max: f64,
    /// Mean record size: 97.5 % quantile (used for low), point, 2.5 % quantile (for high).
    pub mu_hi: f64,
    /// See `mu_hi`.
    pub mu_point: f64,
    /// See `mu_hi`.
    pub mu_lo: f64,
    /// `plain`, the codec name, `compressed (unknown codec)` or `opaque`.
    pub codec: String,
    /// `high` was lowered to the number of staged records.
    pub capped_by_staged: bool,
}

fn family(codec: &str) -> &str {
    codec.split('-').next().unwrap_or(codec)
}

/// Bootstrap resamples used for the μ interval.
const RESAMPLES: u32 = 1000;

/// Estimates the records carried by `basis`.
pub fn estimate(
    basis: Basis,
    content: &Content,
    model: &RecordModel,
    staged: Option<u64>,
) -> Estimate {
    let (all_min, all_max) = model.r_range();
    let ratio = |name: &str| {
        model
            .ratios
            .iter()
            .find(|r| r.codec == name)
            .map(|r| r.ratio)
    };
    let (r_min, r_point, r_max, codec) = match content {
        Content::Plain => (1.0, 1.0, 1.0, "plain".to_string()),
        Content::Codec(c) => {
            let fam: Vec<f64> = model
                .ratios
                .iter()
                .filter(|r| family(&r.codec) == family(c))
                .map(|r| r.ratio)
                .collect();
            let lo = fam.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = fam.iter().copied().fold(0.0, f64::max);
            let p = ratio(c).unwrap_or((lo * hi).sqrt());
            if fam.is_empty() {
                (
                    all_min,
                    (all_min * all_max).sqrt(),
                    all_max,
                    format!("{c} (not measured: any codec)"),
                )
            } else {
                (lo, p, hi, c.clone())
            }
        }
        Content::Compressed => {
            let p = ratio("deflate-6").unwrap_or((all_min * all_max).sqrt());
            (
                all_min,
                p,
                all_max,
                "compressed (unknown codec)".to_string(),
            )
        }
        Content::Opaque => (1.0, all_max.sqrt(), all_max, "opaque".to_string()),
        Content::Ratio(m) => {
            let r = *m as f64 / 1000.0;
            (r, r, r, format!("ratio {r:.3}"))
        }
    };
    let mu = model.mean.max(1.0);
    let point = basis.point as f64 * r_point / mu;
    // The interval of the mean record size over as many records as the point estimate: the
    // point uses the mean itself, so one pass gives the n the interval is taken at.
    let n = point.round().max(1.0) as u64;
    let (lo, hi) = model.mean_interval(n, RESAMPLES);
    let (mu_lo, mu_hi) = (lo.max(1.0), hi.max(1.0));
    let low = (basis.low as f64 * r_min / mu_hi).floor().max(0.0) as u64;
    let mut high = (basis.high as f64 * r_max / mu_lo).ceil().max(0.0) as u64;
    let mut capped = false;
    if let Some(s) = staged {
        if high > s {
            high = s;
            capped = true;
        }
    }
    let point = (point.round() as u64).clamp(low.min(high), high.max(low));
    Estimate {
        low: low.min(high),
        point,
        high,
        r_min,
        r_point,
        r_max,
        mu_hi,
        mu_point: mu,
        mu_lo,
        codec,
        capped_by_staged: capped,
    }
}

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

/// What the estimate of one day and host needs of its units, summed: the same whichever
/// record model is applied later, so a run sums each upload as its flow closes and keeps one
/// of these per day and host, not the uploads. Only a counted upload with a hole (bytes of
/// partial records or missing) is kept apart, in upload order, for the model's per-upload
/// bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitSums {
    /// Application bytes of control units.
    pub control: u64,
    kinds: BTreeSet<&'static str>,
    /// Complete records counted.
    counted: u64,
    /// Decoded bytes of the counted content (of bulk uploads: the estimate's basis).
    decoded: u64,
    /// Decoded bytes of every counted upload, control ones too (daily.csv's `decoded_bytes`).
    pub decoded_all: u64,
    /// Partial records of counted uploads without a hole.
    partial: u64,
    /// Counted uploads with a hole: (order, partial records, hole bytes), in order.
    holes: Vec<(u64, u64, u64)>,
    opaque: Basis,
    deflate: Basis,
    volume_part: bool,
    /// Missing bytes the uploads account for (`body.missing` summed).
    pub missing: u64,
}

impl UnitSums {
    /// The sums of `units`, in their order.
    pub fn of<'u>(units: impl IntoIterator<Item = &'u Unit>) -> UnitSums {
        let mut s = UnitSums::default();
        for (i, u) in units.into_iter().enumerate() {
            s.add(u, i as u64);
        }
        s
    }

    /// Adds upload `u`, the `order`-th of the run (orders increase with the uploads added).
    pub fn add(&mut self, u: &Unit, order: u64) {
        let b = &u.body;
        self.missing += b.missing;
        if let Some(c) = b.counted {
            self.decoded_all += c.decoded_bytes;
        }
        if u.control {
            self.control += b.length;
            return;
        }
        self.kinds
            .insert(if u.source == crate::collect::Source::Tls {
                "tls"
            } else if u.source == crate::collect::Source::Raw {
                "raw"
            } else {
                b.kind.as_str()
            });
        match b.counted {
            Some(c) => {
                let hole = c.partial_bytes + c.missing;
                self.counted += c.complete;
                self.decoded += c.decoded_bytes;
                if hole > 0 {
                    self.holes.push((order, c.partial, hole));
                } else {
                    self.partial += c.partial;
                }
            }
            None => {
                self.volume_part |= b.kind != Kind::Unseen;
                let factor = if b.kind.base64() { 0.75 } else { 1.0 };
                let scale = |x: u64| (x as f64 * factor).round() as u64;
                let target = if b.kind.deflate() {
                    &mut self.deflate
                } else {
                    &mut self.opaque
                };
                target.low += scale(b.seen.saturating_sub(u.framing));
                target.point += scale(b.length);
                target.high += scale(b.length);
            }
        }
    }

    /// Adds another day's or host's sums (the uploads of both, in their orders).
    pub fn merge(&mut self, o: UnitSums) {
        self.control += o.control;
        self.kinds.extend(o.kinds);
        self.counted += o.counted;
        self.decoded += o.decoded;
        self.decoded_all += o.decoded_all;
        self.partial += o.partial;
        if self
            .holes
            .last()
            .is_some_and(|l| o.holes.first().is_some_and(|f| f.0 < l.0))
        {
            self.holes.extend(o.holes);
            self.holes.sort_by_key(|h| h.0);
        } else {
            self.holes.extend(o.holes);
        }
        for (a, b) in [(&mut self.opaque, o.opaque), (&mut self.deflate, o.deflate)] {
            a.low += b.low;
            a.point += b.point;
            a.high += b.high;
        }
        self.volume_part |= o.volume_part;
        self.missing += o.missing;
    }

    /// Whether any upload was left to the volume estimate.
    pub fn has_volume_part(&self) -> bool {
        self.volume_part
    }
}

/// The uploads of a run summed per local day and host.
pub type UnitTable =
    std::collections::BTreeMap<i32, std::collections::BTreeMap<crate::collect::Name, UnitSums>>;

/// The [`UnitTable`] of `units`, each added in its order.
pub fn unit_table(units: &[Unit]) -> UnitTable {
    let mut t = UnitTable::new();
    for (i, u) in units.iter().enumerate() {
        t.entry(u.day)
            .or_default()
            .entry(u.host.clone())
            .or_default()
            .add(u, i as u64);
    }
    t
}

/// Estimates one day and host from its units ([`estimate_sums`] of their [`UnitSums`]).
pub fn estimate_day(
    units: &[&Unit],
    unexplained_missing: u64,
    model: &RecordModel,
    staged: Option<u64>,
    assumed: Option<&Content>,
) -> DayEstimate {
    estimate_sums(
        &UnitSums::of(units.iter().copied()),
        unexplained_missing,
        model,
        staged,
        assumed,
    )
}

/// Estimates one day and host from its units. `unexplained_missing` is the client→server
/// gap and truncated bytes of its flows that no unit accounts for (they widen `high`).
/// `assumed`: how the analyst knows the host's opaque channel packs records
/// ([`Content::assumed`]), instead of r ∈ [1, r_max].
pub fn estimate_sums(
    sums: &UnitSums,
    unexplained_missing: u64,
    model: &RecordModel,
    staged: Option<u64>,
    assumed: Option<&Content>,
) -> DayEstimate {
    let mu = model.mean.max(1.0);
    let min = f64::from(model.min.max(1));
    let counted = sums.counted;
    let decoded = sums.decoded;
    let control = sums.control;
    let mut low = counted;
    let mut high = counted + sums.partial;
    // Complete records are whole numbers; each hole adds its share of a mean record.
    let mut point_f = counted as f64;
    for &(_, partial, hole) in &sums.holes {
        point_f += hole as f64 / mu;
        high += partial.max((hole as f64 / min).ceil() as u64);
    }
    let mut opaque = sums.opaque;
    let deflate = sums.deflate;
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
    DayEstimate {
        low,
        point,
        high,
        counted,
        decoded_bytes: decoded,
        volume_bytes: volume,
        basis_bytes: decoded + volume,
        basis_layer: basis_layer.into(),
        codec: sums.kinds.iter().copied().collect::<Vec<_>>().join(";"),
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
#[path = "estimator_sums_tests.rs"]
mod sums_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Source, Unit};
    use exfilmeter_content::CodecRatio;
    use exfilmeter_content::{BodyResult, Counted};
    use exfilmeter_flow::FlowId;
    use exfilmeter_ingest::{FileId, FrameRef, Timestamp};

    fn model(sizes: Vec<u32>, ratios: &[(&str, f64)]) -> RecordModel {
        let n = sizes.len() as f64;
        let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
        RecordModel {
            format: "lines".into(),
            files: vec![],
            min: *sizes.iter().min().unwrap_or(&0),
            max: *sizes.iter().max().unwrap_or(&0),
            sd: 0.0,
            quantiles: vec![],
            mean,
            ratios: ratios
                .iter()
                .map(|(c, r)| CodecRatio {
                    codec: (*c).into(),
                    compressed: 1,
                    ratio: *r,
                    ..Default::default()
                })
                .collect(),
            ratio_source: Default::default(),
            sizes,
            fields: None,
            headers: vec![],
            intervals: Default::default(),
        }
    }

    #[test]
    fn plain_content_of_uniform_records_is_exact() {
        let m = model(vec![100; 1000], &[("deflate-6", 3.0)]);
        let e = estimate(
            Basis {
                low: 10_000,
                point: 10_000,
                high: 10_000,
            },
            &Content::Plain,
            &m,
            None,
        );
        assert_eq!((e.low, e.point, e.high), (100, 100, 100));
        assert_eq!((e.r_min, e.r_max), (1.0, 1.0));
    }

    #[test]
    fn gaps_widen_high_and_staged_caps_it() {
        let m = model(vec![100; 1000], &[]);
        let e = estimate(
            Basis {
                low: 10_000,
                point: 10_000,
                high: 15_000,
            },
            &Content::Plain,
            &m,
            Some(120),
        );
        assert_eq!((e.low, e.point, e.high), (100, 100, 120));
        assert!(e.capped_by_staged);
    }

    #[test]
    fn known_codec_uses_its_family_range() {
        let m = model(
            vec![200; 500],
            &[
                ("deflate-1", 2.5),
                ("deflate-6", 3.0),
                ("deflate-9", 3.2),
                ("xz-6", 4.0),
            ],
        );
        // 30,000 compressed bytes → 90,000..96,000 raw → 450..480 records; point 450.
        let e = estimate(
            Basis {
                low: 30_000,
                point: 30_000,
                high: 30_000,
            },
            &Content::Codec("deflate-6".into()),
            &m,
            None,
        );
        assert_eq!((e.low, e.point, e.high), (375, 450, 480));
        assert_eq!((e.r_min, e.r_max), (2.5, 3.2));
    }

    #[test]
    fn opaque_content_spans_no_compression_to_the_best_codec() {
        let m = model(vec![250; 100], &[("deflate-6", 3.0), ("xz-6", 4.0)]);
        let e = estimate(
            Basis {
                low: 25_000,
                point: 25_000,
                high: 25_000,
            },
            &Content::Opaque,
            &m,
            None,
        );
        assert_eq!(e.low, 100);
        assert_eq!(e.high, 400);
        assert_eq!(e.point, 200); // r̂ = √4 = 2
    }

    #[test]
    fn interval_of_the_mean_widens_a_small_day() {
        let sizes: Vec<u32> = (0..3000).map(|i| 100 + (i * 61 % 200)).collect();
        let m = model(sizes, &[]);
        let mu = m.mean;
        let small = estimate(
            Basis {
                low: (10.0 * mu) as u64,
                point: (10.0 * mu) as u64,
                high: (10.0 * mu) as u64,
            },
            &Content::Plain,
            &m,
            None,
        );
        let big = estimate(
            Basis {
                low: (5000.0 * mu) as u64,
                point: (5000.0 * mu) as u64,
                high: (5000.0 * mu) as u64,
            },
            &Content::Plain,
            &m,
            None,
        );
        let rel = |e: &Estimate| (e.high - e.low) as f64 / e.point as f64;
        assert!(rel(&small) > 3.0 * rel(&big), "{small:?} {big:?}");
        assert!(small.low <= 10 && 10 <= small.high);
        assert!(big.low <= 5000 && 5000 <= big.high);
    }

    fn day_model() -> RecordModel {
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
                    ..Default::default()
                },
                CodecRatio {
                    codec: "deflate-9".into(),
                    compressed: 1,
                    ratio: 3.0,
                    ..Default::default()
                },
                CodecRatio {
                    codec: "xz-6".into(),
                    compressed: 1,
                    ratio: 4.0,
                    ..Default::default()
                },
            ],
            ratio_source: Default::default(),
            sizes,
            fields: None,
            headers: vec![],
            intervals: Default::default(),
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
        let m = day_model();
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
        let e = estimate_day(&[&plain, &sealed], 0, &m, None, None);
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
        let m = day_model();
        let u = unit(Kind::Base64Zlib, 4000, 4000, None);
        let e = estimate_day(&[&u], 0, &m, None, None);
        // 3,000 compressed bytes × [2, 3] / 100 → 60..90
        assert_eq!((e.low, e.high), (60, 90));
        assert_eq!((e.r_min, e.r_max), (Some(2.0), Some(3.0)));
    }

    #[test]
    fn control_units_are_excluded_and_unexplained_gaps_widen_high() {
        let m = day_model();
        let mut beacon = unit(Kind::Unrecognised, 40, 40, None);
        beacon.control = true;
        let e = estimate_day(&[&beacon], 1000, &m, Some(5), None);
        assert_eq!(e.excluded_control_bytes, 40);
        assert_eq!(e.low, 0);
        // 1,000 missing bytes × 4 / 100 = 40, capped by 5 staged records
        assert_eq!(e.high, 5);
        assert!(e.capped_by_staged);
    }
}
