//! Analyst-defined periods ("test run", "sample extraction", "big days"): a name and an
//! inclusive range of local days, from CSV (`name,start,end`) or TOML (`[[period]]` tables
//! with `name`, `start`, `end`). Periods work on whole local days because the ledger does.

use chrono::NaiveDate;
use exfilmeter_flow::Day;
use std::fmt;
use std::path::Path;

/// One period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Name.
    pub name: String,
    /// First local day (inclusive).
    pub start: NaiveDate,
    /// Last local day (inclusive).
    pub end: NaiveDate,
}

impl Period {
    /// First and last day as days since 1970-01-01.
    pub fn range(&self) -> (i32, i32) {
        (Day::of(self.start).0, Day::of(self.end).0)
    }
}

/// A problem with a periods file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError {
    /// `FILE:LINE` (or the file when no line applies).
    pub at: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for PeriodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for PeriodError {}

/// Parses a day: `YYYY-MM-DD`; a date-time is accepted only at local midnight (periods
/// are whole days).
fn parse_day(s: &str) -> Result<NaiveDate, String> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            if t.time() == chrono::NaiveTime::MIN {
                return Ok(t.date());
            }
            return Err(format!(
                "{s:?}: periods are whole local days; give a date (YYYY-MM-DD)"
            ));
        }
    }
    Err(format!("{s:?}: expected a date YYYY-MM-DD"))
}

/// Loads periods from `path` (TOML when it ends in `.toml`, else CSV with a
/// `name,start,end` header). Returns the periods in file order and warnings (overlaps).
/// An inverted range, a bad date, a duplicate name or an empty file is an error.
pub fn load_periods(path: &Path) -> Result<(Vec<Period>, Vec<String>), PeriodError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PeriodError {
        at: shown.clone(),
        message: e.to_string(),
    })?;
    let toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let raw = if toml {
        from_toml(&text, &shown)?
    } else {
        from_csv(&text, &shown)?
    };
    check(raw, &shown)
}

type Raw = Vec<(String, String, String, String)>; // at, name, start, end

fn from_csv(text: &str, shown: &str) -> Result<Raw, PeriodError> {
    let mut out = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{shown}:{}", i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<String> = exfilmeter_content::fields(line.as_bytes())
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v).trim().to_string())
            .collect();
        if !header_seen {
            header_seen = true;
            let names: Vec<String> = f.iter().map(|s| s.to_ascii_lowercase()).collect();
            if names == ["name", "start", "end"] {
                continue;
            }
        }
        if f.len() != 3 {
            return Err(PeriodError {
                at,
                message: format!("expected 3 fields name,start,end, found {}", f.len()),
            });
        }
        out.push((at, f[0].clone(), f[1].clone(), f[2].clone()));
    }
    Ok(out)
}

fn from_toml(text: &str, shown: &str) -> Result<Raw, PeriodError> {
    let v: toml::Table = text.parse().map_err(|e: toml::de::Error| PeriodError {
        at: shown.to_string(),
        message: e.to_string(),
    })?;
    let list = v
        .get("period")
        .or_else(|| v.get("periods"))
        .and_then(|p| p.as_array())
        .ok_or_else(|| PeriodError {
            at: shown.to_string(),
            message: "no [[period]] tables".into(),
        })?;
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let at = format!("{shown}: period {}", i + 1);
        let get = |k: &str| -> Result<String, PeriodError> {
            match p.get(k) {
                Some(toml::Value::String(s)) => Ok(s.clone()),
                Some(toml::Value::Datetime(d)) => Ok(d.to_string()),
                _ => Err(PeriodError {
                    at: at.clone(),
                    message: format!("missing {k}"),
                }),
            }
        };
        out.push((at.clone(), get("name")?, get("start")?, get("end")?));
    }
    Ok(out)
}

fn check(raw: Raw, shown: &str) -> Result<(Vec<Period>, Vec<String>), PeriodError> {
    if raw.is_empty() {
        return Err(PeriodError {
            at: shown.to_string(),
            message: "no periods".into(),
        });
    }
    let mut out: Vec<Period> = Vec::new();
    let mut warnings = Vec::new();
    for (at, name, start, end) in raw {
        let err = |message: String| PeriodError {
            at: at.clone(),
            message,
        };
        if name.is_empty() {
            return Err(err("empty period name".into()));
        }
        let start = parse_day(&start).map_err(err)?;
        let end = parse_day(&end).map_err(err)?;
        if end < start {
            return Err(err(format!(
                "period {name:?} ends ({end}) before it starts ({start})"
            )));
        }
        if out.iter().any(|p| p.name == name) {
            return Err(err(format!("period {name:?} defined twice")));
        }
        for p in &out {
            if p.start <= end && start <= p.end {
                warnings.push(format!(
                    "{at}: period {name:?} overlaps {:?}; each period is summed on its own",
                    p.name
                ));
            }
        }
        out.push(Period { name, start, end });
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<(Vec<Period>, Vec<String>), PeriodError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        load_periods(&p)
    }

    #[test]
    fn csv_and_toml_give_the_same_periods() {
        let (a, w) = load(
            "p.csv",
            "name,start,end\ntest run,2014-07-28,2014-07-28\n\"big days\",2014-09-19,2014-09-22\n",
        )
        .unwrap();
        assert!(w.is_empty());
        let (b, _) = load(
            "p.toml",
            "[[period]]\nname = \"test run\"\nstart = 2014-07-28\nend = \"2014-07-28\"\n\
             [[period]]\nname = \"big days\"\nstart = \"2014-09-19\"\nend = \"2014-09-22T00:00:00\"\n",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a[1].range().1 - a[1].range().0, 3);
    }

    #[test]
    fn inverted_is_an_error_with_its_line_and_overlap_a_warning() {
        let e = load("p.csv", "name,start,end\na,2014-09-22,2014-09-19\n").unwrap_err();
        assert!(e.at.ends_with("p.csv:2"), "{e}");
        assert!(e.message.contains("before it starts"), "{e}");
        let (_, w) = load(
            "p.csv",
            "a,2014-09-01,2014-09-20\nb,2014-09-19,2014-09-22\n",
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("overlaps"));
        let e = load("p.csv", "a,2014-09-01 12:00:00,2014-09-02\n").unwrap_err();
        assert!(e.message.contains("whole local days"), "{e}");
        assert!(load("p.csv", "name,start,end\n").is_err());
        assert!(load("p.toml", "x = 1\n").is_err());
    }
}
