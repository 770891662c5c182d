//! The report as a list of blocks (headings, paragraphs, tables, charts): built once from the
//! `Report`, then laid out as HTML and as Markdown, so both carry exactly the same text and
//! numbers.

use crate::fmt::{bytes, group, opt, time};
use crate::lang::Lang;
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

/// What the report does when more hosts matched than it names one by one.
fn top_hosts_note(r: &Report, lg: Lang) -> String {
    let shown = r.hosts.len().saturating_sub(1);
    let all = shown + r.other_hosts.len();
    match lg {
        Lang::En => format!(
            "{} hosts received traffic: this report names the {shown} that received the most \
             bytes (stream bytes over the whole capture) and sums the other {} in one row, \
             “{}”, per day and per period (a record confirmed at two of those hosts counts \
             twice in that row). Every host is in daily.csv, periods.csv, ioc_flows.csv and \
             their Parquet versions.",
            group(all as u64),
            group(r.other_hosts.len() as u64),
            crate::model::other_label(lg, r.other_hosts.len())
        ),
        Lang::Ja => format!(
            "通信を受けたホストは {} 件です。この報告書では受信バイト数（キャプチャ全体のストリーム\
             バイト数）の多い {shown} 件を個別に示し、残りの {} 件は日ごと・期間ごとに1行「{}」に\
             合計しています（その中の2つのホストで確認された記録はその行で2回数えます）。すべての\
             ホストは daily.csv、periods.csv、ioc_flows.csv とその Parquet 版にあります。",
            group(all as u64),
            group(r.other_hosts.len() as u64),
            crate::model::other_label(lg, r.other_hosts.len())
        ),
    }
}

/// Adds `row` into the summed row `sum` of the "other hosts": the `summed` (byte and record)
/// columns (cells left empty stay empty until a value comes), the statuses joined; the codec
/// is left blank (the hosts differ).
fn add_row(t: &crate::csv::Table, sum: &mut [String], row: &[String], summed: &[&str]) {
    for &c in summed {
        let (Some(i), v) = (t.col(c), t.get(row, c)) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let have: u64 = sum[i].parse().unwrap_or(0);
        sum[i] = (have + v.parse::<u64>().unwrap_or(0)).to_string();
    }
    if let Some(i) = t.col("status") {
        let v = t.get(row, "status");
        if !v.is_empty() && !sum[i].split(';').any(|s| s == v) {
            if !sum[i].is_empty() {
                sum[i].push(';');
            }
            sum[i].push_str(v);
        }
    }
}

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

/// The publication table: the headline per period in the shape responders publish (the
/// model case's table), one column per period.
fn publication(r: &Report, lg: Lang, b: &mut Vec<Block>) {
    let rows = crate::model::publication_rows(r);
    if rows.is_empty() {
        return;
    }
    b.push(Block::Heading(3, "Publication table".into()));
    b.push(Block::Para(match lg {
        Lang::En => "The headline per period as it is published: the records that may have \
                     been taken, the record transmissions estimated from traffic volume (a range, \
                     with the point estimate), and of them the records confirmed because the \
                     captured traffic matched the contents of the recovered files (each person \
                     once). publication.csv holds the same numbers."
            .into(),
        Lang::Ja => "公表する形の期間別の集計です。持ち出された可能性のある件数、通信量から推定した送\
                     信件数（範囲と推定値）、そのうち通信内容が回収ファイルの内容と一致したことで確認で\
                     きた件数（1人1件）を示します。同じ数値は publication.csv にあります。"
            .into(),
    }));
    let mut head = vec![String::new()];
    head.extend(rows.iter().map(|p| p.period.clone()));
    let taken_label = match rows.first().map(|p| p.taken_source) {
        Some("staged") => "Records possibly taken (--staged)",
        _ => "Records possibly taken (staged in the recovered files)",
    };
    let range = |p: &crate::model::PublicationRow| match (p.low, p.point, p.high) {
        (Some(lo), Some(pt), Some(hi)) => match lg {
            Lang::En => format!(
                "at most {} (point {}, at least {})",
                group(hi),
                group(pt),
                group(lo)
            ),
            Lang::Ja => format!(
                "最大 {} 件（推定値 {} 件、最小 {} 件）",
                group(hi),
                group(pt),
                group(lo)
            ),
        },
        _ => "–".into(),
    };
    let count = |v: Option<u64>| match (v, lg) {
        (Some(n), Lang::Ja) => format!("{} 件", group(n)),
        (v, _) => opt(v),
    };
    let mut table_rows: Vec<Vec<String>> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&crate::model::PublicationRow) -> String| {
        let mut v = vec![lg.dynamic(label)];
        v.extend(rows.iter().map(f));
        table_rows.push(v);
    };
    row("period", &|p| {
        if p.start == p.end {
            lg.day(&p.start)
        } else {
            format!("{} – {}", lg.day(&p.start), lg.day(&p.end))
        }
    });
    row(taken_label, &|p| count(p.taken));
    row("Record transmissions estimated from traffic volume", &|p| {
        range(p)
    });
    row("of which counted in the decoded content", &|p| {
        count(p.counted)
    });
    row("of which confirmed by content (distinct records)", &|p| {
        count(p.confirmed)
    });
    let n = head.len();
    b.push(Block::Table {
        id: "publication".into(),
        head,
        rows: table_rows,
        numeric: (0..n).map(|i| i > 0).collect(),
    });
}

/// Whose records: how many distinct records were confirmed, and where the notification list
/// is; a short list of the first records by key (no other personal data).
fn whose(r: &Report, lg: Lang, b: &mut Vec<Block>) {
    let Some(t) = &r.records else {
        return;
    };
    let level = |l: &str| t.rows.iter().filter(|row| t.get(row, "level") == l).count() as u64;
    let (c, p, k) = (level("confirmed"), level("partial"), level("key_only"));
    b.push(Block::Heading(
        3,
        "Whose records: the notification list".into(),
    ));
    b.push(Block::Para(match lg {
        Lang::En => format!(
            "{} distinct records were confirmed by content, {} more seen cut (partial) and {} by \
             their key only. confirmed_records.csv is the notification list: one line per \
             record with its key, the recovered file and line (`file`, `row`: the line number, \
             header line included, so the record is read straight from the file), its level, \
             the first day and host it was seen, and the frames that carried it. This report \
             shows keys and lines only, no other personal data, unless the run asked for the \
             records' contents (--report-rows).",
            group(c),
            group(p),
            group(k)
        ),
        Lang::Ja => format!(
            "ファイル内容との一致により確認できたのは {} 件（重複なし）で、ほかに途中で切れた形で見\
             つかったもの（部分一致）が {} 件、キーのみ見つかったものが {} 件あります。通知対象の\
             一覧は confirmed_records.csv です。1件につき1行で、キー、回収ファイルと行番号（`file`、\
             `row`：見出し行を含む行番号。ファイルから直接そのレコードを読めます）、確認レベル、最初\
             に見つかった日とホスト、運んだフレームを示します。この報告書にはキーと行番号のみを載せ、\
             その他の個人情報は載せません（--report-rows を指定した場合を除く）。",
            group(c),
            group(p),
            group(k)
        ),
    }));
    const SHOWN: usize = 20;
    let with_rows = r.manifest.report_rows;
    let mut lines = RecoveredLines::new(&r.manifest);
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .filter(|row| t.get(row, "level") == "confirmed")
        .take(SHOWN)
        .map(|row| {
            let mut v = vec![
                t.get(row, "key").to_string(),
                t.get(row, "file").to_string(),
                t.get(row, "row").to_string(),
                lg.day(t.get(row, "day")),
                t.get(row, "host").to_string(),
            ];
            if with_rows {
                v.push(lines.line(t.get(row, "file"), t.get(row, "row"), lg));
            }
            v
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let mut head = vec!["key", "file", "line", "first seen", "host"];
    if with_rows {
        head.push("record");
    }
    b.push(table("records", &head, &[2], rows));
    if c as usize > SHOWN {
        b.push(Block::Para(match lg {
            Lang::En => format!(
                "The first {SHOWN} of {} confirmed records; confirmed_records.csv has all.",
                group(c)
            ),
            Lang::Ja => format!(
                "確認できた {} 件のうち最初の {SHOWN} 件です。全件は confirmed_records.csv にあります。",
                group(c)
            ),
        }));
    }
}

/// Lines of the recovered files, read for `--report-rows` (the files as the run named
/// them; an archive's lines are in its decoded content, not shown).
struct RecoveredLines {
    files: Vec<(String, String)>,
    cache: std::collections::BTreeMap<String, Option<Vec<String>>>,
}

impl RecoveredLines {
    fn new(m: &crate::Manifest) -> Self {
        let files = m
            .recovered
            .iter()
            .map(|f| {
                let name = std::path::Path::new(&f.path)
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().to_string());
                (name, f.path.clone())
            })
            .collect();
        RecoveredLines {
            files,
            cache: Default::default(),
        }
    }

    fn line(&mut self, file: &str, row: &str, lg: Lang) -> String {
        let missing = match lg {
            Lang::En => "(not readable here: see the recovered file)",
            Lang::Ja => "（ここでは読めません：回収ファイルを参照）",
        };
        let Some(path) = self
            .files
            .iter()
            .find(|(n, _)| n == file)
            .map(|x| x.1.clone())
        else {
            return missing.into();
        };
        let lines = self.cache.entry(path.clone()).or_insert_with(|| {
            let bytes = std::fs::read(&path).ok()?;
            let archive = bytes.starts_with(&[0x1f, 0x8b]) || bytes.starts_with(b"PK\x03\x04");
            (!archive).then(|| {
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
        });
        let n: usize = row.parse().unwrap_or(0);
        lines
            .as_ref()
            .and_then(|l| n.checked_sub(1).and_then(|i| l.get(i)))
            .cloned()
            .unwrap_or_else(|| missing.into())
    }
}

/// The assumption item of a recovered file's header decision.
fn header_item(h: &crate::manifest::HeaderLine, lg: Lang) -> String {
    let how = match (h.setting.as_str(), lg) {
        ("auto", Lang::En) => "decided by --header auto from the column types",
        ("auto", Lang::Ja) => "--header auto により列の型から判定",
        (_, Lang::En) => "as given by --header",
        (_, Lang::Ja) => "--header の指定による",
    };
    match (h.header, lg) {
        (true, Lang::En) => format!(
            "{}: its first line is a header ({how}), not counted or matched as a record.",
            h.file
        ),
        (false, Lang::En) => format!("{}: no header line ({how}).", h.file),
        (true, Lang::Ja) => format!(
            "{}：1行目は見出し行（{how}）で、レコードとして数えず照合もしません。",
            h.file
        ),
        (false, Lang::Ja) => format!("{}：見出し行なし（{how}）。", h.file),
    }
}

/// Builds the report's blocks, in the manifest's language.
pub fn blocks(r: &Report, reproducible: bool, charts: usize) -> Vec<Block> {
    let lg = r.manifest.lang;
    let mut b = blocks_of(r, reproducible, charts, lg);
    // Fixed texts and table heads, translated where the language has them.
    for x in &mut b {
        match x {
            Block::Heading(_, t) | Block::Para(t) => *t = lg.dynamic(t),
            // (The publication table's head names the periods: data, not labels.)
            Block::Table { id, head, .. } if id != "publication" => {
                for h in head.iter_mut() {
                    *h = lg.dynamic(h);
                }
            }
            _ => {}
        }
    }
    b
}

fn blocks_of(r: &Report, reproducible: bool, charts: usize, lg: Lang) -> Vec<Block> {
    let m = &r.manifest;
    let mut b = Vec::new();
    b.push(Block::Heading(1, "Exfiltration report".into()));
    b.push(Block::Para(match lg {
        Lang::En => format!(
            "{} {} · time zone {} · every day in this report is a local calendar day in that \
             zone; “bytes sent” are the unique client→server bytes of the flows attributed to \
             an indicator (TCP stream bytes after reassembly, UDP payload).",
            m.tool, m.version, m.time_zone
        ),
        Lang::Ja => format!(
            "{} {} · タイムゾーン {} · この報告書の日付はすべてこのタイムゾーンの暦日です。「送信\
             バイト数」は、IOCに該当した通信のクライアント→サーバー方向の重複のないバイト数\
             （TCP は再構成後のストリーム、UDP はペイロード）です。",
            m.tool, m.version, m.time_zone
        ),
    }));
    if !reproducible {
        if let Some(g) = &m.generated_at {
            b.push(Block::Para(match lg {
                Lang::En => format!("Generated at: {g} (UTC)."),
                Lang::Ja => format!("作成日時：{g}（UTC）"),
            }));
        }
    }

    // 1. The case.
    b.push(Block::Heading(2, "1. The case".into()));
    let total: u64 = m.captures.iter().map(|c| c.size).sum();
    let frames: u64 = m.captures.iter().map(|c| c.frames).sum();
    let span = m.span.as_ref().map(|sp| {
        (
            lg.time(&time(&sp.first_local)),
            lg.time(&time(&sp.last_local)),
        )
    });
    let s = match lg {
        Lang::En => {
            let mut s = format!(
                "{} capture file(s), {} ({} bytes), {} frames",
                m.captures.len(),
                bytes(total),
                group(total),
                group(frames)
            );
            if let Some((a, z)) = &span {
                s.push_str(&format!(", from {a} to {z}"));
            }
            s.push_str(&format!(
                "; {} indicator(s) from {} IOC source(s); {} recovered file(s).",
                group(m.indicators),
                m.iocs.len(),
                m.recovered.len()
            ));
            s
        }
        Lang::Ja => {
            let mut s = format!(
                "キャプチャファイル {} 個、{}（{} バイト）、{} フレーム",
                m.captures.len(),
                bytes(total),
                group(total),
                group(frames)
            );
            if let Some((a, z)) = &span {
                s.push_str(&format!("、{a}から{z}まで"));
            }
            s.push_str(&format!(
                "。IOCファイル {} 個から IOC {} 件。回収ファイル {} 個。",
                m.iocs.len(),
                group(m.indicators),
                m.recovered.len()
            ));
            s
        }
    };
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
                    c.first_local
                        .as_deref()
                        .map(|t| lg.time(&time(t)))
                        .unwrap_or_default(),
                    c.last_local
                        .as_deref()
                        .map(|t| lg.time(&time(t)))
                        .unwrap_or_default(),
                    c.sha256.clone().unwrap_or_else(|| match lg {
                        Lang::En => "(not hashed)".into(),
                        Lang::Ja => "（ハッシュなし）".into(),
                    }),
                ]
            })
            .collect(),
    ));
    let mut files: Vec<Vec<String>> = Vec::new();
    for f in &m.iocs {
        files.push(vec![
            lg.t("IOC source").into(),
            f.path.clone(),
            group(f.size),
            f.sha256.clone(),
        ]);
    }
    for f in &m.recovered {
        files.push(vec![
            lg.t("recovered file").into(),
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
                let mut row = vec![l.label.clone(), lg.day(&l.start), lg.day(&l.end)];
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
                let mut row = vec![lg.day(&l.label)];
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
        let mut out: Vec<String> = first
            .iter()
            .map(|c| {
                let v = t.get(row, c);
                if *c == "day" {
                    lg.day(v)
                } else {
                    v.to_string()
                }
            })
            .collect();
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
    if !r.other_hosts.is_empty() {
        b.push(Block::Para(top_hosts_note(r, lg)));
    }
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
        let active = |row: &&Vec<String>| {
            t.get(row, "host") != "(all)"
                && t.u64(row, "stream_bytes") + t.u64(row, "gap_bytes") > 0
        };
        let rows: Vec<Vec<String>> = if r.other_hosts.is_empty() {
            t.rows
                .iter()
                .filter(active)
                .map(|row| cells(t, row, &[first]))
                .collect()
        } else {
            // The top hosts one by one, then one row per day/period summing the others.
            let hidden: std::collections::HashSet<&str> =
                r.other_hosts.iter().map(String::as_str).collect();
            let label = crate::model::other_label(lg, r.other_hosts.len());
            let mut out = Vec::new();
            let mut pending: Option<Vec<String>> = None;
            for row in t.rows.iter().filter(active) {
                let key = t.get(row, first);
                if pending.as_ref().is_some_and(|p| t.get(p, first) != key) {
                    if let Some(p) = pending.take() {
                        out.push(cells(t, &p, &[first]));
                    }
                }
                if !hidden.contains(t.get(row, "host")) {
                    out.push(cells(t, row, &[first]));
                    continue;
                }
                let sum = pending.get_or_insert_with(|| {
                    let mut p = vec![String::new(); t.header.len()];
                    if let (Some(i), Some(h)) = (t.col(first), t.col("host")) {
                        p[i] = key.to_string();
                        p[h] = label.clone();
                    }
                    p
                });
                // The table's numeric columns: bytes sent to transmissions not explained.
                add_row(t, sum, row, &cols[1..=8]);
            }
            if let Some(p) = pending.take() {
                out.push(cells(t, &p, &[first]));
            }
            out
        };
        if !rows.is_empty() {
            b.push(Block::Para(caption.into()));
            let mut head = vec![first];
            head.extend(titles);
            b.push(table(id, &head, &[2, 3, 4, 5, 6, 7, 8, 9], rows));
        }
    }

    publication(r, lg, &mut b);
    whose(r, lg, &mut b);

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
         named it, `host` an HTTP Host header named it, `connect` a proxy CONNECT targeted it, \
         `tunnel` the flow travelled in a tunnel (GRE, VXLAN, Teredo …) with an end in an IOC \
         network; each with the first frame (capture file#frame number) that carried the evidence. The \
         list of flows is ioc_flows.csv."
            .into(),
    ));
    if !r.other_hosts.is_empty() {
        b.push(Block::Para(top_hosts_note(r, lg)));
    }
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
                    lg.time(&time(&h.first)),
                    lg.time(&time(&h.last)),
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
            let ratios = md
                .ratios
                .iter()
                .map(|x| format!("{} {:.2}", x.codec, x.ratio))
                .collect::<Vec<_>>()
                .join(", ");
            items.push(match lg {
                Lang::En => format!(
                    "Record model: {} records in {} recovered file(s), format {}; size as \
                     stored mean {:.2} B, sd {:.2} B, min {} B, max {} B.",
                    group(md.records),
                    m.recovered.len(),
                    md.format,
                    md.mean,
                    md.sd,
                    md.min,
                    md.max
                ),
                Lang::Ja => format!(
                    "レコードモデル：回収ファイル {} 個の {} 件、形式 {}。保存時のサイズは平均 \
                     {:.2} バイト、標準偏差 {:.2} バイト、最小 {} バイト、最大 {} バイト。",
                    m.recovered.len(),
                    group(md.records),
                    md.format,
                    md.mean,
                    md.sd,
                    md.min,
                    md.max
                ),
            });
            items.push(match lg {
                Lang::En => format!(
                    "Compression ratios measured on the recovered bytes: r from {:.2} to {:.2} \
                     ({ratios}).",
                    md.r_min, md.r_max
                ),
                Lang::Ja => format!(
                    "回収ファイルで測定した圧縮率：r は {:.2} から {:.2}（{ratios}）。",
                    md.r_min, md.r_max
                ),
            });
            for h in &md.headers {
                items.push(header_item(h, lg));
            }
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
        items.push(match lg {
            Lang::En => format!(
                "Every high estimate is capped at {} staged records.",
                group(s)
            ),
            Lang::Ja => format!(
                "すべての上限は、格納されていた件数 {} 件で頭打ちにしています。",
                group(s)
            ),
        });
    }
    for a in &m.rules.assumed {
        let (host, codec) = a.split_once('=').unwrap_or((a.as_str(), ""));
        items.push(match lg {
            Lang::En => format!(
                "Analyst assumption (--assume {a}): the opaque content sent to {host} (TLS, \
                 unknown codec) is taken as packed {codec}, instead of any ratio in [1, r_max]; \
                 its range is as narrow as that knowledge, and as good."
            ),
            Lang::Ja => format!(
                "分析者による前提（--assume {a}）：{host} へ送られた復号できない内容（TLS、不明な形\
                 式）は、[1, r_max] の任意の圧縮率ではなく {codec} で格納されたものとして扱います。\
                 範囲の狭さも正しさも、この知見に依存します。"
            ),
        });
    }
    items.push(match lg {
        Lang::En => format!(
            "Control traffic: HTTP requests and TLS records with fewer than {} content bytes \
             and no decoded record (beacons, keep-alives) are excluded from the basis.",
            m.rules.control_max
        ),
        Lang::Ja => format!(
            "制御通信：内容が {} バイト未満でレコードを含まない HTTP 要求と TLS レコード（ビーコン、\
             キープアライブ）は推定の基礎から除外します。",
            m.rules.control_max
        ),
    });
    items.push(match lg {
        Lang::En => format!(
            "TLS application data: plaintext = record length − {} bytes; up to {} bytes per \
             record may be inner protocol framing and are left out of the low basis.",
            m.rules.tls_overhead, m.rules.tls_framing
        ),
        Lang::Ja => format!(
            "TLS アプリケーションデータ：平文 = レコード長 − {} バイト。1レコードあたり最大 {} \
             バイトは内側のプロトコルの枠組みである可能性があるため、下限の基礎から除きます。",
            m.rules.tls_overhead, m.rules.tls_framing
        ),
    });
    let items: Vec<String> = items.into_iter().map(|i| lg.dynamic(&i)).collect();
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
    if !m.unreadable.is_empty() {
        b.push(Block::Para(
            "Capture files that could not be opened, left out of every number in this report:"
                .into(),
        ));
        b.push(table(
            "unreadable",
            &["capture", "why it could not be opened"],
            &[],
            m.unreadable
                .iter()
                .map(|u| vec![u.path.clone(), u.problem.clone()])
                .collect(),
        ));
    }
    b.push(table(
        "counters",
        &["counter", "value"],
        &[1],
        m.counters
            .iter()
            .map(|c| vec![lg.dynamic(&c.name), group(c.value)])
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
