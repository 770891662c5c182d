//! Lays the blocks out as one self-contained HTML file (inline CSS and SVG, no script, no
//! external resource) and as Markdown (charts linked as `charts/*.svg`).

use crate::doc::Block;
use crate::fmt::{esc, md};
use crate::svg::Chart;
use std::fmt::Write as _;

const CSS: &str = "body{font-family:sans-serif,\"Noto Sans CJK JP\",\"Noto Sans JP\";max-width:1100px;margin:2em auto;padding:0 1em;\
color:#111;line-height:1.45}h1{font-size:1.7em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.8em 0;font-size:.82em}\
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}th{background:#f2f2f2;text-align:left}\
td.d{white-space:nowrap}td.w{min-width:16em}td.h{word-break:break-all}td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;white-space:nowrap}\
figure{margin:1em 0}figcaption{font-size:.9em;color:#333}svg{max-width:100%;height:auto}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\
code{font-size:.92em}\
.scroll{overflow-x:auto}@media print{body{margin:0;max-width:none}table{font-size:.72em}td.n,td.d{white-space:normal}.scroll{overflow:visible}h2{break-after:avoid}table,figure{break-inside:avoid}}";

/// Text escaped for HTML, with Markdown's `code` spans as `<code>`.
fn inline(t: &str) -> String {
    let mut o = String::new();
    for (i, part) in t.split('`').enumerate() {
        if i % 2 == 1 {
            o.push_str("<code>");
            o.push_str(&esc(part));
            o.push_str("</code>");
        } else {
            o.push_str(&esc(part));
        }
    }
    o
}

/// `YYYY-MM-DD`: kept on one line.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The HTML document, its `lang` attribute `lang`.
pub fn html(blocks: &[Block], charts: &[Chart], lang: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n"
    );
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let title = blocks
        .iter()
        .find_map(|b| match b {
            Block::Heading(1, t) => Some(t.as_str()),
            _ => None,
        })
        .unwrap_or("exfilmeter report");
    let _ = writeln!(o, "<title>{}</title>", esc(title));
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(o, "<h{l}>{}</h{l}>", esc(t));
            }
            Block::Para(t) => {
                let _ = writeln!(o, "<p>{}</p>", inline(t));
            }
            Block::List(items) => {
                o.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(o, "<li>{}</li>", inline(i));
                }
                o.push_str("</ul>\n");
            }
            Block::Table {
                id,
                head,
                rows,
                numeric,
            } => {
                let _ = write!(
                    o,
                    "<div class=\"scroll\"><table id=\"{}\">\n<thead><tr>",
                    esc(id)
                );
                for h in head {
                    // Long column names may break after an underscore.
                    let _ = write!(o, "<th>{}</th>", esc(h).replace('_', "_<wbr>"));
                }
                o.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    o.push_str("<tr>");
                    for (i, c) in r.iter().enumerate() {
                        if numeric.get(i).copied().unwrap_or(false) {
                            let _ = write!(o, "<td class=\"n\">{}</td>", esc(c));
                        } else if c.contains(' ') && c.chars().count() > 30 {
                            // Sentences wrap; long unbroken values (digests) break anywhere.
                            let _ = write!(o, "<td class=\"w\">{}</td>", esc(c));
                        } else if is_date(c) {
                            let _ = write!(o, "<td class=\"d\">{}</td>", esc(c));
                        } else if c.chars().count() > 40 {
                            let _ = write!(o, "<td class=\"h\">{}</td>", esc(c));
                        } else {
                            let _ = write!(o, "<td>{}</td>", esc(c));
                        }
                    }
                    o.push_str("</tr>\n");
                }
                o.push_str("</tbody>\n</table></div>\n");
            }
            Block::Chart(i) => {
                if let Some(c) = charts.get(*i) {
                    let id = c.file.trim_end_matches(".svg");
                    let _ = write!(
                        o,
                        "<figure id=\"chart-{}\">\n{}<figcaption>{}</figcaption>\n</figure>\n",
                        esc(id),
                        c.svg,
                        esc(&c.title)
                    );
                }
            }
            Block::Code(t) => {
                let _ = writeln!(o, "<pre><code>{}</code></pre>", esc(t));
            }
        }
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// The Markdown document.
pub fn markdown(blocks: &[Block], charts: &[Chart]) -> String {
    let mut o = String::new();
    for b in blocks {
        match b {
            Block::Heading(l, t) => {
                let _ = writeln!(o, "{} {}\n", "#".repeat(usize::from(*l)), t);
            }
            Block::Para(t) => {
                let _ = writeln!(o, "{t}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(o, "- {i}");
                }
                o.push('\n');
            }
            Block::Table {
                head,
                rows,
                numeric,
                ..
            } => {
                let _ = writeln!(
                    o,
                    "| {} |",
                    head.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | ")
                );
                let _ = writeln!(
                    o,
                    "|{}|",
                    numeric
                        .iter()
                        .map(|n| if *n { "---:" } else { "---" })
                        .collect::<Vec<_>>()
                        .join("|")
                );
                for r in rows {
                    let _ = writeln!(
                        o,
                        "| {} |",
                        r.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                o.push('\n');
            }
            Block::Chart(i) => {
                if let Some(c) = charts.get(*i) {
                    let _ = writeln!(o, "![{}](charts/{})\n", c.title, c.file);
                }
            }
            Block::Code(t) => {
                let _ = writeln!(o, "```\n{t}\n```\n");
            }
        }
    }
    o
}
