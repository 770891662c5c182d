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
    }
}
