//! `summary.md` of an `analyze` run: the case, the daily table, the periods, the
//! assumptions behind every estimate, and the counters of everything skipped. No wall-clock
//! time, fixed formatting: the same inputs give the same file.

use super::case::Case;
use anyhow::Result;
use chrono_tz::Tz;
use exfilmeter_estimate::{cells, DataFrame, RecordModel, RecoveredIndex, Rules};
use exfilmeter_ingest::FileSummary;
use exfilmeter_intel::IocSet;
use std::fmt::Write as _;

/// What the summary is made of.
pub struct Inputs<'a> {
    /// Settings.
    pub case: &'a Case,
    /// Zone.
    pub tz: Tz,
    /// Capture files read (name, summary).
    pub files: &'a [(String, &'a FileSummary)],
    /// First and last frame, local.
    pub first: Option<String>,
    /// See `first`.
    pub last: Option<String>,
    /// Record model.
    pub model: Option<&'a RecordModel>,
    /// Index of the recovered rows.
    pub index: Option<&'a RecoveredIndex>,
    /// Records confirmed anywhere (unique).
    pub confirmed: usize,
    /// The sweep table, when `--sweep` ran.
    pub sweep: Option<&'a DataFrame>,
    /// Control and TLS rules.
    pub rules: Rules,
    /// Daily table.
    pub daily: &'a DataFrame,
    /// Periods table.
    pub periods: &'a DataFrame,
    /// Counters.
    pub counters: &'a [(String, u64)],
    /// IOC sources.
    pub iocs: &'a IocSet,
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let esc = |s: &str| s.replace('|', "\\|");
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} |",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    out.push('\n');
}

const DAILY: [&str; 12] = [
    "day",
    "host",
    "flows",
    "stream_bytes",
    "gap_bytes",
    "app_bytes",
    "control_bytes",
    "basis_bytes",
    "records_low",
    "records_point",
    "records_high",
    "codec",
];

const PERIODS: [&str; 12] = [
    "period",
    "start",
    "end",
    "host",
    "stream_bytes",
    "gap_bytes",
    "app_bytes",
    "basis_bytes",
    "records_low",
    "records_point",
    "records_high",
    "counted_records",
];

/// Renders the summary.
pub fn render(i: &Inputs<'_>) -> Result<String> {
    let mut o = String::new();
    let _ = writeln!(o, "# exfilmeter analysis\n");
    let _ = writeln!(
        o,
        "exfilmeter {} · time zone {} · every day below is a local calendar day in that zone.\n",
        env!("CARGO_PKG_VERSION"),
        i.tz.name()
    );
    let _ = writeln!(o, "## Captures\n");
    let rows: Vec<Vec<String>> = i
        .files
        .iter()
        .map(|(name, s)| {
            vec![
                name.clone(),
                s.format.clone(),
                s.size.map_or_else(String::new, |n| n.to_string()),
                s.packets.to_string(),
                s.errors.len().to_string(),
                s.sha256.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &mut o,
        &["file", "format", "bytes", "frames", "errors", "sha256"],
        &rows,
    );
    if let (Some(a), Some(b)) = (&i.first, &i.last) {
        let _ = writeln!(o, "First frame {a}, last frame {b}.\n");
    }
    let _ = writeln!(o, "## Indicators\n");
    for p in i.iocs.sources() {
        let _ = writeln!(o, "- {}", p.display());
    }
    let _ = writeln!(o, "\n{} indicators loaded.\n", i.iocs.len());
    let _ = writeln!(o, "## Bytes and records sent per day and malicious host\n");
    let _ = writeln!(
        o,
        "Client→server direction of the flows attributed to an indicator. `records_*` are \
         records estimated from traffic volume: content that decoded to records is counted, \
         only opaque content is divided by the mean record size (see Assumptions). Days \
         inside the capture without traffic to a host are zero rows.\n"
    );
    table(&mut o, &DAILY, &cells(i.daily, &DAILY)?);
    let _ = writeln!(o, "## Periods\n");
    table(&mut o, &PERIODS, &cells(i.periods, &PERIODS)?);
    if i.index.is_some() {
        let _ = writeln!(o, "## Reconciliation with the recovered files\n");
        let _ = writeln!(
            o,
            "Confirmed: every byte of the record was found in decoded outbound content (and \
             the encoded stream's checksum verified). Partial: seen cut by a capture gap, \
             snaplen or a broken decoding. Key-only: only its key was seen. Residual: \
             records_point − confirmed, sent by volume but not attributable to a record. \
             {} distinct records confirmed in all; the list is confirmed_records.csv.\n",
            i.confirmed
        );
        let cols = [
            "period",
            "host",
            "records_low",
            "records_point",
            "records_high",
            "confirmed",
            "partial",
            "key_only",
            "residual",
            "status",
        ];
        let rows = cells(i.periods, &cols)?;
        table(&mut o, &cols, &rows);
        for r in rows.iter().filter(|r| r[1] == "(all)") {
            let _ = writeln!(
                o,
                "- {}: {} estimated from traffic volume ({}–{}), of which {} confirmed by \
                 content; {} sent but not attributable to individual records.",
                r[0], r[3], r[2], r[4], r[5], r[8]
            );
        }
        o.push('\n');
        let cols = [
            "day",
            "host",
            "records_low",
            "records_point",
            "records_high",
            "confirmed",
            "partial",
            "key_only",
            "residual",
            "status",
        ];
        let rows: Vec<Vec<String>> = cells(i.daily, &cols)?
            .into_iter()
            .filter(|r| r[4] != "0" || r[5] != "0" || r[6] != "0" || r[7] != "0")
            .collect();
        table(&mut o, &cols, &rows);
    }
    if let Some(sw) = i.sweep {
        let _ = writeln!(
            o,
            "## Sweep: servers on no IOC list that received recovered records\n"
        );
        if sw.height() == 0 {
            let _ = writeln!(
                o,
                "No outbound flow outside the indicators carried a recovered key or row.\n"
            );
        } else {
            let cols = [
                "server_ip",
                "server_name",
                "flows",
                "first_day",
                "last_day",
                "keys_seen",
                "rows_confirmed",
                "example_keys",
            ];
            table(&mut o, &cols, &cells(sw, &cols)?);
        }
    }
    let _ = writeln!(o, "## Assumptions\n");
    match i.model {
        Some(m) => {
            let (r_min, r_max) = m.r_range();
            let _ = writeln!(
                o,
                "- Record model: {} records in {} recovered file(s), format {}; size as stored \
                 mean {:.2} B, sd {:.2} B, min {} B, max {} B.",
                m.count(),
                m.files.len(),
                m.format,
                m.mean,
                m.sd,
                m.min,
                m.max
            );
            let _ = writeln!(
                o,
                "- Compression ratios measured on the recovered bytes: r from {r_min:.2} to \
                 {r_max:.2} ({}).",
                m.ratios
                    .iter()
                    .map(|r| format!("{} {:.2}", r.codec, r.ratio))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                o,
                "- Opaque content (encrypted, unknown codec, TLS, raw): records = B · r / μ with \
                 r in [1, r_max]; point r = √r_max. Deflate-family content that could not be \
                 decoded: r in the deflate range. Base64 outside: B · 3/4."
            );
            let _ = writeln!(
                o,
                "- low = B_low · r_min / μ_hi, high = B_high · r_max / μ_lo; μ_lo, μ_hi are the \
                 2.5/97.5 % quantiles of the mean size of n consecutive recovered records \
                 (moving-block bootstrap, fixed seed), n ≈ the estimate. Large-N record-size \
                 noise is negligible next to the compression-ratio range."
            );
            let _ = writeln!(
                o,
                "- Counted content with holes: low counts complete records only; high adds the \
                 most records the missing bytes can hold at the smallest record size ({} B).",
                m.min
            );
            if let Some(s) = i.case.staged {
                let _ = writeln!(o, "- `records_high` capped at {s} staged records.");
            }
        }
        None => {
            let _ = writeln!(
                o,
                "- No recovered files were given (`--recovered`): volumes only, no record \
                 estimates."
            );
        }
    }
    let _ = writeln!(
        o,
        "- Control traffic: HTTP requests and TLS records carrying fewer than {} content bytes \
         and no decoded record (beacons, keep-alives, TLS Finished) are `control_bytes`, \
         excluded from the basis.",
        i.rules.control_max
    );
    let _ = writeln!(
        o,
        "- TLS application data: plaintext = record length − {} (AEAD overhead); up to {} \
         bytes per record may be inner protocol framing and are left out of the low basis.\n",
        i.rules.tls_overhead, i.rules.tls_framing
    );
    let _ = writeln!(o, "## Data quality\n");
    let rows: Vec<Vec<String>> = i
        .counters
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    table(&mut o, &["counter", "value"], &rows);
    for (name, s) in i.files {
        for e in &s.errors {
            let _ = writeln!(o, "- {name}: {e}");
        }
    }
    Ok(o)
}
