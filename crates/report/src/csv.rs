//! Reading the run's CSV tables back (RFC 4180: quoted fields, doubled quotes, CRLF or LF).

use crate::error::{format, io, Result};
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

    /// [`Table::parse`] keeping only the columns named in `keep`.
    pub fn parse_columns(text: &str, keep: &[&str]) -> std::result::Result<Table, String> {
        let mut header: Option<Vec<String>> = None;
        let mut index: Vec<usize> = Vec::new();
        let mut rows = Vec::new();
        let mut line = 1;
        each_record(text, |mut r| {
            match &header {
                None => {
                    index = (0..r.len())
                        .filter(|&i| keep.contains(&r[i].as_str()))
                        .collect();
                    header = Some(r);
                }
                Some(h) => {
                    line += 1;
                    if r.len() != h.len() {
                        return Err(format!(
                            "line {line}: {} cells, the header has {}",
                            r.len(),
                            h.len()
                        ));
                    }
                    rows.push(index.iter().map(|&i| std::mem::take(&mut r[i])).collect());
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
        let mut records = records(text)?.into_iter();
        let header = records.next().unwrap_or_default();
        let mut rows = Vec::new();
        for (i, r) in records.enumerate() {
            if r.len() != header.len() {
                return Err(format!(
                    "line {}: {} cells, the header has {}",
                    i + 2,
                    r.len(),
                    header.len()
                ));
            }
            rows.push(r);
        }
        Ok(Table { header, rows })
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

fn records(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    each_record(text, |r| {
        out.push(r);
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with each record of `text`, in order.
fn each_record(
    text: &str,
    mut f: impl FnMut(Vec<String>) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
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
                f(std::mem::take(&mut row))?;
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
        f(row)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
