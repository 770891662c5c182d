//! Reading IOC sources: plain text, CSV, STIX 2.1 bundles, MISP exports and Zeek Intel files
//! (the last two in [`crate::exchange`]).

use crate::indicator::{classify, normalize_name, url_host, Indicator, Origin, Target};
use crate::net::Net;
use crate::stix::parse_pattern;
use chrono::{DateTime, NaiveDate};
use exfilmeter_ingest::Timestamp;
use std::fmt;
use std::path::{Path, PathBuf};

/// Format of an IOC source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One indicator per line, `#` comments.
    Text,
    /// `indicator,type,label,valid_from,valid_until`.
    Csv,
    /// A STIX 2.1 bundle (JSON).
    Stix,
    /// A MISP event or feed export (JSON).
    Misp,
    /// A Zeek Intel framework file (tab-separated, `#fields indicator indicator_type …`).
    ZeekIntel,
}

/// A problem in an IOC source, naming the file and line.
#[derive(Debug)]
#[non_exhaustive]
pub enum IntelError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line (or STIX object) could not be understood.
    Parse {
        /// The file.
        path: PathBuf,
        /// Line (1-based), or STIX object number.
        line: u32,
        /// Why.
        message: String,
    },
    /// The source yielded no indicator.
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for IntelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntelError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            IntelError::Parse {
                path,
                line,
                message,
            } => {
                write!(f, "{}:{line}: {message}", path.display())
            }
            IntelError::Empty { path } => write!(f, "{}: no indicators found", path.display()),
        }
    }
}

impl std::error::Error for IntelError {}

/// A malformed entry skipped in lenient mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub origin: Origin,
    /// Why.
    pub message: String,
}

/// Picks the format from the content and the extension: JSON is a MISP export when it holds
/// `Event` objects, else STIX; a `#fields` line naming `indicator` and `indicator_type` is
/// Zeek Intel; `.csv` or an `indicator,` header is CSV; anything else one indicator per line.
pub fn detect_format(path: &Path, content: &str) -> Format {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let head = content.trim_start();
    let json = matches!(ext.as_deref(), Some("json") | Some("stix"))
        || head.starts_with('{')
        || head.starts_with('[');
    if json {
        return match serde_json::from_str::<serde_json::Value>(content) {
            Ok(doc) if crate::exchange::is_misp(&doc) => Format::Misp,
            _ => Format::Stix,
        };
    }
    if crate::exchange::is_zeek_intel(content) {
        return Format::ZeekIntel;
    }
    if ext.as_deref() == Some("csv") || head.to_ascii_lowercase().starts_with("indicator,") {
        Format::Csv
    } else {
        Format::Text
    }
}

/// Parsing state shared by the formats.
pub(crate) struct Sink<'a> {
    pub(crate) source: u32,
    pub(crate) path: &'a Path,
    pub(crate) lenient: bool,
    pub(crate) out: &'a mut Vec<Indicator>,
    pub(crate) warnings: &'a mut Vec<Warning>,
    /// Well-formed entries left out on purpose (not network indicators, not for detection).
    pub(crate) ignored: &'a mut Vec<Warning>,
}

impl Sink<'_> {
    /// A well-formed entry that is not used (counted, never an error).
    pub(crate) fn ignore(&mut self, line: u32, message: String) {
        self.ignored.push(Warning {
            origin: Origin {
                source: self.source,
                line,
            },
            message,
        });
    }

    pub(crate) fn bad(&mut self, line: u32, message: String) -> Result<(), IntelError> {
        if self.lenient {
            self.warnings.push(Warning {
                origin: Origin {
                    source: self.source,
                    line,
                },
                message,
            });
            Ok(())
        } else {
            Err(IntelError::Parse {
                path: self.path.to_path_buf(),
                line,
                message,
            })
        }
    }
}

pub(crate) fn parse_text(content: &str, sink: &mut Sink<'_>) -> Result<(), IntelError> {
    for (i, raw) in content.lines().enumerate() {
        let line = (i + 1) as u32;
        let body = raw.split_once('#').map_or(raw, |x| x.0).trim();
        if body.is_empty() {
            continue;
        }
        let mut tokens = body.split_whitespace();
        let token = tokens.next().unwrap_or("");
        match classify(token) {
            // A lone word followed by more words is prose, not a host name.
            Ok((Target::Name(n), _)) if !n.contains('.') && tokens.next().is_some() => sink.bad(
                line,
                format!(
                    "{body:?}: a single-label host name followed by text (comments start with #)"
                ),
            )?,
            Ok((target, text)) => sink.out.push(Indicator {
                target,
                text,
                label: None,
                origin: Origin {
                    source: sink.source,
                    line,
                },
                valid_from: None,
                valid_until: None,
            }),
            Err(e) => sink.bad(line, e)?,
        }
    }
    Ok(())
}

/// Splits one CSV line (RFC 4180 quoting).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

/// RFC 3339, or a bare date (midnight UTC).
pub(crate) fn parse_time(s: &str) -> Result<Option<Timestamp>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt
            .timestamp_nanos_opt()
            .map(|n| Some(Timestamp(n)))
            .ok_or_else(|| format!("time {s:?} out of range"));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_utc().timestamp_nanos_opt())
            .map(|n| Some(Timestamp(n)))
            .ok_or_else(|| format!("date {s:?} out of range"));
    }
    Err(format!(
        "{s:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"
    ))
}

fn typed(kind: &str, value: &str) -> Result<(Target, String), String> {
    let kind = kind.trim().to_ascii_lowercase();
    let (target, text) = classify(value)?;
    let ok = match kind.as_str() {
        "" | "auto" => true,
        "ip" | "ipv4" | "ipv6" | "ipv4-addr" | "ipv6-addr" | "cidr" | "net" => {
            matches!(target, Target::Net(_))
        }
        "domain" | "domain-name" | "hostname" | "fqdn" => {
            matches!(target, Target::Name(_) | Target::Suffix(_))
        }
        "suffix" | "wildcard" => {
            return normalize_name(text.trim_start_matches("*."))
                .map(|n| (Target::Suffix(n), text));
        }
        "url" | "uri" => return url_host(&text).map(|t| (t, text)),
        other => return Err(format!("unknown indicator type {other:?}")),
    };
    if ok {
        Ok((target, text))
    } else {
        Err(format!("{value:?} is not of type {kind:?}"))
    }
}

pub(crate) fn parse_csv(content: &str, sink: &mut Sink<'_>) -> Result<(), IntelError> {
    let mut cols: Option<[usize; 5]> = None;
    for (i, raw) in content.lines().enumerate() {
        let line = (i + 1) as u32;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let f = match csv_fields(raw) {
            Ok(f) => f,
            Err(e) => {
                sink.bad(line, e)?;
                continue;
            }
        };
        if cols.is_none()
            && f.first()
                .is_some_and(|h| h.trim().eq_ignore_ascii_case("indicator"))
        {
            let pos = |name: &str| f.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
            cols = Some([
                pos("indicator").unwrap_or(0),
                pos("type").unwrap_or(usize::MAX),
                pos("label").unwrap_or(usize::MAX),
                pos("valid_from").unwrap_or(usize::MAX),
                pos("valid_until").unwrap_or(usize::MAX),
            ]);
            continue;
        }
        let c = cols.unwrap_or([0, 1, 2, 3, 4]);
        let get = |k: usize| f.get(c[k]).map(|s| s.trim()).unwrap_or("");
        let parsed = typed(get(1), get(0)).and_then(|(target, text)| {
            let label = Some(get(2).to_string()).filter(|s| !s.is_empty());
            let (from, until) = (parse_time(get(3))?, parse_time(get(4))?);
            if let (Some(a), Some(b)) = (from, until) {
                if b < a {
                    return Err("valid_until is before valid_from".to_string());
                }
            }
            Ok(Indicator {
                target,
                text,
                label,
                origin: Origin {
                    source: sink.source,
                    line,
                },
                valid_from: from,
                valid_until: until,
            })
        });
        match parsed {
            Ok(ind) => sink.out.push(ind),
            Err(e) => sink.bad(line, e)?,
        }
    }
    Ok(())
}

pub(crate) fn parse_stix(content: &str, sink: &mut Sink<'_>) -> Result<(), IntelError> {
    let doc: serde_json::Value = match serde_json::from_str(content) {
        Ok(v) => v,
        Err(e) => {
            return Err(IntelError::Parse {
                path: sink.path.to_path_buf(),
                line: e.line() as u32,
                message: format!("not valid JSON: {e}"),
            })
        }
    };
    let objects: Vec<&serde_json::Value> =
        match (&doc["type"], &doc["objects"]) {
            (serde_json::Value::String(t), serde_json::Value::Array(o)) if t == "bundle" => {
                o.iter().collect()
            }
            _ if doc["type"] == "indicator" => vec![&doc],
            _ => return Err(IntelError::Parse {
                path: sink.path.to_path_buf(),
                line: 1,
                message:
                    "not a STIX 2.1 bundle (expected {\"type\": \"bundle\", \"objects\": [...]})"
                        .into(),
            }),
        };
    for (i, o) in objects.iter().enumerate() {
        let line = (i + 1) as u32;
        if o["type"] != "indicator" {
            continue;
        }
        if o.get("pattern_type").is_some_and(|t| t != "stix") {
            let pt = o["pattern_type"].as_str().unwrap_or("?").to_string();
            sink.bad(
                line,
                format!("object {line}: pattern_type {pt:?} is not supported"),
            )?;
            continue;
        }
        let id = o["id"].as_str().unwrap_or("?");
        let Some(pattern) = o["pattern"].as_str() else {
            sink.bad(
                line,
                format!("object {line} ({id}): indicator without a pattern"),
            )?;
            continue;
        };
        let times = (|| -> Result<_, String> {
            Ok((
                parse_time(o["valid_from"].as_str().unwrap_or(""))?,
                parse_time(o["valid_until"].as_str().unwrap_or(""))?,
            ))
        })();
        let (from, until) = match times {
            Ok(t) => t,
            Err(e) => {
                sink.bad(line, format!("object {line} ({id}): {e}"))?;
                continue;
            }
        };
        let label = o["name"].as_str().map(str::to_string);
        match parse_pattern(pattern) {
            Err(e) => sink.bad(line, format!("object {line} ({id}): {e}"))?,
            Ok(cmps) => {
                for c in cmps {
                    let target = match (c.path.as_str(), c.op.as_str()) {
                        ("ipv4-addr:value" | "ipv6-addr:value", _) => {
                            c.value.parse::<Net>().map(Target::Net)
                        }
                        ("domain-name:value", "=") => normalize_name(&c.value).map(Target::Name),
                        ("url:value", "=") => url_host(&c.value),
                        (p, op) => Err(format!("unsupported comparison {p} {op}")),
                    };
                    match target {
                        Ok(target) => sink.out.push(Indicator {
                            target,
                            text: c.value,
                            label: label.clone(),
                            origin: Origin {
                                source: sink.source,
                                line,
                            },
                            valid_from: from,
                            valid_until: until,
                        }),
                        Err(e) => sink.bad(line, format!("object {line} ({id}): {e}"))?,
                    }
                }
            }
        }
    }
    Ok(())
}
