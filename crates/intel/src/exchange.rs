//! IOC sources responders exchange: MISP event and feed JSON (attributes `ip-dst`,
//! `ip-dst|port`, `domain`, `hostname`, `hostname|port`, `domain|ip`, `url`, in events and
//! in their objects, `to_ids` and `first_seen`/`last_seen` honoured), and Zeek Intel framework
//! files (`#fields indicator indicator_type meta.source …`, types `Intel::ADDR`,
//! `Intel::SUBNET`, `Intel::DOMAIN`, `Intel::URL`).
//!
//! Entries that are well formed but not network indicators (file hashes, e-mail addresses,
//! user names…), or that the source marks as not for detection (`to_ids: false`, deleted),
//! are not errors: they are counted as ignored.

use crate::indicator::{normalize_name, url_host, Indicator, Origin, Target};
use crate::load::{parse_time, IntelError, Sink};
use crate::net::Net;
use serde_json::Value;

/// A bare MISP event (as PyMISP's `MISPEvent.to_json()` writes it): `info` and attributes.
fn bare_event(doc: &Value) -> bool {
    doc.get("info").is_some() && (doc.get("Attribute").is_some() || doc.get("Object").is_some())
}

/// Whether a JSON document is a MISP export: `{"Event": …}` (the server's export and a feed's
/// event file), a bare event, `{"response": [{"Event": …}]}` (a search), or a list of
/// `{"Event": …}`.
pub(crate) fn is_misp(doc: &Value) -> bool {
    doc.get("Event").is_some()
        || bare_event(doc)
        || doc
            .get("response")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|e| e.get("Event").is_some()))
        || doc
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|e| e.get("Event").is_some()))
}

/// The events of a MISP document.
fn events(doc: &Value) -> Vec<&Value> {
    if let Some(e) = doc.get("Event") {
        return vec![e];
    }
    if bare_event(doc) {
        return vec![doc];
    }
    let list = doc
        .get("response")
        .and_then(Value::as_array)
        .or_else(|| doc.as_array());
    list.map(|a| a.iter().filter_map(|e| e.get("Event")).collect())
        .unwrap_or_default()
}

/// MISP time: RFC 3339, a date, or Unix seconds (as a number or a string).
fn misp_time(v: &Value) -> Result<Option<exfilmeter_ingest::Timestamp>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n
            .as_i64()
            .map(|s| exfilmeter_ingest::Timestamp(s.saturating_mul(1_000_000_000)))),
        Value::String(s) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => s
            .parse::<i64>()
            .map(|v| {
                Some(exfilmeter_ingest::Timestamp(
                    v.saturating_mul(1_000_000_000),
                ))
            })
            .map_err(|e| e.to_string()),
        Value::String(s) => parse_time(s),
        other => Err(format!("unexpected time {other}")),
    }
}

/// What an attribute of this MISP type matches, with the text kept.
fn misp_target(kind: &str, value: &str) -> Option<Result<Vec<(Target, String)>, String>> {
    let one = |r: Result<Target, String>| r.map(|t| vec![(t, value.to_string())]);
    Some(match kind {
        "ip-dst" => one(value.trim().parse::<Net>().map(Target::Net)),
        "ip-dst|port" => {
            let ip = value.split('|').next().unwrap_or("");
            one(ip.trim().parse::<Net>().map(Target::Net))
        }
        "domain" | "hostname" => one(normalize_name(value).map(Target::Name)),
        "hostname|port" => {
            let h = value.split('|').next().unwrap_or("");
            one(normalize_name(h).map(Target::Name))
        }
        "domain|ip" => {
            let mut it = value.split('|');
            let (d, ip) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
            normalize_name(d).and_then(|n| {
                let mut v = vec![(Target::Name(n), value.to_string())];
                if !ip.trim().is_empty() {
                    v.push((Target::Net(ip.trim().parse::<Net>()?), value.to_string()));
                }
                Ok(v)
            })
        }
        "url" => one(url_host(value)),
        _ => return None,
    })
}

pub(crate) fn parse_misp(doc: &Value, sink: &mut Sink<'_>) -> Result<(), IntelError> {
    let mut n = 0u32;
    for ev in events(doc) {
        let info = ev.get("info").and_then(Value::as_str).unwrap_or("");
        let mut attrs: Vec<&Value> = ev
            .get("Attribute")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for o in ev
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if o.get("deleted").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            attrs.extend(
                o.get("Attribute")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
        for a in attrs {
            n += 1;
            let kind = a.get("type").and_then(Value::as_str).unwrap_or("");
            let value = a.get("value").and_then(Value::as_str).unwrap_or("");
            let to_ids = match a.get("to_ids") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
                Some(Value::Number(x)) => x.as_i64() == Some(1),
                _ => true,
            };
            let deleted = a.get("deleted").and_then(Value::as_bool) == Some(true);
            let Some(targets) = misp_target(kind, value) else {
                sink.ignore(
                    n,
                    format!("MISP attribute {n}: type {kind:?} is not a network indicator"),
                );
                continue;
            };
            if !to_ids || deleted {
                sink.ignore(
                    n,
                    format!(
                        "MISP attribute {n} ({kind} {value}): {}",
                        if deleted {
                            "deleted"
                        } else {
                            "to_ids is false"
                        }
                    ),
                );
                continue;
            }
            let times = misp_time(a.get("first_seen").unwrap_or(&Value::Null))
                .and_then(|f| Ok((f, misp_time(a.get("last_seen").unwrap_or(&Value::Null))?)));
            let times = times.and_then(|(f, u)| match (f, u) {
                (Some(a), Some(b)) if b < a => Err("last_seen is before first_seen".to_string()),
                t => Ok(t),
            });
            let (from, until) = match times {
                Ok(t) => t,
                Err(e) => {
                    sink.bad(n, format!("MISP attribute {n} ({kind} {value}): {e}"))?;
                    continue;
                }
            };
            let comment = a.get("comment").and_then(Value::as_str).unwrap_or("");
            let label = [info, comment]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" — ");
            match targets {
                Ok(ts) => {
                    for (target, text) in ts {
                        sink.out.push(Indicator {
                            target,
                            text,
                            label: Some(label.clone()).filter(|s| !s.is_empty()),
                            origin: Origin {
                                source: sink.source,
                                line: n,
                            },
                            valid_from: from,
                            valid_until: until,
                        });
                    }
                }
                Err(e) => sink.bad(n, format!("MISP attribute {n} ({kind} {value:?}): {e}"))?,
            }
        }
    }
    Ok(())
}

/// Whether a text is a Zeek Intel framework file (its `#fields` line names `indicator` and
/// `indicator_type`).
pub(crate) fn is_zeek_intel(content: &str) -> bool {
    content
        .lines()
        .find(|l| l.starts_with("#fields"))
        .is_some_and(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.contains(&"indicator") && f.contains(&"indicator_type")
        })
}

pub(crate) fn parse_zeek_intel(content: &str, sink: &mut Sink<'_>) -> Result<(), IntelError> {
    let mut fields: Vec<String> = Vec::new();
    for (i, raw) in content.lines().enumerate() {
        let line = (i + 1) as u32;
        let raw = raw.trim_end_matches('\r');
        if let Some(h) = raw.strip_prefix("#fields") {
            fields = h
                .split('\t')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            continue;
        }
        if raw.starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = raw.split('\t').collect();
        let get = |name: &str| {
            fields
                .iter()
                .position(|f| f == name)
                .and_then(|i| cells.get(i))
                .copied()
                .filter(|v| *v != "-" && !v.is_empty())
        };
        let (Some(value), Some(kind)) = (get("indicator"), get("indicator_type")) else {
            sink.bad(line, "no indicator or indicator_type field".into())?;
            continue;
        };
        let target = match kind {
            "Intel::ADDR" | "Intel::SUBNET" => value.parse::<Net>().map(Target::Net),
            "Intel::DOMAIN" => normalize_name(value).map(Target::Name),
            // Zeek's URL indicators are written without the scheme.
            "Intel::URL" => {
                let u = if value.contains("://") {
                    value.to_string()
                } else {
                    format!("http://{value}")
                };
                url_host(&u)
            }
            other => {
                sink.ignore(line, format!("{other} {value}: not a network indicator"));
                continue;
            }
        };
        let label = ["meta.source", "meta.desc"]
            .iter()
            .filter_map(|f| get(f))
            .collect::<Vec<_>>()
            .join(" — ");
        match target {
            Ok(target) => sink.out.push(Indicator {
                target,
                text: value.to_string(),
                label: Some(label).filter(|s| !s.is_empty()),
                origin: Origin {
                    source: sink.source,
                    line,
                },
                valid_from: None,
                valid_until: None,
            }),
            Err(e) => sink.bad(line, format!("{kind} {value:?}: {e}"))?,
        }
    }
    Ok(())
}
