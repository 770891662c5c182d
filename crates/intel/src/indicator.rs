//! Indicators of compromise: what they match, where they came from, when they are valid.

use crate::net::Net;
use exfilmeter_ingest::Timestamp;
use std::fmt;
use std::net::IpAddr;

/// What an indicator matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// An address or network (longest prefix wins).
    Net(Net),
    /// Exactly this host name (lower case, no trailing dot).
    Name(String),
    /// This name and every name below it (`*.example.com` matches `a.example.com`, not
    /// `example.com` itself).
    Suffix(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Net(n) if n.prefix == if n.addr.is_ipv4() { 32 } else { 128 } => {
                write!(f, "{}", n.addr)
            }
            Target::Net(n) => write!(f, "{n}"),
            Target::Name(s) => f.write_str(s),
            Target::Suffix(s) => write!(f, "*.{s}"),
        }
    }
}

/// Where an indicator was read: source file (index into [`crate::IocSet::sources`]) and
/// line (1-based; for STIX, the index of the object in the bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// Source file index.
    pub source: u32,
    /// Line number (1-based), or STIX object number (1-based).
    pub line: u32,
}

/// One indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// What it matches.
    pub target: Target,
    /// The indicator as written in the source (after refanging), e.g. a full URL.
    pub text: String,
    /// Free label (CSV `label`, STIX `name`).
    pub label: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// Not valid before (UTC), if given.
    pub valid_from: Option<Timestamp>,
    /// Not valid after (UTC), if given.
    pub valid_until: Option<Timestamp>,
}

impl Indicator {
    /// True if the indicator applies at `ts` (no window means always).
    pub fn valid_at(&self, ts: Timestamp) -> bool {
        self.valid_from.is_none_or(|f| ts >= f) && self.valid_until.is_none_or(|u| ts <= u)
    }
}

/// Undoes common defanging: `hxxp`, `[.]`, `(.)`, `{.}`, `[:]`, `[at]`.
pub fn refang(s: &str) -> String {
    let mut t = s.trim().to_string();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("[:]", ":"),
        ("[://]", "://"),
    ] {
        t = t.replace(from, to);
    }
    let lower = t.to_ascii_lowercase();
    for (from, to) in [
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("fxp://", "ftp://"),
    ] {
        if lower.starts_with(from) {
            t = format!("{to}{}", &t[from.len()..]);
        }
    }
    t
}

/// Normalises and checks a DNS name: lower case, no trailing dot, labels of letters,
/// digits, `-` and `_`, 1–63 bytes each, 253 bytes in all.
pub fn normalize_name(s: &str) -> Result<String, String> {
    let n = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if n.is_empty() || n.len() > 253 {
        return Err(format!("{s:?} is not a valid host name (length)"));
    }
    for label in n.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "{s:?} is not a valid host name (empty or long label)"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{s:?} is not a valid host name (character outside [a-z0-9-_])"
            ));
        }
    }
    // A single label (`localhost`, an internal host name) is a name like any other; but the
    // last label is never all digits (RFC 3696 §2), which catches mistyped addresses.
    if n.rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{s:?} is neither an IP address nor a host name (all-numeric last label)"
        ));
    }
    Ok(n)
}

/// `host:port` or `[v6]:port`: the host part, when `text` has that shape.
fn without_port(text: &str) -> Option<&str> {
    let (host, port) = text.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return None;
    }
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => Some(v6),
        None if !host.contains(':') && !host.is_empty() => Some(host),
        None => None,
    }
}

/// The host of a URL (`scheme://[user@]host[:port][/path]`), as a target.
pub fn url_host(url: &str) -> Result<Target, String> {
    let rest = url
        .split_once("://")
        .map(|x| x.1)
        .ok_or_else(|| format!("{url:?} is not a URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |x| x.1);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Target::Net(Net::host(ip)));
    }
    normalize_name(host).map(Target::Name)
}

/// Classifies one indicator written in free form: URL, IP, CIDR, `*.suffix` or domain.
pub fn classify(raw: &str) -> Result<(Target, String), String> {
    let text = refang(raw);
    if text.is_empty() {
        return Err("empty indicator".into());
    }
    if text.contains("://") {
        return url_host(&text).map(|t| (t, text));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((Target::Net(Net::host(ip)), text));
    }
    if text.contains('/') {
        return text.parse::<Net>().map(|n| (Target::Net(n), text));
    }
    if let Some(host) = without_port(&text) {
        // `host:port` (as IOC feeds write C2 endpoints): the host is matched; the port stays in
        // the indicator's text but does not narrow the match (docs/intel.md).
        let target = match host.parse::<IpAddr>() {
            Ok(ip) => Target::Net(Net::host(ip)),
            Err(_) => Target::Name(normalize_name(host)?),
        };
        return Ok((target, text));
    }
    let suffix = |s: &str| {
        let n = normalize_name(s)?;
        if !n.contains('.') {
            return Err(format!(
                "{text:?} would match a whole top-level domain; write the names to match"
            ));
        }
        Ok((Target::Suffix(n), text.clone()))
    };
    if let Some(s) = text.strip_prefix("*.") {
        return suffix(s);
    }
    if let Some(s) = text.strip_prefix('.') {
        return suffix(s);
    }
    normalize_name(&text).map(|n| (Target::Name(n), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_each_form() {
        let t = |s: &str| classify(s).map(|x| x.0.to_string());
        assert_eq!(t("203.0.113.10").unwrap(), "203.0.113.10");
        assert_eq!(t("198.51.100.0/25").unwrap(), "198.51.100.0/25");
        assert_eq!(t("2001:db8:c2::23").unwrap(), "2001:db8:c2::23");
        assert_eq!(
            t("Sync.JP-CDN-Update.example.NET.").unwrap(),
            "sync.jp-cdn-update.example.net"
        );
        assert_eq!(
            t("*.backup-store.example.com").unwrap(),
            "*.backup-store.example.com"
        );
        assert_eq!(
            t("https://user@files.example.com:8443/up?x=1").unwrap(),
            "files.example.com"
        );
        assert_eq!(t("http://[2001:db8::1]:80/x").unwrap(), "2001:db8::1");
    }

    #[test]
    fn single_labels_and_host_port_forms_are_indicators() {
        let t = |s: &str| classify(s).map(|x| x.0.to_string());
        assert_eq!(t("localhost").unwrap(), "localhost");
        assert_eq!(t("FILESRV01").unwrap(), "filesrv01");
        assert_eq!(t("203.0.113.7:8443").unwrap(), "203.0.113.7");
        assert_eq!(t("c2.example.com:443").unwrap(), "c2.example.com");
        assert_eq!(t("[2001:db8::7]:443").unwrap(), "2001:db8::7");
        assert_eq!(
            classify("c2.example.com:443").unwrap().1,
            "c2.example.com:443"
        );
        // Still refused: a port out of range, numbers that are not addresses, a TLD suffix.
        assert!(classify("c2.example.com:70000").is_err());
        assert!(classify("10.0.0.300").is_err());
        assert!(classify("12345").is_err());
        assert!(classify("*.com").is_err());
    }

    #[test]
    fn defanged_indicators_are_refanged() {
        assert_eq!(
            classify("203.0.113[.]10").unwrap().0.to_string(),
            "203.0.113.10"
        );
        assert_eq!(
            classify("hxxp://evil[.]example[.]com/a")
                .unwrap()
                .0
                .to_string(),
            "evil.example.com"
        );
    }

    #[test]
    fn malformed_indicators_are_errors() {
        for bad in [
            "",
            "exa mple.com",
            "10.0.0.0/40",
            "http://",
            "a..b.com",
            "ünï.example",
        ] {
            assert!(classify(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(classify(&long).is_err());
    }
}
