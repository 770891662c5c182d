//! Reading the run's CSV tables back (RFC 4180: quoted fields, doubled quotes, CRLF or LF).

use crate::error::{format, io, Result};
use std::borrow::Cow;
use std::path::Path;

/// A CSV table: header and rows of text cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads a CSV file.
    pub fn read(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
        Table::parse(&text).map_err(|e| format(path, e))
    }

    /// Reads a CSV file keeping only the columns named in `keep` (those present, in the
    /// file's order): a large table costs memory for what is used only.
    pub fn read_columns(path: &Path, keep: &[&str]) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
        Table::parse_columns(&text, keep).map_err(|e| format(path, e))
    }

    /// [`Table::parse`] keeping only the columns named in `keep`: the cells of the other
    /// columns are never copied.
    pub fn parse_columns(text: &str, keep: &[&str]) -> std::result::Result<Table, String> {
        let mut header: Option<Vec<String>> = None;
        let mut index: Vec<usize> = Vec::new();
        let mut rows = Vec::new();
        let mut line = 1;
        each_record(text, |r| {
            match &header {
                None => {
                    index = (0..r.len()).filter(|&i| keep.contains(&&*r[i])).collect();
                    header = Some(r.iter().map(|c| c.to_string()).collect());
                }
                Some(h) => {
                    line += 1;
                    if r.len() != h.len() {
                        return Err(ragged(line, r.len(), h.len()));
                    }
                    rows.push(
                        index
                            .iter()
                            .map(|&i| std::mem::take(&mut r[i]).into_owned())
                            .collect(),
                    );
                }
            }
            Ok(())
        })?;
        let header = header.unwrap_or_default();
        Ok(Table {
            header: index.iter().map(|&i| header[i].clone()).collect(),
            rows,
        })
    }

    /// Parses CSV text; every row must have as many cells as the header.
    pub fn parse(text: &str) -> std::result::Result<Table, String> {
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let mut line = 1;
        each_record(text, |r| {
            let cells: Vec<String> = r.drain(..).map(Cow::into_owned).collect();
            match &header {
                None => header = Some(cells),
                Some(h) => {
                    line += 1;
                    if cells.len() != h.len() {
                        return Err(ragged(line, cells.len(), h.len()));
                    }
                    rows.push(cells);
                }
            }
            Ok(())
        })?;
        Ok(Table {
            header: header.unwrap_or_default(),
            rows,
        })
    }

    /// Index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The cell of `row` in column `name` ("" when the column is absent).
    pub fn get<'a>(&'a self, row: &'a [String], name: &str) -> &'a str {
        self.col(name)
            .and_then(|i| row.get(i))
            .map_or("", String::as_str)
    }

    /// The cell as an unsigned integer (0 when empty or absent).
    pub fn u64(&self, row: &[String], name: &str) -> u64 {
        self.get(row, name).parse().unwrap_or(0)
    }
}

/// Bytes read at a time by [`each_row`].
const BLOCK: usize = 1 << 22;

/// Reads the CSV file at `path` block by block, calling `f` with the cells of each data row in
/// the columns named in `keep` (in `keep`'s order; a column the header lacks gives an empty
/// cell): memory for one block and the longest record, whatever the file's length. Every row
/// must have as many cells as the header.
pub fn each_row(path: &Path, keep: &[&str], f: impl FnMut(&[&str])) -> Result<()> {
    each_row_in(path, keep, BLOCK, f)
}

/// [`each_row`], reading `block` bytes at a time.
fn each_row_in(path: &Path, keep: &[&str], block: usize, mut f: impl FnMut(&[&str])) -> Result<()> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(io("reading", path))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut header: Option<usize> = None;
    let mut index: Vec<Option<usize>> = Vec::new();
    let mut line = 1;
    let mut consumed = 0;
    let mut eof = false;
    // How far the buffer was scanned for a record end, the quote parity there, and the last
    // record end found (kept while a record runs over several reads).
    let (mut scanned, mut even, mut last) = (0, true, None);
    while !eof {
        let start = buf.len();
        buf.resize(start + block, 0);
        let n = file.read(&mut buf[start..]).map_err(io("reading", path))?;
        buf.truncate(start + n);
        eof = n == 0;
        // Records end at a newline outside quotes (an even number of quotes before it).
        let end = if eof {
            buf.len()
        } else {
            for (i, &b) in buf.iter().enumerate().skip(scanned) {
                match b {
                    b'"' => even = !even,
                    b'\n' if even => last = Some(i + 1),
                    _ => {}
                }
            }
            scanned = buf.len();
            match last {
                Some(e) => e,
                None => continue,
            }
        };
        let text = std::str::from_utf8(&buf[..end]).map_err(|e| {
            format(
                path,
                format_args!("byte {}: not UTF-8 text", consumed + e.valid_up_to()),
            )
        })?;
        each_record(text, |r| {
            match header {
                None => {
                    index = keep.iter().map(|k| r.iter().position(|c| c == k)).collect();
                    header = Some(r.len());
                }
                Some(h) => {
                    line += 1;
                    if r.len() != h {
                        return Err(ragged(line, r.len(), h));
                    }
                    let cells: Vec<&str> = index.iter().map(|i| i.map_or("", |i| &*r[i])).collect();
                    f(&cells);
                }
            }
            Ok(())
        })
        .map_err(|e| format(path, e))?;
        buf.drain(..end);
        consumed += end;
        // What is left starts a record: scanned again with the next read.
        (scanned, even, last) = (0, true, None);
    }
    Ok(())
}

fn ragged(line: usize, cells: usize, header: usize) -> String {
    format!("line {line}: {cells} cells, the header has {header}")
}

/// Calls `f` with the cells of each record of `text`, in order (`f` may take them). A cell
/// without quotes is a slice of `text`; only a quoted one is copied.
fn each_record<'t>(
    text: &'t str,
    mut f: impl FnMut(&mut Vec<Cow<'t, str>>) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let n = text.len();
    let b = text.as_bytes();
    let mut row: Vec<Cow<'t, str>> = Vec::new();
    let mut i = 0;
    while i < n {
        let (c, end) = cell(text, i)?;
        row.push(c);
        match b.get(end) {
            Some(b',') => {
                i = end + 1;
                if i == n {
                    // A comma ends the text: one more, empty cell.
                    row.push(Cow::Borrowed(""));
                }
            }
            Some(_) => i = end + 1,
            None => i = n,
        }
        if i == n || b.get(end) == Some(&b'\n') {
            f(&mut row)?;
            row.clear();
        }
    }
    Ok(())
}

/// The cell that starts at byte `i` of `text` and the index of what ends it: an unquoted
/// comma or line feed, or the end of the text. A carriage return before a line feed is
/// dropped; a quote anywhere toggles quoting, and a doubled quote inside quotes is one
/// quote.
fn cell(text: &str, mut i: usize) -> std::result::Result<(Cow<'_, str>, usize), String> {
    let b = text.as_bytes();
    let n = b.len();
    let special = |c: u8| matches!(c, b',' | b'\n' | b'\r' | b'"');
    let start = i;
    while i < n && !special(b[i]) {
        i += 1;
    }
    match b.get(i) {
        None | Some(b',') | Some(b'\n') => return Ok((Cow::Borrowed(&text[start..i]), i)),
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => {
            return Ok((Cow::Borrowed(&text[start..i]), i + 1))
        }
        _ => {}
    }
    // Quotes or a lone carriage return: the cell is built.
    let mut out = String::from(&text[start..i]);
    let mut quoted = false;
    while i < n {
        if quoted {
            let Some(q) = b[i..].iter().position(|&c| c == b'"') else {
                break;
            };
            out.push_str(&text[i..i + q]);
            i += q + 1;
            if b.get(i) == Some(&b'"') {
                out.push('"');
                i += 1;
            } else {
                quoted = false;
            }
            continue;
        }
        match b[i] {
            b'"' => {
                quoted = true;
                i += 1;
            }
            b',' | b'\n' => return Ok((Cow::Owned(out), i)),
            b'\r' if b.get(i + 1) == Some(&b'\n') => i += 1,
            _ => {
                let run = i;
                i += 1;
                while i < n && !special(b[i]) {
                    i += 1;
                }
                out.push_str(&text[run..i]);
            }
        }
    }
    if quoted {
        return Err("a quoted cell does not end".into());
    }
    Ok((Cow::Owned(out), n))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The reading of CSV text one character at a time (the reader before its byte-wise
    /// fast path), as the oracle of the fast path.
    fn char_by_char(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
        let mut out = Vec::new();
        let mut row: Vec<String> = Vec::new();
        let mut cell = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        let mut any = false;
        while let Some(c) = chars.next() {
            any = true;
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        cell.push('"');
                        chars.next();
                    } else {
                        quoted = false;
                    }
                } else {
                    cell.push(c);
                }
                continue;
            }
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut cell)),
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    row.push(std::mem::take(&mut cell));
                    out.push(std::mem::take(&mut row));
                    any = false;
                }
                _ => cell.push(c),
            }
        }
        if quoted {
            return Err("a quoted cell does not end".into());
        }
        if any {
            row.push(cell);
            out.push(row);
        }
        Ok(out)
    }

    fn records(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
        let mut out = Vec::new();
        each_record(text, |r| {
            out.push(r.drain(..).map(Cow::into_owned).collect());
            Ok(())
        })?;
        Ok(out)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Any text of commas, quotes, line ends and other characters (multi-byte ones
        /// too) reads as the character-by-character reader reads it, errors included.
        #[test]
        fn the_fast_path_reads_as_one_character_at_a_time(
            text in "[a,\"\r\né日]{0,40}"
        ) {
            proptest::prop_assert_eq!(records(&text), char_by_char(&text));
        }
    }

    #[test]
    fn edge_cases_read_as_one_character_at_a_time() {
        for text in [
            "",
            "\n",
            "\r\n",
            "\r",
            "a",
            "a,",
            "a,\n",
            ",",
            "\"\"",
            "\"",
            "a\"b\"c",
            "\"a,b\"\r\nc",
            "a\r\rb\r\n",
            "\"x\"\"\"",
            "日,\"本\"\n",
        ] {
            assert_eq!(records(text), char_by_char(text), "{text:?}");
        }
        assert!(records("a\n\"open").is_err());
    }

    #[test]
    fn quotes_commas_and_line_ends() {
        let t = Table::parse("a,b,c\r\n1,\"x, \"\"y\"\"\",\r\n\"\",2,\"multi\nline\"").unwrap();
        assert_eq!(t.header, ["a", "b", "c"]);
        assert_eq!(t.rows[0], ["1", "x, \"y\"", ""]);
        assert_eq!(t.rows[1], ["", "2", "multi\nline"]);
        assert_eq!(t.get(&t.rows[1], "b"), "2");
        assert_eq!(t.u64(&t.rows[1], "b"), 2);
        assert_eq!(t.get(&t.rows[1], "zz"), "");
    }

    #[test]
    fn ragged_rows_and_open_quotes_are_errors() {
        assert!(Table::parse("a,b\n1\n").is_err());
        assert!(Table::parse("a\n\"open\n").is_err());
        assert_eq!(Table::parse("").unwrap(), Table::default());
        assert!(Table::parse_columns("a,b\n1\n", &["a"]).is_err());
    }

    #[test]
    fn a_projection_keeps_the_named_columns_in_file_order() {
        let text = "a,b,c\n1,\"x,y\",3\n4,5,6\n";
        let t = Table::parse_columns(text, &["c", "a", "zz"]).unwrap();
        assert_eq!(t.header, ["a", "c"]);
        assert_eq!(t.rows, [["1", "3"], ["4", "6"]]);
        assert_eq!(t.get(&t.rows[0], "c"), "3");
    }

    /// Rows of `text` as [`each_row_in`] reads them from a file in blocks of `block` bytes
    /// (the kept cells, in `keep`'s order), or the error.
    fn rows_in_blocks(
        text: &str,
        keep: &[&str],
        block: usize,
    ) -> std::result::Result<Vec<Vec<String>>, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        let mut rows = Vec::new();
        each_row_in(&p, keep, block, |c| {
            rows.push(c.iter().map(|s| s.to_string()).collect())
        })
        .map_err(|e| e.to_string())?;
        Ok(rows)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1500))]
        /// Read block by block (records cut anywhere, inside quotes too), a file gives the
        /// rows the whole text gives, in the kept columns' order; an error both ways.
        #[test]
        fn rows_read_in_blocks_are_the_rows_of_the_whole_text(
            text in "[a,\"\r\né日]{0,60}",
            block in 1usize..24,
        ) {
            let whole = Table::parse(&format!("a,b\n{text}")).map(|t| {
                t.rows.into_iter().map(|r| vec![r[1].clone(), r[0].clone(), String::new()]).collect::<Vec<_>>()
            });
            let blocks = rows_in_blocks(&format!("a,b\n{text}"), &["b", "a", "zz"], block);
            proptest::prop_assert_eq!(whole.is_ok(), blocks.is_ok(), "{:?} {:?}", whole, blocks);
            if let (Ok(w), Ok(b)) = (whole, blocks) {
                proptest::prop_assert_eq!(w, b);
            }
        }
    }

    #[test]
    fn a_bad_file_is_named_with_the_line_or_byte() {
        let e = rows_in_blocks("a,b\n1,2\n3\n", &["a"], 4).unwrap_err();
        assert!(e.contains("t.csv") && e.contains("line 3"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.csv");
        std::fs::write(&p, b"a,b\n1,\xff\n").unwrap();
        let e = each_row_in(&p, &["a"], 3, |_| {}).unwrap_err().to_string();
        assert!(e.contains("u.csv") && e.contains("byte 6"), "{e}");
    }
}
