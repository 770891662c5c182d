//! Fixed number formatting and escaping shared by the HTML, Markdown and SVG writers.

/// An integer with `,` between groups of three digits: `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An optional count: grouped, or `–` when there is none.
pub fn opt(n: Option<u64>) -> String {
    n.map_or_else(|| "–".to_string(), group)
}

/// A byte count in decimal units with three significant digits: `1.23 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else if v >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

/// An RFC 3339 time shortened for reading: `2014-09-19T10:00:00.123+09:00` →
/// `2014-09-19 10:00:00 +09:00` (the fraction of a second is in the CSV tables).
pub fn time(s: &str) -> String {
    let (Some(date), Some(clock)) = (s.get(..10), s.get(11..19)) else {
        return s.to_string();
    };
    let zone = if s.ends_with('Z') {
        "UTC"
    } else {
        s.len()
            .checked_sub(6)
            .and_then(|i| s.get(i..))
            .unwrap_or("")
    };
    format!("{date} {clock} {zone}")
}

/// Text escaped for HTML and SVG content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Text escaped for a Markdown table cell.
pub fn md(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_units_and_escapes() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(opt(None), "–");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "1.00 kB");
        assert_eq!(bytes(12_345), "12.3 kB");
        assert_eq!(bytes(123_456_789), "123 MB");
        assert_eq!(bytes(2_500_000_000), "2.50 GB");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(
            time("2014-09-19T10:00:00.123456789+09:00"),
            "2014-09-19 10:00:00 +09:00"
        );
        assert_eq!(time("2014-09-19T01:00:00.5Z"), "2014-09-19 01:00:00 UTC");
        assert_eq!(time("garbage"), "garbage");
    }
}
