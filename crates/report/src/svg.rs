//! Hand-written SVG charts from the report's own numbers: fixed sizes, fixed number
//! formatting, no scripts, no fonts fetched (the system sans-serif), one `<title>` per mark so
//! a reader hovering a bar sees its exact value.

use crate::fmt::{bytes, esc, group};
use crate::model::Report;
use std::fmt::Write as _;

/// Colour-blind-safe palette (Okabe–Ito), one colour per host in name order.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

const W: f64 = 880.0;
const H: f64 = 320.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 64.0;

/// A chart: file name under `charts/`, caption, SVG text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// `charts/<file>`.
    pub file: String,
    /// Caption.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// A "nice" axis maximum and step (1, 2 or 5 × 10^k) covering `max` in about five steps.
pub fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn open(title: &str, out: &mut String) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" \
         height=\"{H}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\
         <title>{}</title><rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>",
        esc(title)
    );
}

fn y_axis(
    out: &mut String,
    top_y: f64,
    max: f64,
    step: f64,
    label: &dyn Fn(f64) -> String,
    name: &str,
) {
    let plot_h = H - top_y - BOTTOM;
    let mut v = 0.0;
    while v <= max + step / 2.0 {
        let y = top_y + plot_h - v / max * plot_h;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&label(v))
        );
        v += step;
    }
    let _ = write!(
        out,
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        top_y + plot_h / 2.0,
        top_y + plot_h / 2.0,
        esc(name)
    );
}

fn x_labels(out: &mut String, days: &[String], slot: f64) {
    let every = days.len().div_ceil(16).max(1);
    for (i, d) in days.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + slot * (i as f64 + 0.5);
        let y = H - BOTTOM + 14.0;
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"end\" transform=\"rotate(-35 {x:.1} {y:.1})\">{}</text>",
            esc(d)
        );
    }
}

/// Draws the legend in as many rows as it needs; returns where the plot area starts.
fn legend(out: &mut String, items: &[(String, &str)]) -> f64 {
    let mut x = LEFT;
    let mut y = 8.0;
    for (name, colour) in items {
        let w = 24.0 + 6.5 * name.chars().count() as f64;
        if x > LEFT && x + w > W - RIGHT {
            x = LEFT;
            y += 14.0;
        }
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 14.0,
            y + 9.0,
            esc(name)
        );
        x += w;
    }
    TOP + (y - 8.0)
}

/// The colour of host entry `i`: the palette, grey for the "other hosts" entry.
fn host_colour(r: &Report, i: usize) -> &'static str {
    if !r.other_hosts.is_empty() && i + 1 == r.hosts.len() {
        "#999999"
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

/// Bytes sent per day, stacked by malicious host.
pub fn bytes_per_day(r: &Report) -> Chart {
    let title = r
        .manifest
        .lang
        .t("Bytes sent to malicious hosts per day (client→server stream bytes, stacked by host)");
    let mut o = String::new();
    open(title, &mut o);
    let days: Vec<String> = r.bytes_by_day.iter().map(|(d, _)| d.clone()).collect();
    let max = r
        .bytes_by_day
        .iter()
        .map(|(_, v)| v.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let items: Vec<(String, &str)> = r
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.host.clone(), host_colour(r, i)))
        .collect();
    let top_y = legend(&mut o, &items);
    let (top, step) = axis(max as f64);
    y_axis(&mut o, top_y, top, step, &|v| bytes(v as u64), "bytes");
    let plot_h = H - top_y - BOTTOM;
    let slot = (W - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    o.push_str("<g class=\"bars\">");
    for (i, (day, per_host)) in r.bytes_by_day.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = 0u64;
        for (h, v) in per_host.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let y0 = top_y + plot_h - base as f64 / top * plot_h;
            let y1 = top_y + plot_h - (base + v) as f64 / top * plot_h;
            let host = r.hosts.get(h).map_or("", |x| x.host.as_str());
            let _ = write!(
                o,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{} {}: {} bytes</title></rect>",
                (y0 - y1).max(0.5),
                host_colour(r, h),
                esc(day),
                esc(host),
                group(*v)
            );
            base += v;
        }
    }
    o.push_str("</g>");
    x_labels(&mut o, &days, slot);
    o.push_str("</svg>\n");
    Chart {
        file: "bytes_per_day.svg".into(),
        title: title.into(),
        svg: o,
    }
}

/// Records per day: the estimate's low–high range as a bar with whiskers, the point estimate
/// as a tick, and the records confirmed by content as a dot.
pub fn records_per_day(r: &Report) -> Chart {
    let lg = r.manifest.lang;
    let title = lg.t("Records per day: estimated from traffic volume (bar low–high, tick point) and confirmed by content (dot)");
    let mut o = String::new();
    open(title, &mut o);
    let max = r
        .day_lines
        .iter()
        .map(|l| l.high.unwrap_or(0).max(l.confirmed.unwrap_or(0)))
        .max()
        .unwrap_or(0);
    let top_y = legend(
        &mut o,
        &[
            (
                lg.t("estimated from traffic volume (low–high)").into(),
                "#0072B2",
            ),
            (lg.t("confirmed by content").into(), "#D55E00"),
        ],
    );
    let (top, step) = axis(max as f64);
    y_axis(&mut o, top_y, top, step, &|v| group(v as u64), "records");
    let plot_h = H - top_y - BOTTOM;
    let y = |v: u64| top_y + plot_h - v as f64 / top * plot_h;
    let slot = (W - LEFT - RIGHT) / r.day_lines.len().max(1) as f64;
    let bar = (slot * 0.5).max(1.0);
    o.push_str("<g class=\"ranges\">");
    for (i, l) in r.day_lines.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        if let (Some(lo), Some(p), Some(hi)) = (l.low, l.point, l.high) {
            if hi > 0 {
                let _ = write!(
                    o,
                    "<g><title>{}: estimated {} (low {}, high {})</title>\
                     <line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#0072B2\"/>\
                     <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"#0072B2\" fill-opacity=\"0.35\" stroke=\"#0072B2\"/>\
                     <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#0072B2\"/>\
                     <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#0072B2\"/>\
                     <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\" stroke-width=\"2\"/></g>",
                    esc(&l.label),
                    group(p),
                    group(lo),
                    group(hi),
                    y(hi),
                    y(lo),
                    cx - bar / 2.0,
                    y(hi),
                    (y(lo) - y(hi)).max(0.5),
                    cx - bar / 4.0,
                    cx + bar / 4.0,
                    y(hi),
                    y(hi),
                    cx - bar / 4.0,
                    cx + bar / 4.0,
                    y(lo),
                    y(lo),
                    cx - bar / 2.0,
                    cx + bar / 2.0,
                    y(p),
                    y(p),
                );
            }
        }
        if let Some(c) = l.confirmed {
            if c > 0 {
                let _ = write!(
                    o,
                    "<circle cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#D55E00\"><title>{}: {} confirmed by content</title></circle>",
                    y(c),
                    esc(&l.label),
                    group(c)
                );
            }
        }
    }
    o.push_str("</g>");
    let days: Vec<String> = r.day_lines.iter().map(|l| l.label.clone()).collect();
    x_labels(&mut o, &days, slot);
    o.push_str("</svg>\n");
    Chart {
        file: "records_per_day.svg".into(),
        title: title.into(),
        svg: o,
    }
}

/// Flows to malicious hosts over time: one row per host, one mark per flow.
pub fn timeline(r: &Report) -> Chart {
    let title = r.manifest.lang.t("Timeline of flows to malicious hosts (one mark per flow, or per group of flows too close to draw apart; local time)");
    let rows = r.hosts.len().max(1);
    let left = LANES_LEFT;
    let height = TOP + 22.0 * rows as f64 + 50.0;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height:.0}\" width=\"{W}\" \
         height=\"{height:.0}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\
         <title>{}</title><rect width=\"{W}\" height=\"{height:.0}\" fill=\"#fff\"/>",
        esc(title)
    );
    let (t0, t1) = (r.timeline.t0, r.timeline.t1);
    let x = |t: i64| timeline_x(t0, t1, t);
    for (i, h) in r.hosts.iter().enumerate() {
        let y = TOP + 22.0 * i as f64;
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            left - 8.0,
            y + 14.0,
            esc(&h.host),
            W - RIGHT,
            y + 10.0,
            y + 10.0
        );
    }
    // Local midnights (in the zone offset of the first flow) as dashed day boundaries.
    let offset = r
        .first_local
        .len()
        .checked_sub(6)
        .and_then(|i| r.first_local.get(i..))
        .unwrap_or("Z")
        .to_string();
    let every = r.day_lines.len().div_ceil(12).max(1);
    for (k, l) in r.day_lines.iter().enumerate() {
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(&format!("{}T00:00:00{offset}", l.label))
        else {
            continue;
        };
        let t = t.timestamp();
        if t <= t0 || t >= t1 {
            continue;
        }
        let _ = write!(
            o,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\" stroke-dasharray=\"3,3\"/>",
            x(t),
            x(t),
            TOP - 6.0,
            TOP + 22.0 * rows as f64,
        );
        // Labelled every `every` days so the dates do not run into each other.
        if k % every == 0 && x(t) + 62.0 <= W {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\">{}</text>",
                x(t) + 3.0,
                TOP - 8.0,
                esc(&l.label)
            );
        }
    }
    // Flows whose marks would touch on screen are drawn as one mark (its title says how many
    // flows and bytes), so a host with a hundred thousand beacons stays a few hundred marks.
    // (Merged as the model read them: `Timeline::add`.)
    o.push_str("<g class=\"flows\">");
    for (i, marks) in r.timeline.lanes.iter().enumerate() {
        let y = TOP + 22.0 * i as f64 + 3.0;
        for m in marks {
            let title = if m.flows == 1 {
                format!("flow {}: {} bytes", esc(&m.flow), group(m.bytes))
            } else {
                format!("{} flows: {} bytes", group(m.flows), group(m.bytes))
            };
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{}\" \
                 fill-opacity=\"0.7\"><title>{title}</title></rect>",
                m.a,
                m.b - m.a,
                host_colour(r, i),
            );
        }
    }
    o.push_str("</g>");
    // Time axis: the first frame of the first flow and the last frame of the last one.
    let axis_y = TOP + 22.0 * rows as f64 + 16.0;
    if r.timeline.flows > 0 {
        let _ = write!(
            o,
            "<text x=\"{left:.1}\" y=\"{axis_y:.1}\">{}</text>\
             <text x=\"{:.1}\" y=\"{axis_y:.1}\" text-anchor=\"end\">{}</text>",
            esc(&short_time(&r.first_local)),
            W - RIGHT,
            esc(&short_time(&r.last_local))
        );
    }
    o.push_str("</svg>\n");
    Chart {
        file: "timeline.svg".into(),
        title: title.into(),
        svg: o,
    }
}

/// Left edge of the timeline's lanes (the host names are written to its left).
const LANES_LEFT: f64 = 220.0;

/// Where capture time `t` (seconds) falls on a timeline from `t0` to `t1` (`t1` > `t0`).
pub(crate) fn timeline_x(t0: i64, t1: i64, t: i64) -> f64 {
    let width = W - LANES_LEFT - RIGHT;
    LANES_LEFT + (t - t0) as f64 / (t1 - t0).max(1) as f64 * width
}

/// `2014-09-19T10:00:00.123+09:00` → `2014-09-19 10:00 +09:00`.
fn short_time(s: &str) -> String {
    match (
        s.get(..10),
        s.get(11..16),
        s.len().checked_sub(6).and_then(|i| s.get(i..)),
    ) {
        (Some(d), Some(t), Some(z)) => format!("{d} {t} {z}"),
        _ => s.to_string(),
    }
}

/// All charts, in report order.
pub fn charts(r: &Report) -> Vec<Chart> {
    vec![bytes_per_day(r), records_per_day(r), timeline(r)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_flows_make_few_marks() {
        // 100 bursts of 1,000 one-second flows, a day apart.
        let start = |i: i64| 1_400_000_000 + (i / 1000) * 86_400 + (i % 1000);
        let mut marks = crate::model::Timeline::new(start(0), start(99_999) + 1, 1);
        for i in 0..100_000 {
            marks.add(0, start(i), start(i) + 1, 55, &i.to_string());
        }
        let r = crate::model::Report {
            manifest: crate::Manifest::default(),
            daily: crate::csv::Table::default(),
            periods: crate::csv::Table::default(),
            sweep: None,
            reconciled: false,
            period_lines: Vec::new(),
            day_lines: Vec::new(),
            hosts: vec![crate::model::Host {
                host: "c2".into(),
                ..Default::default()
            }],
            timeline: marks,
            first_local: String::new(),
            last_local: String::new(),
            bytes_by_day: Vec::new(),
            other_hosts: Vec::new(),
            assumptions: Vec::new(),
            records: None,
        };
        let svg = timeline(&r).svg;
        let marks = svg.matches("<rect x=").count();
        assert_eq!(marks, 100, "one mark per burst");
        // Every flow and byte is still accounted for in the marks' titles.
        let flows: u64 = svg
            .split("<title>")
            .skip(2)
            .filter_map(|t| {
                let t = t.split("</title>").next()?;
                if t.starts_with("flow ") {
                    Some(1)
                } else {
                    t.split(' ').next()?.replace(',', "").parse().ok()
                }
            })
            .sum();
        assert_eq!(flows, 100_000);
    }

    #[test]
    fn axes_are_nice() {
        assert_eq!(axis(0.0), (1.0, 1.0));
        assert_eq!(axis(7.0), (8.0, 2.0));
        assert_eq!(axis(10.0), (10.0, 2.0));
        assert_eq!(axis(1234.0), (1500.0, 500.0));
        assert_eq!(axis(980_000.0), (1_000_000.0, 200_000.0));
    }
}
