//! STIX 2.1 indicator patterns (the part that names network observables).
//!
//! Read first: STIX 2.1 §9 (patterning). Supported: comparison expressions on
//! `ipv4-addr:value`, `ipv6-addr:value` (`=` or `ISSUBSET` with a CIDR), `domain-name:value`
//! and `url:value`, joined with `OR` inside or between observation brackets. `AND`,
//! `FOLLOWEDBY`, qualifiers and other object types are reported as unsupported.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1};
use nom::character::complete::{char, multispace0, multispace1};
use nom::combinator::{all_consuming, map};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// One `object:property op 'value'` comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// e.g. `ipv4-addr:value`.
    pub path: String,
    /// `=` or `ISSUBSET`.
    pub op: String,
    /// The literal, unescaped.
    pub value: String,
}

fn string_literal(i: &str) -> IResult<&str, String> {
    let (rest, _) = char('\'').parse(i)?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((pos, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            '\'' => return Ok((&rest[pos + 1..], out)),
            c => out.push(c),
        }
    }
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Char,
    )))
}

fn path(i: &str) -> IResult<&str, String> {
    let ident = |i| {
        take_while1(|c: char| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '\''
        })(i)
    };
    map(
        (ident, char(':'), ident),
        |(a, _, b): (&str, char, &str)| format!("{a}:{b}"),
    )
    .parse(i)
}

fn comparison(i: &str) -> IResult<&str, Comparison> {
    map(
        (
            path,
            delimited(
                multispace0,
                alt((tag("="), tag_no_case("ISSUBSET"))),
                multispace0,
            ),
            string_literal,
        ),
        |(path, op, value)| Comparison {
            path,
            op: op.to_ascii_uppercase(),
            value,
        },
    )
    .parse(i)
}

fn or_sep(i: &str) -> IResult<&str, &str> {
    delimited(multispace1, tag_no_case("OR"), multispace1).parse(i)
}

fn observation(i: &str) -> IResult<&str, Vec<Comparison>> {
    delimited(
        preceded(multispace0, char('[')),
        delimited(
            multispace0,
            separated_list1(or_sep, comparison),
            multispace0,
        ),
        char(']'),
    )
    .parse(i)
}

/// Parses a pattern into its comparisons (all joined by OR).
pub fn parse_pattern(p: &str) -> Result<Vec<Comparison>, String> {
    let upper = p.to_ascii_uppercase();
    for kw in [" AND ", "FOLLOWEDBY", " WITHIN ", " REPEATS ", " START "] {
        if upper.contains(kw) {
            return Err(format!(
                "unsupported STIX pattern construct {:?}",
                kw.trim()
            ));
        }
    }
    let parsed: IResult<&str, Vec<Vec<Comparison>>> = all_consuming(delimited(
        multispace0,
        separated_list1(or_sep, observation),
        multispace0,
    ))
    .parse(p);
    match parsed {
        Ok((_, obs)) => Ok(obs.into_iter().flatten().collect()),
        Err(_) => Err(format!("unparseable STIX pattern {p:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_or_patterns() {
        let c = parse_pattern("[ipv4-addr:value = '203.0.113.10']").unwrap();
        assert_eq!(
            c,
            vec![Comparison {
                path: "ipv4-addr:value".into(),
                op: "=".into(),
                value: "203.0.113.10".into()
            }]
        );
        let c = parse_pattern("[domain-name:value = 'a.example.com' OR domain-name:value = 'b.example.com'] OR [url:value = 'http://x.example.com/up']").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].path, "url:value");
        let c = parse_pattern("[ipv4-addr:value ISSUBSET '198.51.100.0/25']").unwrap();
        assert_eq!(c[0].op, "ISSUBSET");
        let c = parse_pattern(r"[domain-name:value = 'it\'s.example.com']").unwrap();
        assert_eq!(c[0].value, "it's.example.com");
    }

    #[test]
    fn unsupported_and_broken_patterns_are_errors() {
        assert!(
            parse_pattern("[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']").is_err()
        );
        assert!(parse_pattern("[a:b = '1'] FOLLOWEDBY [c:d = '2']").is_err());
        assert!(parse_pattern("[ipv4-addr:value = '1.2.3.4'").is_err());
        assert!(parse_pattern("ipv4-addr:value = '1.2.3.4'").is_err());
        assert!(parse_pattern("").is_err());
    }
}
