//! `summary.json`: the headline of a run for automation (SOAR playbooks, tickets): per
//! period and per day the bytes sent and the record numbers, the hosts, the counters, the
//! damage found, the exit status and where every output is. Schema in docs/report.md; the
//! numbers are the report's, which are the tables'.

use crate::model::{Line, Report};
use serde_json::{json, Map, Value};

/// File name of the summary inside a run folder.
pub const SUMMARY: &str = "summary.json";

/// Version of the summary's layout (raised when a field changes meaning or goes away).
pub const SUMMARY_SCHEMA: u32 = 1;

fn line(l: &Line, period: bool) -> Value {
    let mut m = Map::new();
    if period {
        m.insert("period".into(), json!(l.label));
        m.insert("start".into(), json!(l.start));
        m.insert("end".into(), json!(l.end));
    } else {
        m.insert("day".into(), json!(l.label));
    }
    m.insert("bytes_sent".into(), json!(l.bytes));
    m.insert("transmissions_low".into(), json!(l.low));
    m.insert("transmissions_point".into(), json!(l.point));
    m.insert("transmissions_high".into(), json!(l.high));
    m.insert("counted".into(), json!(l.counted));
    m.insert("confirmed_distinct".into(), json!(l.confirmed));
    m.insert("explained".into(), json!(l.explained));
    m.insert("not_explained".into(), json!(l.residual));
    m.insert(
        "status".into(),
        json!(l
            .status
            .split(';')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()),
    );
    m.insert("reading".into(), json!(l.reading));
    Value::Object(m)
}

/// The summary of a rendered run folder. `exit_status`: 0 complete, 1 partial.
pub fn summary(r: &Report, exit_status: i32) -> Value {
    let m = &r.manifest;
    let errors: Vec<String> = m
        .captures
        .iter()
        .flat_map(|c| c.errors.iter().map(move |e| format!("{}: {e}", c.name)))
        .collect();
    let counters: Map<String, Value> = m
        .counters
        .iter()
        .map(|c| (c.name.clone(), json!(c.value)))
        .collect();
    let hosts: Vec<Value> = r
        .hosts
        .iter()
        .map(|h| {
            json!({
                "host": h.host,
                "indicators": h.indicators,
                "server_ips": h.ips,
                "identified_via": h.evidence.iter().map(|(k, f)| json!({"via": k, "frame": f})).collect::<Vec<_>>(),
                "flows": h.flows,
                "first_flow": h.first,
                "last_flow": h.last,
                "days_with_traffic": h.active_days,
            })
        })
        .collect();
    let mut outputs: Vec<String> = m.outputs.iter().map(|o| o.file.clone()).collect();
    for own in [crate::MANIFEST, SUMMARY] {
        if !outputs.iter().any(|o| o == own) {
            outputs.push(own.into());
        }
    }
    outputs.sort();
    let records = r.records.as_ref().map(|t| {
        let level = |l: &str| t.rows.iter().filter(|row| t.get(row, "level") == l).count();
        json!({
            "confirmed": level("confirmed"),
            "partial": level("partial"),
            "key_only": level("key_only"),
            "list": "confirmed_records.csv",
        })
    });
    json!({
        "schema": SUMMARY_SCHEMA,
        "tool": m.tool,
        "version": m.version,
        "exit_status": exit_status,
        "outcome": if exit_status == 0 { "complete" } else { "partial" },
        "time_zone": m.time_zone,
        "span": m.span.as_ref().map(|s| json!({"first_local": s.first_local, "last_local": s.last_local})),
        "captures": m.captures.iter().map(|c| json!({
            "file": c.name, "frames": c.frames, "bytes": c.size, "sha256": c.sha256,
            "damage": c.errors.len(),
        })).collect::<Vec<_>>(),
        "indicators": m.indicators,
        "recovered_records": m.model.as_ref().map(|md| md.records),
        "staged": m.rules.staged,
        "assumed": m.rules.assumed,
        "periods": r.period_lines.iter().map(|l| line(l, true)).collect::<Vec<_>>(),
        "days": r.day_lines.iter().map(|l| line(l, false)).collect::<Vec<_>>(),
        "hosts": hosts,
        "records": records,
        "errors": errors,
        "counters": counters,
        "outputs": outputs,
    })
}

/// Writes `DIR/summary.json` for a rendered run folder from its report, as
/// [`crate::render_dir`] returned it just before in this process (the manifest it wrote is
/// kept: only the summary is hashed), and lists it in the manifest; returns the summary (what
/// `analyze --json` prints).
pub fn write_summary_of(
    dir: &std::path::Path,
    r: &Report,
    exit_status: i32,
) -> crate::Result<Value> {
    let v = summary(r, exit_status);
    let p = dir.join(SUMMARY);
    let mut text = serde_json::to_string_pretty(&v).map_err(|e| crate::error::format(&p, e))?;
    text.push('\n');
    std::fs::write(&p, text).map_err(crate::error::io("writing", &p))?;
    // (Right after `render_dir`, which hashed every other output: only the summary is new.)
    let mut m = crate::Manifest::read(dir)?;
    m.rewrite(dir, &[SUMMARY.to_string()])?;
    Ok(v)
}
