//! HTTP/1.x message heads (via `httparse`) and body framing (Content-Length, chunked),
//! so that request metadata, CONNECT targets and the body bytes' boundaries are known.
//! Endless headers and absurd chunk sizes end the parse of that direction (counted as
//! malformed); nothing is allocated by a wire length.

/// Longest message head buffered (bytes).
pub(crate) const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 96;

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    /// Method.
    pub method: String,
    /// Request target as sent (path, absolute URI, or `host:port` for CONNECT).
    pub target: String,
    /// Host header (lower case, port removed).
    pub host: Option<String>,
    /// Content-Length, if given.
    pub content_length: Option<u64>,
    /// Transfer-Encoding: chunked.
    pub chunked: bool,
    /// Content-Encoding, if given.
    pub content_encoding: Option<String>,
    /// Content-Type, if given.
    pub content_type: Option<String>,
    /// The multipart boundary of a `multipart/*` Content-Type.
    pub boundary: Option<String>,
    /// Length of the head in the stream (request line, headers, blank line).
    pub head_bytes: u64,
}

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Content-Length, if given.
    pub content_length: Option<u64>,
    /// Transfer-Encoding: chunked.
    pub chunked: bool,
    /// Content-Encoding, if given.
    pub content_encoding: Option<String>,
    /// Content-Type, if given.
    pub content_type: Option<String>,
}

/// `boundary=` parameter of a multipart Content-Type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return None;
    }
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The header fields a message head keeps (any other header is passed over without a copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Host,
    ContentLength,
    TransferEncoding,
    ContentEncoding,
    ContentType,
}

impl Field {
    /// The field a header name is, in any letter case.
    fn of(name: &str) -> Option<Field> {
        [
            ("host", Field::Host),
            ("content-length", Field::ContentLength),
            ("transfer-encoding", Field::TransferEncoding),
            ("content-encoding", Field::ContentEncoding),
            ("content-type", Field::ContentType),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, f)| f)
    }
}

/// Whether a Transfer-Encoding value names `chunked` (in any letter case).
fn names_chunked(v: &str) -> bool {
    v.as_bytes()
        .windows(7)
        .any(|w| w.eq_ignore_ascii_case(b"chunked"))
}

/// A header value as text, trimmed (invalid UTF-8 replaced).
fn value_text(v: &[u8]) -> std::borrow::Cow<'_, str> {
    match String::from_utf8_lossy(v) {
        std::borrow::Cow::Borrowed(t) => std::borrow::Cow::Borrowed(t.trim()),
        std::borrow::Cow::Owned(t) => std::borrow::Cow::Owned(t.trim().to_string()),
    }
}

impl HttpRequest {
    /// Records one header the request fields care about (others are ignored).
    fn set_header(&mut self, field: Field, v: &str) {
        match field {
            Field::Host => self.host = Some(strip_port(v)),
            Field::ContentLength => self.content_length = v.parse().ok(),
            Field::TransferEncoding => self.chunked |= names_chunked(v),
            Field::ContentEncoding => self.content_encoding = Some(v.to_string()),
            Field::ContentType => {
                self.boundary = boundary(v);
                self.content_type = Some(v.to_string());
            }
        }
    }

    /// For CONNECT: the host of `host:port` (lower case).
    pub fn connect_host(&self) -> Option<String> {
        if !self.method.eq_ignore_ascii_case("CONNECT") {
            return None;
        }
        Some(strip_port(&self.target))
    }
}

/// `host[:port]` or `[v6]:port` → host, lower case.
pub(crate) fn strip_port(s: &str) -> String {
    let s = s.trim();
    if let Some(v6) = s.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_ascii_lowercase();
    }
    match s.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => {
            h.to_ascii_lowercase()
        }
        _ => s.to_ascii_lowercase(),
    }
}

/// True if `b` starts like an HTTP request: a known method followed by a space or the
/// end of the line, or any upper-case method token on a line that mentions `HTTP/`.
pub(crate) fn looks_like_request(b: &[u8]) -> bool {
    const METHODS: [&[u8]; 10] = [
        b"GET",
        b"POST",
        b"PUT",
        b"HEAD",
        b"CONNECT",
        b"OPTIONS",
        b"DELETE",
        b"PATCH",
        b"TRACE",
        b"PROPFIND",
    ];
    let token_len = b
        .iter()
        .take_while(|c| c.is_ascii_uppercase() || **c == b'_' || **c == b'-')
        .count();
    let token = &b[..token_len];
    let after = b.get(token_len).copied();
    if after.is_none() {
        // Still inside the first token: keep waiting if it can become a method.
        return !token.is_empty() && METHODS.iter().any(|m| m.starts_with(token));
    }
    if !matches!(after, Some(b' ' | b'\r' | b'\n')) || !(3..=20).contains(&token_len) {
        return false;
    }
    if METHODS.contains(&token) {
        return true;
    }
    let line = b.split(|&c| c == b'\n').next().unwrap_or(b);
    line.windows(5).any(|w| w == b"HTTP/")
}

pub(crate) enum Head<T> {
    Complete(T, usize),
    Partial,
    Invalid,
}

pub(crate) fn parse_request(buf: &[u8]) -> Head<HttpRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let mut r = HttpRequest {
                method: req.method.unwrap_or("").to_string(),
                target: req.path.unwrap_or("").to_string(),
                ..HttpRequest::default()
            };
            for h in req.headers.iter() {
                if let Some(field) = Field::of(h.name) {
                    r.set_header(field, &value_text(h.value));
                }
            }
            Head::Complete(r, n)
        }
        Ok(httparse::Status::Partial) => Head::Partial,
        Err(_) => lenient_request(buf),
    }
}

/// A request head httparse rejects (e.g. `OPTIONS HTTP/1.1` without a target, odd
/// header bytes), read line by line the way Wireshark does: method token, optional
/// target, `Name: value` headers. Still rejects what is not HTTP-like at all.
fn lenient_request(buf: &[u8]) -> Head<HttpRequest> {
    let text = String::from_utf8_lossy(buf);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let Some(first) = lines.next() else {
        return Head::Invalid;
    };
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts
        .next()
        .filter(|t| !t.starts_with("HTTP/"))
        .unwrap_or("");
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
    {
        return Head::Invalid;
    }
    let mut r = HttpRequest {
        method: method.to_string(),
        target: target.to_string(),
        ..HttpRequest::default()
    };
    for line in lines.take(MAX_HEADERS) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(field) = Field::of(name.trim()) {
            r.set_header(field, value.trim());
        }
    }
    Head::Complete(r, buf.len())
}

/// A response head.
pub(crate) fn parse_response(buf: &[u8]) -> Head<HttpResponse> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let mut r = HttpResponse {
                status: resp.code.unwrap_or(0),
                ..HttpResponse::default()
            };
            for h in resp.headers.iter() {
                let Some(field) = Field::of(h.name) else {
                    continue;
                };
                let v = value_text(h.value);
                match field {
                    Field::ContentLength => r.content_length = v.parse().ok(),
                    Field::TransferEncoding => r.chunked |= names_chunked(&v),
                    Field::ContentEncoding => r.content_encoding = Some(v.into_owned()),
                    Field::ContentType => r.content_type = Some(v.into_owned()),
                    Field::Host => {}
                }
            }
            Head::Complete(r, n)
        }
        Ok(httparse::Status::Partial) => Head::Partial,
        Err(_) => Head::Invalid,
    }
}

/// De-chunking state machine over a byte stream (RFC 9112 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Reading the chunk-size line (bytes so far).
    Size(Vec<u8>),
    /// Inside chunk data (bytes left).
    Data(u64),
    /// Expecting the CRLF after chunk data (bytes of it left).
    DataEnd(u8),
    /// Reading trailer lines until an empty one (current line length).
    Trailer(usize),
    /// Finished.
    Done,
    /// Malformed.
    Bad,
}

/// What a chunked step produced: body bytes `data[range]`, and how many input bytes it used.
pub(crate) struct Step {
    pub(crate) used: usize,
    pub(crate) body: Option<std::ops::Range<usize>>,
}

impl Chunked {
    /// Consumes from `data`; returns the step (one piece at a time).
    pub(crate) fn step(&mut self, data: &[u8]) -> Step {
        match self {
            Chunked::Size(line) => {
                let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                    if line.len() + data.len() > 1024 {
                        *self = Chunked::Bad;
                    } else {
                        line.extend_from_slice(data);
                    }
                    return Step {
                        used: data.len(),
                        body: None,
                    };
                };
                line.extend_from_slice(&data[..nl]);
                let text = String::from_utf8_lossy(line);
                let hex = text.split(';').next().unwrap_or("").trim();
                *self = match u64::from_str_radix(hex, 16) {
                    Ok(0) => Chunked::Trailer(0),
                    // A chunk above 1 TiB is not real traffic.
                    Ok(n) if n < 1 << 40 => Chunked::Data(n),
                    _ => Chunked::Bad,
                };
                Step {
                    used: nl + 1,
                    body: None,
                }
            }
            Chunked::Data(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                *left -= n as u64;
                if *left == 0 {
                    *self = Chunked::DataEnd(2);
                }
                Step {
                    used: n,
                    body: Some(0..n),
                }
            }
            Chunked::DataEnd(left) => {
                let n = usize::from(*left).min(data.len());
                *left -= n as u8;
                if *left == 0 {
                    *self = Chunked::Size(Vec::new());
                }
                Step {
                    used: n,
                    body: None,
                }
            }
            Chunked::Trailer(cur) => {
                let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                    *cur += data.len();
                    if *cur > MAX_HEAD {
                        *self = Chunked::Bad;
                    }
                    return Step {
                        used: data.len(),
                        body: None,
                    };
                };
                let len = *cur + nl;
                // An empty line (just "\r") ends the trailers.
                let empty = len == 0 || (len == 1 && (nl == 1 && data[0] == b'\r' || *cur == 1));
                *self = if empty {
                    Chunked::Done
                } else {
                    Chunked::Trailer(0)
                };
                Step {
                    used: nl + 1,
                    body: None,
                }
            }
            Chunked::Done | Chunked::Bad => Step {
                used: 0,
                body: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A header name is a kept field exactly when its lower-case form is that field's
        /// name, and a value names `chunked` exactly when its lower-case form contains it.
        #[test]
        fn fields_and_chunked_match_their_lower_case_forms(
            name in "(?i:(host|content-length|transfer-encoding|content-encoding|content-type|x-é)){1,2}",
            value in "(?i:[a-z ,;é]{0,6}(chunked)?[a-z ,;é]{0,6})",
        ) {
            let lower = name.to_ascii_lowercase();
            let expected = match lower.as_str() {
                "host" => Some(Field::Host),
                "content-length" => Some(Field::ContentLength),
                "transfer-encoding" => Some(Field::TransferEncoding),
                "content-encoding" => Some(Field::ContentEncoding),
                "content-type" => Some(Field::ContentType),
                _ => None,
            };
            proptest::prop_assert_eq!(Field::of(&name), expected);
            proptest::prop_assert_eq!(
                names_chunked(&value),
                value.to_ascii_lowercase().contains("chunked")
            );
        }
    }

    #[test]
    fn kept_headers_in_any_case_and_with_invalid_utf8_are_read() {
        let head = b"POST /up HTTP/1.1\r\nHOST: Example.COM:8080\r\nX-Other: \xff\r\n\
            content-TYPE: multipart/form-data; boundary=\"b1\"\r\nTransfer-Encoding: gzip, CHUNKED\r\n\
            Content-Encoding:  \xfe gzip \r\n\r\n";
        let Head::Complete(r, n) = parse_request(head) else {
            panic!("the head is complete");
        };
        assert_eq!(n, head.len());
        assert_eq!(r.host.as_deref(), Some("example.com"));
        assert_eq!(r.boundary.as_deref(), Some("b1"));
        assert!(r.chunked);
        assert_eq!(r.content_encoding.as_deref(), Some("\u{fffd} gzip"));
        let Head::Complete(s, _) = parse_response(
            b"HTTP/1.1 200 OK\r\nCONTENT-length: 12\r\nContent-Type:  text/plain \r\n\r\n",
        ) else {
            panic!("the head is complete");
        };
        assert_eq!((s.status, s.content_length), (200, Some(12)));
        assert_eq!(s.content_type.as_deref(), Some("text/plain"));
    }

    #[test]
    fn request_head_fields() {
        let raw = b"POST /up HTTP/1.1\r\nHost: Sync.Example.NET:8080\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
        let Head::Complete(r, n) = parse_request(raw) else {
            panic!()
        };
        assert_eq!(n, raw.len() - 5);
        assert_eq!(r.method, "POST");
        assert_eq!(r.host.as_deref(), Some("sync.example.net"));
        assert_eq!(r.content_length, Some(5));
        let Head::Complete(m, _) = parse_request(
            b"POST /f HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=\"----xYz\"\r\n\r\n",
        ) else {
            panic!()
        };
        assert_eq!(m.boundary.as_deref(), Some("----xYz"));
        let Head::Complete(resp, _) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
        ) else {
            panic!()
        };
        assert!(resp.chunked && resp.status == 200);
        let Head::Complete(c, _) = parse_request(
            b"CONNECT files.example.com:443 HTTP/1.1\r\nHost: files.example.com:443\r\n\r\n",
        ) else {
            panic!()
        };
        assert_eq!(c.connect_host().as_deref(), Some("files.example.com"));
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a"),
            Head::Partial
        ));
        assert!(matches!(
            parse_request(b"\x16\x03\x01 garbage\r\n\r\n"),
            Head::Invalid
        ));
        // Wireshark-style leniency: no target, bare LF line ends.
        let Head::Complete(o, _) = parse_request(b"OPTIONS HTTP/1.1\nHost: www.example.com\n\n")
        else {
            panic!()
        };
        assert_eq!(
            (o.method.as_str(), o.host.as_deref()),
            ("OPTIONS", Some("www.example.com"))
        );
    }

    fn dechunk(mut input: &[u8]) -> (Vec<u8>, Chunked) {
        let mut c = Chunked::Size(Vec::new());
        let mut out = Vec::new();
        while !input.is_empty() && !matches!(c, Chunked::Done | Chunked::Bad) {
            let s = c.step(input);
            if let Some(r) = s.body {
                out.extend_from_slice(&input[r]);
            }
            input = &input[s.used..];
        }
        (out, c)
    }

    #[test]
    fn chunked_bodies_any_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(dechunk(body), (b"hello, world".to_vec(), Chunked::Done));
        // Byte by byte.
        let mut c = Chunked::Size(Vec::new());
        let mut out = Vec::new();
        for i in 0..body.len() {
            let b = &body[i..=i];
            let s = c.step(b);
            if let Some(r) = s.body {
                out.extend_from_slice(&b[r]);
            }
        }
        assert_eq!(out, b"hello, world");
        assert_eq!(c, Chunked::Done);
    }

    #[test]
    fn huge_or_bogus_chunk_sizes_stop_the_parse() {
        assert_eq!(dechunk(b"FFFFFFFFFFFFFFFF\r\nx").1, Chunked::Bad);
        assert_eq!(dechunk(b"zz\r\n").1, Chunked::Bad);
        let long = vec![b'1'; 4000];
        assert_eq!(dechunk(&long).1, Chunked::Bad);
    }
}
