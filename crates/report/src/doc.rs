//! The report as a list of blocks (headings, paragraphs, tables, charts): built once from the
//! `Report`, then laid out as HTML and as Markdown, so both carry exactly the same text and
//! numbers.

use crate::fmt::{bytes, group, opt, time};
use crate::model::{Line, Report, LAYERS};

/// One block of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A heading (level 1–3).
    Heading(u8, String),
    /// A paragraph.
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table: id (HTML `id`), header, rows; `numeric` marks right-aligned columns.
    Table {
        /// Element id.
        id: String,
        /// Column titles.
        head: Vec<String>,
        /// Cells.
        rows: Vec<Vec<String>>,
        /// Right-aligned columns.
        numeric: Vec<bool>,
    },
    /// The chart of this index in `svg::charts`.
    Chart(usize),
    /// Preformatted text (a command).
    Code(String),
}

fn table(id: &str, head: &[&str], numeric: &[usize], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        id: id.into(),
        head: head.iter().map(|s| (*s).to_string()).collect(),
        numeric: (0..head.len()).map(|i| numeric.contains(&i)).collect(),
        rows,
    }
}

/// Columns of the two headline tables after the label column(s).
pub const HEADLINE: [&str; 9] = [
    "bytes sent",
    "transmissions low",
    "transmissions point",
    "transmissions high",
    "counted (decoded)",
    "distinct records confirmed",
    "transmissions explained by confirmed",
    "transmissions not explained",
    "reading",
];

fn headline_cells(l: &Line) -> Vec<String> {
    vec![
        group(l.bytes),
        opt(l.low),
        opt(l.point),
        opt(l.high),
        opt(l.counted),
        opt(l.confirmed),
        opt(l.explained),
        opt(l.residual),
        l.reading.clone(),
    ]
}

/// Builds the report's blocks.
pub fn blocks(r: &Report, reproducible: bool, charts: usize) -> Vec<Block> {
    let m = &r.manifest;
    let mut b = Vec::new();
    b.push(Block::Heading(1, "Exfiltration report".into()));
    b.push(Block::Para(format!(
        "{} {} · time zone {} · every day in this report is a local calendar day in that zone; \
         “bytes sent” are the unique client→server bytes of the flows attributed to an \
         indicator (TCP stream bytes after reassembly, UDP payload).",
        m.tool, m.version, m.time_zone
    )));
    if !reproducible {
        if let Some(g) = &m.generated_at {
            b.push(Block::Para(format!("Generated at: {g} (UTC).")));
        }
    }

    // 1. The case.
    b.push(Block::Heading(2, "1. The case".into()));
    let total: u64 = m.captures.iter().map(|c| c.size).sum();
    let frames: u64 = m.captures.iter().map(|c| c.frames).sum();
    let mut s = format!(
        "{} capture file(s), {} ({} bytes), {} frames",
        m.captures.len(),
        bytes(total),
        group(total),
        group(frames)
    );
    if let Some(sp) = &m.span {
        s.push_str(&format!(
            ", from {} to {}",
            time(&sp.first_local),
            time(&sp.last_local)
        ));
    }
    s.push_str(&format!(
        "; {} indicator(s) from {} IOC source(s); {} recovered file(s).",
        group(m.indicators),
        m.iocs.len(),
        m.recovered.len()
    ));
    b.push(Block::Para(s));
    b.push(table(
        "captures",
        &[
            "capture",
            "format",
            "bytes",
            "frames",
            "first frame",
            "last frame",
            "SHA-256",
        ],
        &[2, 3],
        m.captures
            .iter()
            .map(|c| {
                vec![
                    c.path.clone(),
                    c.format.clone(),
                    group(c.size),
                    group(c.frames),
                    c.first_local.as_deref().map(time).unwrap_or_default(),
                    c.last_local.as_deref().map(time).unwrap_or_default(),
                    c.sha256.clone().unwrap_or_else(|| "(not hashed)".into()),
                ]
            })
            .collect(),
    ));
    let mut files: Vec<Vec<String>> = Vec::new();
    for f in &m.iocs {
        files.push(vec![
            "IOC source".into(),
            f.path.clone(),
            group(f.size),
            f.sha256.clone(),
        ]);
    }
    for f in &m.recovered {
        files.push(vec![
            "recovered file".into(),
            f.path.clone(),
            group(f.size),
            f.sha256.clone(),
        ]);
    }
    b.push(table(
        "inputs",
        &["kind", "file", "bytes", "SHA-256"],
        &[2],
        files,
    ));

    // 2. Headline.
    b.push(Block::Heading(2, "2. Data sent to malicious hosts".into()));
    b.push(Block::Para(
        "Two kinds of number, kept apart. Record transmissions: every record sent, a record \
         sent twice counting twice — counted exactly where the content was decoded, \
         estimated from traffic volume as a range (low–point–high) where it stayed opaque; \
         low, point and high include the counted ones. Distinct records: recovered records \
         found byte for byte in the decoded traffic (confirmed by content), each counted \
         once; the transmissions they explain count every time one was seen. Transmissions \
         not explained are the point estimate minus the explained transmissions (per host, \
         never below zero)."
            .into(),
    ));
    let mut head = vec!["period", "first day", "last day"];
    head.extend(HEADLINE);
    b.push(table(
        "headline-periods",
        &head,
        &[3, 4, 5, 6, 7, 8, 9, 10],
        r.period_lines
            .iter()
            .map(|l| {
                let mut row = vec![l.label.clone(), l.start.clone(), l.end.clone()];
                row.extend(headline_cells(l));
                row
            })
            .collect(),
    ));
    if r.day_lines.is_empty() {
        b.push(Block::Para(
            "No flow to any indicator was found in the captures, so no day has traffic to a \
             malicious host."
                .into(),
        ));
    }
    let mut head = vec!["day"];
    head.extend(HEADLINE);
    b.push(table(
        "headline-days",
        &head,
        &[1, 2, 3, 4, 5, 6, 7, 8],
        r.day_lines
            .iter()
            .map(|l| {
                let mut row = vec![l.label.clone()];
                row.extend(headline_cells(l));
                row
            })
            .collect(),
    ));

    let cols = [
        "host",
        "stream_bytes",
        "records_low",
        "records_point",
        "records_high",
        "counted_records",
        "confirmed",
        "explained",
        "residual",
        "codec",
        "status",
    ];
    let titles = [
        "host",
        "bytes sent",
        "transmissions low",
        "transmissions point",
        "transmissions high",
        "counted (decoded)",
        "distinct records confirmed",
        "transmissions explained by confirmed",
        "transmissions not explained",
        "content (codec)",
        "status",
    ];
    let cells = |t: &crate::csv::Table, row: &[String], first: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = first.iter().map(|c| t.get(row, c).to_string()).collect();
        out.extend(cols.iter().enumerate().map(|(i, c)| {
            let v = t.get(row, c);
            match (i, v.parse::<u64>()) {
                (1..=8, Ok(n)) => group(n),
                _ if v.is_empty() => "–".to_string(),
                _ => v.to_string(),
            }
        }));
        out
    };
    for (t, first, id, caption) in [
        (
            &r.periods,
            "period",
            "headline-period-hosts",
            "Per period and host (hosts with traffic in the period; periods.csv has all):",
        ),
        (
            &r.daily,
            "day",
            "headline-hosts",
            "Per day and host (days with traffic only; daily.csv has every day):",
        ),
    ] {
        let rows: Vec<Vec<String>> = t
            .rows
            .iter()
            .filter(|row| t.get(row, "host") != "(all)")
            .filter(|row| t.u64(row, "stream_bytes") + t.u64(row, "gap_bytes") > 0)
            .map(|row| cells(t, row, &[first]))
            .collect();
        if !rows.is_empty() {
            b.push(Block::Para(caption.into()));
            let mut head = vec![first];
            head.extend(titles);
            b.push(table(id, &head, &[2, 3, 4, 5, 6, 7, 8, 9], rows));
        }
    }

    // 3. Charts.
    b.push(Block::Heading(2, "3. Charts".into()));
    if r.hosts.is_empty() {
        b.push(Block::Para(
            "No flow to any indicator was found in the captures: there is nothing to chart.".into(),
        ));
    } else {
        for i in 0..charts {
            b.push(Block::Chart(i));
        }
    }

    // 4. Hosts.
    b.push(Block::Heading(2, "4. Malicious hosts".into()));
    b.push(Block::Para(
        "How each host was identified: `ip` the server address is in an IOC network, `dns` a \
         DNS answer in the capture gave the address of an IOC name, `sni` the TLS ClientHello \
         named it, `host` an HTTP Host header named it, `connect` a proxy CONNECT targeted it; \
         each with the first frame (capture file#frame number) that carried the evidence. The \
         list of flows is ioc_flows.csv."
            .into(),
    ));
    b.push(table(
        "hosts",
        &[
            "host",
            "indicators",
            "identified via (first evidence)",
            "server addresses",
            "flows",
            "first flow",
            "last flow",
            "days with traffic",
        ],
        &[4, 7],
        r.hosts
            .iter()
            .map(|h| {
                vec![
                    h.host.clone(),
                    h.indicators.join(", "),
                    h.evidence
                        .iter()
                        .map(|(k, f)| format!("{k} ({f})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    h.ips.join(", "),
                    group(h.flows),
                    time(&h.first),
                    time(&h.last),
                    group(h.active_days),
                ]
            })
            .collect(),
    ));
    let mut head = vec!["host"];
    head.extend(LAYERS);
    b.push(table(
        "layers",
        &head,
        &(1..=LAYERS.len()).collect::<Vec<_>>(),
        r.hosts
            .iter()
            .map(|h| {
                let mut row = vec![h.host.clone()];
                row.extend(h.layers.iter().map(|v| group(*v)));
                row
            })
            .collect(),
    ));
    b.push(Block::Para(
        "Layers (client→server, whole capture): frames and frame_bytes on the wire, ip_bytes \
         from the IP header, payload_bytes of TCP/UDP, stream_bytes unique after reassembly, \
         retrans_bytes sent again, gap_bytes never captured (inside a stream), truncated_bytes \
         cut by the snapshot length, app_bytes of HTTP bodies and TLS application data, \
         control_bytes of beacons and other small requests, basis_bytes the bytes the \
         estimate divides."
            .into(),
    ));
    if let Some(sw) = &r.sweep {
        b.push(Block::Heading(
            3,
            "Servers on no IOC list that received recovered records".into(),
        ));
        if sw.rows.is_empty() {
            b.push(Block::Para(
                "The sweep searched every outbound flow: none outside the indicators carried a recovered key or row."
                    .into(),
            ));
        } else {
            let cols = [
                "server_ip",
                "server_name",
                "flows",
                "first_day",
                "last_day",
                "keys_seen",
                "rows_confirmed",
            ];
            b.push(table(
                "sweep",
                &cols,
                &[2, 5, 6],
                sw.rows
                    .iter()
                    .map(|row| cols.iter().map(|c| sw.get(row, c).to_string()).collect())
                    .collect(),
            ));
        }
    }

    // 5. Assumptions and data quality.
    b.push(Block::Heading(2, "5. Assumptions and data quality".into()));
    let mut items = Vec::new();
    match &m.model {
        Some(md) => {
            items.push(format!(
                "Record model: {} records in {} recovered file(s), format {}; size as stored \
                 mean {:.2} B, sd {:.2} B, min {} B, max {} B.",
                group(md.records),
                m.recovered.len(),
                md.format,
                md.mean,
                md.sd,
                md.min,
                md.max
            ));
            items.push(format!(
                "Compression ratios measured on the recovered bytes: r from {:.2} to {:.2} ({}).",
                md.r_min,
                md.r_max,
                md.ratios
                    .iter()
                    .map(|x| format!("{} {:.2}", x.codec, x.ratio))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            items.push(
                "Content that decoded to records (plain, base64, zlib, gzip) is counted record \
                 by record. Opaque content (encrypted, unknown codec, TLS, raw streams) is \
                 divided by the mean record size with r in [1, r_max], point r = √r_max: its \
                 range is wide on purpose. Deflate-family content that could not be decoded \
                 takes r in the deflate range."
                    .into(),
            );
            items.push(
                "low = B_low · r_min / μ_hi, high = B_high · r_max / μ_lo, with μ_lo, μ_hi the \
                 2.5/97.5 % quantiles of the mean size of n consecutive recovered records \
                 (moving-block bootstrap, fixed seed)."
                    .into(),
            );
        }
        None => items.push(
            "No recovered files were given: volumes only, no record estimates and nothing \
             confirmed."
                .into(),
        ),
    }
    if let Some(s) = m.rules.staged {
        items.push(format!(
            "Every high estimate is capped at {} staged records.",
            group(s)
        ));
    }
    items.push(format!(
        "Control traffic: HTTP requests and TLS records with fewer than {} content bytes and \
         no decoded record (beacons, keep-alives) are excluded from the basis.",
        m.rules.control_max
    ));
    items.push(format!(
        "TLS application data: plaintext = record length − {} bytes; up to {} bytes per record \
         may be inner protocol framing and are left out of the low basis.",
        m.rules.tls_overhead, m.rules.tls_framing
    ));
    b.push(Block::List(items));
    if !r.assumptions.is_empty() {
        b.push(Block::Para(
            "Per host over the whole capture: the content kinds found, the compression range \
             and mean record size applied to its opaque part, the control bytes left out, the \
             bytes divided, and the range of records that results — a wide range is the \
             effect of opaque content, a single number the effect of counted content."
                .into(),
        ));
        b.push(table(
            "assumptions",
            &[
                "host",
                "content (codec)",
                "r_min",
                "r_max",
                "mean record bytes",
                "control bytes (excluded)",
                "basis bytes",
                "records low–high (effect)",
            ],
            &[2, 3, 4, 5, 6, 7],
            r.assumptions
                .iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(i, c)| match (i, c.parse::<u64>()) {
                            (5 | 6, Ok(v)) => group(v),
                            _ if c.is_empty() => "–".into(),
                            _ => c.clone(),
                        })
                        .collect()
                })
                .collect(),
        ));
    }
    b.push(Block::Heading(3, "Data quality".into()));
    b.push(table(
        "quality-files",
        &[
            "capture",
            "frames",
            "bytes skipped behind damage",
            "frames cut by snaplen",
            "damage found",
        ],
        &[1, 2, 3, 4],
        m.captures
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    group(c.frames),
                    group(c.bytes_skipped),
                    group(c.truncated_frames),
                    group(c.errors.len() as u64),
                ]
            })
            .collect(),
    ));
    let errors: Vec<String> = m
        .captures
        .iter()
        .flat_map(|c| c.errors.iter().map(move |e| format!("{}: {e}", c.name)))
        .collect();
    if !errors.is_empty() {
        b.push(Block::List(errors));
    }
    b.push(table(
        "counters",
        &["counter", "value"],
        &[1],
        m.counters
            .iter()
            .map(|c| vec![c.name.clone(), group(c.value)])
            .collect(),
    ));

    // 6. Reproduce.
    b.push(Block::Heading(2, "6. How to reproduce".into()));
    b.push(Block::Para(
        "Every number above comes from daily.csv and periods.csv in this folder. To re-derive \
         them, run this command in this folder on input files with the SHA-256 digests of \
         section 1; manifest.json lists the settings, counters and the SHA-256 of every \
         output file to compare with."
            .into(),
    ));
    b.push(Block::Code(m.command.clone()));
    b
}
