//! Splitting recovered files into records, as stored (no re-encoding: a Shift_JIS file
//! is measured in Shift_JIS bytes).

use regex::bytes::Regex;
use std::fmt;

/// How records are laid out in a recovered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFormat {
    /// One record per line; the line terminator (`\n` or `\r\n`) belongs to the record.
    Lines,
    /// RFC 4180 CSV: like lines, but a newline inside double quotes does not end a record.
    Csv,
    /// Fixed-size records of this many bytes.
    Fixed(usize),
}

impl std::str::FromStr for RecordFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<RecordFormat, String> {
        match s {
            "lines" => Ok(RecordFormat::Lines),
            "csv" => Ok(RecordFormat::Csv),
            _ => match s.strip_prefix("fixed:").map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => Ok(RecordFormat::Fixed(n)),
                _ => Err(format!("{s:?}: expected lines, csv or fixed:N (N > 0)")),
            },
        }
    }
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordFormat::Lines => f.write_str("lines"),
            RecordFormat::Csv => f.write_str("csv"),
            RecordFormat::Fixed(n) => write!(f, "fixed:{n}"),
        }
    }
}

/// Whether the first record is a header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Yes: excluded from the records.
    Yes,
    /// No.
    No,
    /// Decide: a first line without any digit followed by a line with digits is a header.
    Auto,
}

impl std::str::FromStr for Header {
    type Err = String;
    /// `yes`, `no` or `auto`.
    fn from_str(s: &str) -> Result<Header, String> {
        match s {
            "yes" => Ok(Header::Yes),
            "no" => Ok(Header::No),
            "auto" => Ok(Header::Auto),
            other => Err(format!("{other:?}: expected yes, no or auto")),
        }
    }
}

/// Where the key of a record (e.g. the member number) is.
#[derive(Debug, Clone)]
pub enum KeySpec {
    /// 1-based CSV column.
    Column(usize),
    /// Header name of a CSV column (needs a header).
    Name(String),
    /// A regex whose first capture group is the key.
    Regex(Regex),
}

impl KeySpec {
    /// A column number, else a regex if it has a capture group, else a header name.
    pub fn parse(s: &str) -> Result<KeySpec, String> {
        if let Ok(n) = s.parse::<usize>() {
            return if n > 0 {
                Ok(KeySpec::Column(n))
            } else {
                Err("key columns are 1-based".into())
            };
        }
        if s.contains('(') {
            let re = Regex::new(s).map_err(|e| format!("key regex {s:?}: {e}"))?;
            if re.captures_len() < 2 {
                return Err(format!("key regex {s:?} needs one capture group"));
            }
            return Ok(KeySpec::Regex(re));
        }
        Ok(KeySpec::Name(s.to_string()))
    }
}

/// Byte ranges of the records of one file.
pub fn split(data: &[u8], format: &RecordFormat) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    match format {
        RecordFormat::Fixed(n) => {
            let mut i = 0;
            while i < data.len() {
                out.push(i..(i + n).min(data.len()));
                i += n;
            }
        }
        RecordFormat::Lines | RecordFormat::Csv => {
            let csv = *format == RecordFormat::Csv;
            let (mut start, mut quoted) = (0, false);
            for (i, &b) in data.iter().enumerate() {
                if csv && b == b'"' {
                    quoted = !quoted;
                } else if b == b'\n' && !quoted {
                    out.push(start..i + 1);
                    start = i + 1;
                }
            }
            if start < data.len() {
                out.push(start..data.len());
            }
        }
    }
    out
}

/// CSV fields of one record (without its terminator), unquoted.
pub fn fields(rec: &[u8]) -> Vec<Vec<u8>> {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    let rec = rec.strip_suffix(b"\r").unwrap_or(rec);
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < rec.len() {
        let b = rec[i];
        match (b, quoted) {
            (b'"', true) if rec.get(i + 1) == Some(&b'"') => {
                cur.push(b'"');
                i += 1;
            }
            (b'"', true) => quoted = false,
            (b'"', false) if cur.is_empty() => quoted = true,
            (b',', false) => out.push(std::mem::take(&mut cur)),
            (b, _) => cur.push(b),
        }
        i += 1;
    }
    out.push(cur);
    out
}

/// Fills `buf` from `r` as far as it goes; returns the bytes read (fewer at the end).
pub(crate) fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads the next record of `format`, as stored (terminator included), into `out` (cleared
/// first); returns its length (0: no more records). A CSV record runs on while a quote is open.
pub(crate) fn read_record(
    r: &mut impl std::io::BufRead,
    format: &RecordFormat,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    out.clear();
    let n = match format {
        RecordFormat::Fixed(n) => {
            out.resize(*n, 0);
            read_full(r, out)?
        }
        RecordFormat::Lines => r.read_until(b'\n', out)?,
        RecordFormat::Csv => {
            // Quote parity kept over the lines read (each line's quotes counted once).
            let mut odd = false;
            loop {
                let from = out.len();
                let n = r.read_until(b'\n', out)?;
                odd ^= memchr::memchr_iter(b'"', &out[from..]).count() % 2 == 1;
                if n == 0 || !odd {
                    break out.len();
                }
            }
        }
    };
    out.truncate(n);
    Ok(n)
}

/// The 0-based column of the key named by `key` (`header`: the file's header record, if it has
/// one); None for a regex key. An error names what is missing.
pub(crate) fn key_column(key: &KeySpec, header: Option<&[u8]>) -> Result<Option<usize>, String> {
    match key {
        KeySpec::Column(c) => Ok(Some(c.saturating_sub(1))),
        KeySpec::Regex(_) => Ok(None),
        KeySpec::Name(n) => {
            let h = header.ok_or_else(|| {
                format!("key column {n:?} named, but the file has no header line")
            })?;
            fields(h)
                .iter()
                .position(|f| f.as_slice() == n.as_bytes())
                .map(Some)
                .ok_or_else(|| format!("no column named {n:?} in the header"))
        }
    }
}

/// The key of a record (`rec`: its content), by `key` and its [`key_column`]; None when the
/// record has none (no match, or an empty field).
pub(crate) fn record_key(rec: &[u8], key: &KeySpec, column: Option<usize>) -> Option<Vec<u8>> {
    match (key, column) {
        (KeySpec::Regex(re), _) => re
            .captures(rec)
            .and_then(|m| m.get(1))
            .map(|m| m.as_bytes().to_vec()),
        (_, Some(col)) => fields(rec).into_iter().nth(col).filter(|f| !f.is_empty()),
        _ => None,
    }
}

/// How many fields [`fields`] finds in `rec`, without building them.
pub(crate) fn field_count(rec: &[u8]) -> usize {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    let rec = rec.strip_suffix(b"\r").unwrap_or(rec);
    let (mut n, mut cur, mut quoted, mut i) = (1, 0usize, false, 0);
    while i < rec.len() {
        match (rec[i], quoted) {
            (b'"', true) if rec.get(i + 1) == Some(&b'"') => {
                cur += 1;
                i += 1;
            }
            (b'"', true) => quoted = false,
            (b'"', false) if cur == 0 => quoted = true,
            (b',', false) => {
                n += 1;
                cur = 0;
            }
            _ => cur += 1,
        }
        i += 1;
    }
    n
}

/// What a field's text is, for telling a header line from records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldClass {
    /// Digits only (a sign and one decimal point allowed): numbers, keys, codes.
    Number,
    /// Digits with punctuation and no letter: dates, times, phone numbers.
    Numeric,
    /// Anything with a letter.
    Text,
}

fn classify(v: &[u8]) -> Option<FieldClass> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    if v.iter().any(u8::is_ascii_alphabetic) || !v.iter().any(u8::is_ascii_digit) {
        return Some(FieldClass::Text);
    }
    let body = v.strip_prefix(b"-").or(v.strip_prefix(b"+")).unwrap_or(v);
    let dots = body.iter().filter(|&&b| b == b'.').count();
    if dots <= 1 && body.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        Some(FieldClass::Number)
    } else {
        Some(FieldClass::Numeric)
    }
}

/// The fields of a line for header detection: CSV fields, else the separator (tab, `|`,
/// `;`, `,`) that splits the first lines into the same number of fields, else the line.
fn header_fields(lines: &[&[u8]], csv: bool) -> Vec<Vec<Vec<u8>>> {
    if csv {
        return lines.iter().map(|l| fields(l)).collect();
    }
    for sep in [b'\t', b'|', b';', b','] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| l.iter().filter(|&&b| b == sep).count())
            .collect();
        if counts[0] > 0 && counts.iter().all(|&c| c == counts[0]) {
            return lines
                .iter()
                .map(|l| l.split(|&b| b == sep).map(<[u8]>::to_vec).collect())
                .collect();
        }
    }
    lines.iter().map(|l| vec![l.to_vec()]).collect()
}

/// Lines after the first compared with it in [`has_header`].
const HEADER_SAMPLE: usize = 50;

/// Whether the first of `recs` (records of `data`) is a header line. `Auto` compares the
/// first line's fields with the same columns of the next records (up to 50): a column whose
/// values are consistently numbers, or digits with punctuation (dates, phone numbers), votes
/// for a header when the first line's value is text and against it when it is of the same
/// class; a text column of values of one length (codes, flags) votes for a header when the
/// first value's length differs. A header has more votes for than against; with no vote
/// (every column text of varying length) the first line is a header when it holds no digit
/// and the second does. Names with digits (`card_last4`, `address2`) do not hide a header.
pub fn has_header(data: &[u8], recs: &[std::ops::Range<usize>], header: Header) -> bool {
    match header {
        Header::Yes => true,
        Header::No => false,
        Header::Auto => {
            if recs.len() < 2 {
                return false;
            }
            let strip = |r: &std::ops::Range<usize>| {
                let l = data.get(r.clone()).unwrap_or_default();
                let l = l.strip_suffix(b"\n").unwrap_or(l);
                l.strip_suffix(b"\r").unwrap_or(l)
            };
            let lines: Vec<&[u8]> = recs.iter().take(HEADER_SAMPLE + 1).map(strip).collect();
            let csv =
                lines.iter().any(|l| l.contains(&b'"')) || lines.iter().all(|l| l.contains(&b','));
            let rows = header_fields(&lines, csv);
            let (first, rest) = (&rows[0], &rows[1..]);
            let (mut votes, mut any) = (0i64, false);
            for (c, v) in first.iter().enumerate() {
                let vals: Vec<&Vec<u8>> = rest.iter().filter_map(|r| r.get(c)).collect();
                let classes: Vec<FieldClass> = vals.iter().filter_map(|v| classify(v)).collect();
                let Some(&top) = classes.first() else {
                    continue;
                };
                if classes.iter().filter(|&&k| k == top).count() * 10 < classes.len() * 9 {
                    continue;
                }
                let own = classify(v);
                match (top, own) {
                    (_, None) => {}
                    (FieldClass::Text, Some(FieldClass::Text)) => {
                        let len = vals[0].trim_ascii().len();
                        let same = vals.iter().all(|x| x.trim_ascii().len() == len);
                        if same && vals.len() >= 2 && v.trim_ascii().len() != len {
                            votes += 1;
                            any = true;
                        }
                    }
                    (FieldClass::Text, Some(_)) => {
                        votes -= 1;
                        any = true;
                    }
                    (t, Some(o)) => {
                        any = true;
                        votes += if o == FieldClass::Text {
                            1
                        } else if o == t {
                            -1
                        } else {
                            0
                        };
                    }
                }
            }
            if any {
                votes > 0
            } else {
                // No column tells: a header has no field of digits alone (names may hold
                // digits, `address2`), and the next line has a digit somewhere.
                let numeric = first
                    .iter()
                    .any(|v| matches!(classify(v), Some(FieldClass::Number | FieldClass::Numeric)));
                !numeric && lines[1].iter().any(u8::is_ascii_digit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_counts_equal_the_fields_found() {
        let tricky: [&[u8]; 12] = [
            b"",
            b"a",
            b"a,b,c\r\n",
            b"\"a,b\",c",
            b"\"say \"\"hi\"\"\",x,\n",
            b"a\"b,c",
            b"\"\",\"\"\"\",",
            b"\"open, never closed",
            b",,,",
            b"\"x\"y,z",
            b"\"\"\"a\",b",
            b"1,\"x\ny\",2\n",
        ];
        for t in tricky {
            assert_eq!(
                field_count(t),
                fields(t).len(),
                "{:?}",
                String::from_utf8_lossy(t)
            );
        }
        // Every string of up to 6 bytes over the bytes that matter.
        let alphabet = [b'"', b',', b'a', b'\n'];
        for len in 0..=6u32 {
            for code in 0..4usize.pow(len) {
                let s: Vec<u8> = (0..len)
                    .map(|i| alphabet[code / 4usize.pow(i) % 4])
                    .collect();
                assert_eq!(field_count(&s), fields(&s).len(), "{s:?}");
            }
        }
    }

    #[test]
    fn keys_by_column_name_and_regex() {
        let header = b"member_no,name\n";
        let named = KeySpec::parse("member_no").unwrap();
        assert_eq!(key_column(&named, Some(header)), Ok(Some(0)));
        assert!(key_column(&named, None).is_err());
        assert!(key_column(&KeySpec::parse("nope").unwrap(), Some(header)).is_err());
        assert_eq!(key_column(&KeySpec::Column(2), None), Ok(Some(1)));
        let rec = b"100000002,Bob Brown";
        assert_eq!(
            record_key(rec, &named, Some(0)),
            Some(b"100000002".to_vec())
        );
        assert_eq!(
            record_key(rec, &KeySpec::Column(2), Some(1)),
            Some(b"Bob Brown".to_vec())
        );
        assert_eq!(record_key(b",NoKey", &named, Some(0)), None);
        let re = KeySpec::parse("^(\\d{9}),").unwrap();
        assert_eq!(record_key(rec, &re, None), Some(b"100000002".to_vec()));
        assert_eq!(record_key(b"x,1", &re, None), None);
    }

    #[test]
    fn records_read_streaming_equal_the_split() {
        let d: &[u8] = b"a,b\r\n\"x\ny\",2\n\"q\"\"\n\"\nlast";
        for format in [
            RecordFormat::Lines,
            RecordFormat::Csv,
            RecordFormat::Fixed(4),
        ] {
            let mut r = d;
            let (mut got, mut rec) = (Vec::new(), Vec::new());
            while read_record(&mut r, &format, &mut rec).unwrap() > 0 {
                got.push(rec.clone());
            }
            let want: Vec<Vec<u8>> = split(d, &format)
                .into_iter()
                .map(|x| d[x].to_vec())
                .collect();
            assert_eq!(got, want, "{format:?}");
        }
    }

    #[test]
    fn lines_csv_and_fixed_records_as_stored() {
        let d = b"a,b\r\n\"x\ny\",2\nlast";
        let lines: Vec<_> = split(d, &RecordFormat::Lines)
            .into_iter()
            .map(|r| &d[r])
            .collect();
        assert_eq!(lines, vec![&b"a,b\r\n"[..], b"\"x\n", b"y\",2\n", b"last"]);
        let csv: Vec<_> = split(d, &RecordFormat::Csv)
            .into_iter()
            .map(|r| &d[r])
            .collect();
        assert_eq!(csv, vec![&b"a,b\r\n"[..], b"\"x\ny\",2\n", b"last"]);
        let fixed: Vec<_> = split(b"abcdefg", &RecordFormat::Fixed(3))
            .into_iter()
            .map(|r| r.len())
            .collect();
        assert_eq!(fixed, vec![3, 3, 1]);
    }

    #[test]
    fn csv_fields_unquote() {
        assert_eq!(
            fields(b"1,\"a,\"\"b\"\"\",c\r\n"),
            vec![b"1".to_vec(), b"a,\"b\"".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn key_specs_and_formats_parse() {
        assert!(matches!(KeySpec::parse("1"), Ok(KeySpec::Column(1))));
        assert!(KeySpec::parse("0").is_err());
        assert!(matches!(KeySpec::parse("member_no"), Ok(KeySpec::Name(_))));
        assert!(matches!(
            KeySpec::parse("^(\\d{9}),"),
            Ok(KeySpec::Regex(_))
        ));
        assert!(KeySpec::parse("(unclosed").is_err());
        assert_eq!(
            "fixed:120".parse::<RecordFormat>(),
            Ok(RecordFormat::Fixed(120))
        );
        assert!("fixed:0".parse::<RecordFormat>().is_err());
        assert!("json".parse::<RecordFormat>().is_err());
    }

    #[test]
    fn header_detection() {
        let d = b"member_no,name\n100000001,A\n";
        let r = split(d, &RecordFormat::Csv);
        assert!(has_header(d, &r, Header::Auto));
        let d = b"100000001,A\n100000002,B\n";
        let r = split(d, &RecordFormat::Csv);
        assert!(!has_header(d, &r, Header::Auto));
    }

    #[test]
    fn header_detection_by_column_types() {
        let auto = |d: &[u8], f: RecordFormat| has_header(d, &split(d, &f), Header::Auto);
        // Digits in the header's names.
        let d = b"member_no,name,address2,card_last4\n\
                  400000001,Taro Sato,\"1-2 Chuo, Tokyo\",1234\n\
                  400000002,Ken Ito,,0042\n";
        assert!(auto(d, RecordFormat::Csv));
        assert!(auto(d, RecordFormat::Lines));
        // Dates and phone numbers against text; one-letter flags against a long name.
        let d = b"enrolled,phone,gender\n2014-01-02,03-1234-5678,M\n2013-11-30,03-9876-5432,F\n";
        assert!(auto(d, RecordFormat::Csv));
        // Records only, with text columns and digits everywhere: no header.
        let d = b"400000001,Taro Sato,M,1234\n400000002,Ken Ito,F,0042\n400000003,Aiko,F,7\n";
        assert!(!auto(d, RecordFormat::Csv));
        // Tab-separated lines with a header.
        let d = b"id\tname\tzip2\n17\tA\t100-0001\n18\tB\t100-0002\n";
        assert!(auto(d, RecordFormat::Lines));
        // Text-only records of varying length: the digit rule decides.
        let d = b"Taro Sato\nKen Ito\n";
        assert!(!auto(d, RecordFormat::Lines));
        // No column votes, a digit in a name: still a header.
        let d =
            b"name,email,address2\nTaro Sato,taro@x.jp,1-2 Chuo Tokyo\nKen Ito,ken@x.jp,3 Ginza\n";
        assert!(auto(d, RecordFormat::Csv));
        // One line.
        assert!(!auto(b"member_no,name\n", RecordFormat::Csv));
    }
}
