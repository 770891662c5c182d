//! Record counts from byte volumes (DESIGN §8): low / point / high with the assumptions
//! that produced them.
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

use exfilmeter_content::RecordModel;

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
}

/// The byte basis of one day and host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    };
    let mu = model.mean.max(1.0);
    let point_of = |m: f64| basis.point as f64 * r_point / m;
    let mut point = point_of(mu);
    let (mut mu_lo, mut mu_hi) = (mu, mu);
    for _ in 0..2 {
        let n = point.round().max(1.0) as u64;
        let (lo, hi) = model.mean_interval(n, RESAMPLES);
        mu_lo = lo.max(1.0);
        mu_hi = hi.max(1.0);
        point = point_of(mu);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use exfilmeter_content::CodecRatio;

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
                })
                .collect(),
            ratio_sample: 0,
            sizes,
            fields: None,
            headers: vec![],
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
}
