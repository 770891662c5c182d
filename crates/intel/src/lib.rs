//! Indicators of compromise for exfilmeter: reading IOC lists and deciding, with
//! evidence, whether a flow talks to a malicious host.
//!
//! - [`IocSet::load`] reads plain text (IP, CIDR, domain, `*.suffix`, URL per line, `#`
//!   comments, defanged forms), CSV (`indicator,type,label,valid_from,valid_until`) and
//!   STIX 2.1 bundles (patterns on `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, with
//!   `OR`), MISP event and feed exports (network attributes with `to_ids`, first/last seen)
//!   and Zeek Intel framework files. Malformed entries are errors naming file and line, or
//!   warnings when lenient; well-formed entries that are not network indicators are counted
//!   as ignored.
//! - [`IocSet::match_ip`] (longest prefix) and [`IocSet::match_name`] (exact, then the
//!   longest `*.suffix`) honour validity windows.
//! - [`PassiveDns`] remembers the capture's own DNS answers (TTL + grace, CNAME chains).
//! - [`Internal`] holds the internal networks that define "outbound".
//!
//! ```
//! use exfilmeter_intel::{IocSet, Format};
//! use exfilmeter_ingest::Timestamp;
//! let mut set = IocSet::default();
//! set.add_source("iocs.txt".as_ref(), "198.51.100.0/25\n*.example.org # C2\n", Format::Text, false)?;
//! let id = set.match_ip("198.51.100.23".parse().unwrap(), Timestamp(0)).unwrap();
//! assert_eq!(set.origin_text(id), "iocs.txt:1");
//! assert!(set.match_name("ntp.time-sync-service.example.org", Timestamp(0)).is_some());
//! # Ok::<(), exfilmeter_intel::IntelError>(())
//! ```

mod attribute;
mod exchange;
mod indicator;
mod load;
mod net;
mod pdns;
mod set;
mod sighting;
mod stix;

pub use attribute::{Attributor, Reason, Verdict, VerdictSink, Via};
pub use indicator::{classify, normalize_name, refang, Indicator, Origin, Target};
pub use load::{detect_format, Format, IntelError, Warning};
pub use net::{Internal, Net};
pub use pdns::{PassiveDns, Resolution};
pub use set::{IocId, IocSet};
pub use sighting::{pattern, sightings_bundle, Seen};
pub use stix::{parse_pattern, Comparison};
