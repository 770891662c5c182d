//! `exfilmeter inspect`: a capinfos-like summary of capture files, with hashes and
//! every piece of damage named by byte offset.

use crate::tz::{format_in, parse_zone};
use crate::Outcome;
use anyhow::Result;
use chrono_tz::Tz;
use exfilmeter_ingest::{
    expand_inputs, Decoder, FileId, FileSummary, HashAlgo, InputOrigin, Timestamp, Totals, Window,
};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Arguments of `inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Capture files, directories (read recursively) or glob patterns; `-` reads stdin.
    /// pcap and pcapng, optionally gzip- or zstd-compressed (recognised by content).
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<String>,
    /// Write one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also show times in this IANA time zone (e.g. Asia/Tokyo).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Digest of each input file: sha256 (default) or none (faster).
    #[arg(long, value_name = "ALGO", default_value = "sha256", value_parser = super::hash_parser())]
    pub hash: HashAlgo,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Summarise only frames from this time on: RFC 3339, or a local date/time in --tz (UTC
    /// without it). Frames outside are read and hashed, and counted as outside the window.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Summarise only frames before this time (a bare date: through the end of that local day).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// A file that could not be summarised at all (could not be opened).
struct Unopened {
    path: String,
    message: String,
}

/// Runs `inspect`.
pub fn run(args: Args) -> Result<Outcome> {
    let zone = args.tz.as_deref().map(parse_zone).transpose()?;
    let window = super::flows::window(
        args.since.as_deref(),
        args.until.as_deref(),
        zone.unwrap_or(chrono_tz::UTC),
    )?;
    let hash = args.hash;
    let inputs = expand_inputs(&args.paths)?;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let mut summaries = Vec::new();
    let mut unopened = Vec::new();
    let mut ignored = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let shown = input.path.display().to_string();
        let mut decoder = Decoder::default();
        let mut last = Instant::now();
        let report = |offset: u64| {
            if progress && last.elapsed() > Duration::from_millis(250) {
                last = Instant::now();
                eprint!("\rreading {shown}: {} MB", offset / 1_000_000);
            }
        };
        match FileSummary::read(
            &input.path,
            &shown,
            FileId(i as u32),
            hash,
            window,
            &mut decoder,
            report,
        ) {
            Ok(s) => {
                if input.origin == InputOrigin::Directory && s.not_a_capture() {
                    ignored.push(s);
                } else {
                    summaries.push(s);
                }
            }
            Err(e) => unopened.push(Unopened {
                path: shown,
                message: e.to_string(),
            }),
        }
        if progress {
            eprint!("\r\x1b[K");
        }
    }
    let mut totals = Totals::default();
    for s in &summaries {
        totals.add(s);
    }
    let partial = totals.files_with_errors > 0 || !unopened.is_empty();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let doc = json_document(&summaries, &totals, &unopened, &ignored, zone, window);
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        write_text(
            &mut out, &summaries, &totals, &unopened, &ignored, zone, window,
        )?;
    }
    out.flush()?;
    for s in &summaries {
        for e in &s.errors {
            eprintln!("exfilmeter: {}: {e}", s.path);
        }
    }
    for u in &unopened {
        eprintln!("exfilmeter: {}: {}", u.path, u.message);
    }
    Ok(if partial {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

fn ts_json(ts: Option<Timestamp>) -> Value {
    ts.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// The window and what it left out (only with `--since`/`--until`).
fn window_json(w: Window, before: u64, after: u64) -> Value {
    json!({
        "since": ts_json(w.since),
        "until": ts_json(w.until),
        "frames_before": before,
        "frames_after": after,
    })
}

fn file_json(s: &FileSummary, zone: Option<Tz>, window: Window) -> Value {
    let mut v = json!({
        "path": s.path,
        "format": s.format,
        "compression": s.compression,
        "byte_order": s.byte_orders,
        "sha256": s.sha256,
        "size": s.size,
        "packets": s.packets,
        "orig_bytes": s.orig_bytes,
        "captured_bytes": s.captured_bytes,
        "first_ts": ts_json(s.first_ts),
        "last_ts": ts_json(s.last_ts),
        "duration_ns": s.duration_ns(),
        "snaplen": s.snaplen,
        "link_types": s.link_types(),
        "interfaces": s.interfaces.iter().enumerate().map(|(i, f)| json!({
            "id": i,
            "section": f.section,
            "link_type": f.link.0,
            "link_name": f.link.name(),
            "snaplen": f.snaplen,
            "ts_units_per_sec": f.ts_units_per_sec,
            "ts_offset_secs": f.ts_offset_secs,
            "name": f.name,
            "packets": f.packets,
        })).collect::<Vec<_>>(),
        "truncated": s.truncated,
        "decoded": {
            "packets": s.decode.packets,
            "ipv4": s.decode.ipv4,
            "ipv6": s.decode.ipv6,
            "tcp": s.decode.tcp,
            "udp": s.decode.udp,
            "icmp": s.decode.icmp,
            "other_ip": s.decode.other_ip,
            "tunnelled": s.decode.tunnelled,
            "vlan_tagged": s.decode.vlan_tagged,
            "fragments": s.defrag.fragments,
            "reassembled_datagrams": s.defrag.reassembled,
        },
        "skipped": counts(&s.skipped),
        "anomalies": counts(&s.anomalies),
        "blocks": counts(&s.blocks),
        "bytes_skipped_after_damage": s.bytes_skipped,
        "errors": s.errors.iter().map(|e| json!({
            "offset": e.offset,
            "kind": e.kind.as_str(),
            "message": e.message,
        })).collect::<Vec<_>>(),
        "errors_suppressed": s.errors_suppressed,
    });
    if let (false, Value::Object(m)) = (window.is_open(), &mut v) {
        m.insert(
            "window".into(),
            window_json(window, s.before_window, s.after_window),
        );
    }
    if let (Some(z), Value::Object(m)) = (zone, &mut v) {
        m.insert(
            "first_local".into(),
            json!(s.first_ts.map(|t| format_in(t, z))),
        );
        m.insert(
            "last_local".into(),
            json!(s.last_ts.map(|t| format_in(t, z))),
        );
    }
    v
}

fn json_document(
    files: &[FileSummary],
    t: &Totals,
    unopened: &[Unopened],
    ignored: &[FileSummary],
    zone: Option<Tz>,
    window: Window,
) -> Value {
    let mut total = json!({
        "files": t.files,
        "files_with_errors": t.files_with_errors,
        "size": t.size,
        "packets": t.packets,
        "orig_bytes": t.orig_bytes,
        "captured_bytes": t.captured_bytes,
        "first_ts": ts_json(t.first_ts),
        "last_ts": ts_json(t.last_ts),
        "duration_ns": t.duration_ns(),
        "link_types": t.link_types,
        "truncated": t.truncated,
        "decoded_packets": t.decoded_packets,
        "skipped": counts(&t.skipped),
        "anomalies": counts(&t.anomalies),
        "errors": t.errors,
    });
    if let (false, Value::Object(m)) = (window.is_open(), &mut total) {
        m.insert(
            "window".into(),
            window_json(window, t.before_window, t.after_window),
        );
    }
    if let (Some(z), Value::Object(m)) = (zone, &mut total) {
        m.insert("time_zone".into(), json!(z.name()));
        m.insert(
            "first_local".into(),
            json!(t.first_ts.map(|x| format_in(x, z))),
        );
        m.insert(
            "last_local".into(),
            json!(t.last_ts.map(|x| format_in(x, z))),
        );
    }
    json!({
        "files": files.iter().map(|s| file_json(s, zone, window)).collect::<Vec<_>>(),
        "total": total,
        "unreadable": unopened.iter().map(|u| json!({"path": u.path, "message": u.message})).collect::<Vec<_>>(),
        "ignored": ignored.iter().map(|s| json!({
            "path": s.path,
            "reason": s.errors.first().map(|e| e.message.clone()),
        })).collect::<Vec<_>>(),
    })
}

fn duration_text(ns: Option<i64>) -> String {
    match ns {
        None => "n/a".into(),
        Some(ns) => format!(
            "{}.{:09} s",
            ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000)
        ),
    }
}

fn time_text(ts: Option<Timestamp>, zone: Option<Tz>) -> String {
    match (ts, zone) {
        (None, _) => "n/a".into(),
        (Some(t), None) => t.to_rfc3339(),
        (Some(t), Some(z)) => format!("{}  ({} {})", t.to_rfc3339(), z.name(), format_in(t, z)),
    }
}

fn write_counts(
    out: &mut impl Write,
    label: &str,
    m: &std::collections::BTreeMap<String, u64>,
) -> std::io::Result<()> {
    if m.is_empty() {
        return writeln!(out, "  {label:<13}none");
    }
    let mut first = true;
    for (k, v) in m {
        let l = if first { label } else { "" };
        writeln!(out, "  {l:<13}{v:>12}  {k}")?;
        first = false;
    }
    Ok(())
}

/// The window line (only with `--since`/`--until`).
fn write_window(
    out: &mut impl Write,
    w: Window,
    before: u64,
    after: u64,
    zone: Option<Tz>,
) -> std::io::Result<()> {
    if w.is_open() {
        return Ok(());
    }
    let edge = |t: Option<Timestamp>| t.map_or("open".to_string(), |t| time_text(Some(t), zone));
    writeln!(
        out,
        "  window       from {} to {} (exclusive): {before} frames before and {after} at or after it not summarised",
        edge(w.since),
        edge(w.until)
    )
}

fn write_text(
    out: &mut impl Write,
    files: &[FileSummary],
    t: &Totals,
    unopened: &[Unopened],
    ignored: &[FileSummary],
    zone: Option<Tz>,
    window: Window,
) -> std::io::Result<()> {
    for s in files {
        writeln!(out, "{}", s.path)?;
        let orders = if s.byte_orders.is_empty() {
            String::new()
        } else {
            format!(", {}-endian", s.byte_orders.join("/"))
        };
        writeln!(
            out,
            "  format       {}{}, compression {}",
            s.format, orders, s.compression
        )?;
        writeln!(
            out,
            "  sha256       {}",
            s.sha256.as_deref().unwrap_or("not computed")
        )?;
        writeln!(
            out,
            "  size         {}",
            s.size.map_or("unknown".into(), |x| format!("{x} bytes"))
        )?;
        for (i, f) in s.interfaces.iter().enumerate() {
            let label = if i == 0 { "interfaces" } else { "" };
            writeln!(
                out,
                "  {label:<13}#{i} {} snaplen {} ts 1/{} s{} — {} packets",
                f.link,
                f.snaplen,
                f.ts_units_per_sec,
                if f.ts_offset_secs != 0 {
                    format!(" offset {} s", f.ts_offset_secs)
                } else {
                    String::new()
                },
                f.packets
            )?;
        }
        writeln!(
            out,
            "  packets      {} (decoded as IP {}, truncated by snaplen {})",
            s.packets, s.decode.packets, s.truncated
        )?;
        writeln!(
            out,
            "  bytes        {} on the wire, {} captured",
            s.orig_bytes, s.captured_bytes
        )?;
        writeln!(out, "  first        {}", time_text(s.first_ts, zone))?;
        writeln!(out, "  last         {}", time_text(s.last_ts, zone))?;
        writeln!(out, "  duration     {}", duration_text(s.duration_ns()))?;
        write_window(out, window, s.before_window, s.after_window, zone)?;
        writeln!(
            out,
            "  protocols    ipv4 {} ipv6 {} tcp {} udp {} icmp {} other {} (tunnelled {}, vlan-tagged {}, fragments {}, reassembled {})",
            s.decode.ipv4,
            s.decode.ipv6,
            s.decode.tcp,
            s.decode.udp,
            s.decode.icmp,
            s.decode.other_ip,
            s.decode.tunnelled,
            s.decode.vlan_tagged,
            s.defrag.fragments,
            s.defrag.reassembled
        )?;
        write_counts(out, "skipped", &s.skipped)?;
        write_counts(out, "anomalies", &s.anomalies)?;
        if s.errors.is_empty() {
            writeln!(out, "  errors       none")?;
        } else {
            for (i, e) in s.errors.iter().enumerate() {
                let l = if i == 0 { "errors" } else { "" };
                writeln!(out, "  {l:<13}{e}")?;
            }
            if s.errors_suppressed > 0 {
                writeln!(out, "               … and {} more", s.errors_suppressed)?;
            }
            if s.bytes_skipped > 0 {
                writeln!(
                    out,
                    "               {} bytes skipped while resynchronising",
                    s.bytes_skipped
                )?;
            }
        }
        writeln!(out)?;
    }
    for u in unopened {
        writeln!(out, "{}\n  unreadable   {}\n", u.path, u.message)?;
    }
    for s in ignored {
        writeln!(
            out,
            "{}\n  ignored      not a capture ({})\n",
            s.path,
            s.errors.first().map_or("", |e| e.message.as_str())
        )?;
    }
    writeln!(
        out,
        "TOTAL ({} files, {} with errors)",
        t.files, t.files_with_errors
    )?;
    writeln!(out, "  size         {} bytes", t.size)?;
    writeln!(
        out,
        "  packets      {} (decoded as IP {}, truncated {})",
        t.packets, t.decoded_packets, t.truncated
    )?;
    writeln!(
        out,
        "  bytes        {} on the wire, {} captured",
        t.orig_bytes, t.captured_bytes
    )?;
    writeln!(out, "  first        {}", time_text(t.first_ts, zone))?;
    writeln!(out, "  last         {}", time_text(t.last_ts, zone))?;
    writeln!(out, "  duration     {}", duration_text(t.duration_ns()))?;
    write_window(out, window, t.before_window, t.after_window, zone)?;
    writeln!(out, "  link types   {}", t.link_types.join(", "))?;
    write_counts(out, "skipped", &t.skipped)?;
    write_counts(out, "anomalies", &t.anomalies)?;
    writeln!(out, "  errors       {}", t.errors)?;
    Ok(())
}
