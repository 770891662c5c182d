//! The case's time zone: IANA names via chrono-tz.

use anyhow::{anyhow, Result};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use exfilmeter_ingest::Timestamp;

/// Parses an IANA zone name (`Asia/Tokyo`, `UTC`).
pub fn parse_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        anyhow!("unknown time zone {name:?} (expected an IANA name such as Asia/Tokyo or UTC)")
    })
}

/// RFC 3339 in the given zone with nanoseconds and the numeric offset.
pub fn format_in(ts: Timestamp, zone: Tz) -> String {
    let utc: DateTime<Utc> =
        DateTime::from_timestamp(ts.secs(), ts.subsec_nanos()).unwrap_or(DateTime::<Utc>::MIN_UTC);
    zone.from_utc_datetime(&utc.naive_utc())
        .format("%Y-%m-%dT%H:%M:%S%.9f%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokyo_is_nine_hours_ahead() {
        let z = parse_zone("Asia/Tokyo").unwrap();
        let t = Timestamp::from_parts(1_411_084_800, 5).unwrap(); // 2014-09-19T00:00:00Z
        assert_eq!(format_in(t, z), "2014-09-19T09:00:00.000000005+09:00");
    }

    #[test]
    fn unknown_zone_is_an_error() {
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
