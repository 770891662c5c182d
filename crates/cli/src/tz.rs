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

/// A `--since`/`--until` time: RFC 3339 with an offset (an instant), or a local date or date
/// and time in the case's zone `zone` (`2014-09-18`, `2014-09-18 09:30`, `2014-09-18T09:30:15`).
/// A bare date given as `--until` (`end_of_day`) means the end of that local day: the next
/// local midnight.
pub fn parse_instant(s: &str, zone: Tz, end_of_day: bool) -> Result<Timestamp> {
    let t = s.trim();
    let nanos = |dt: DateTime<Utc>| {
        dt.timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| anyhow!("{t:?}: out of range"))
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return nanos(dt.with_timezone(&Utc));
    }
    let local = |naive: chrono::NaiveDateTime| -> Result<Timestamp> {
        match zone.from_local_datetime(&naive) {
            chrono::LocalResult::Single(d) => nanos(d.with_timezone(&Utc)),
            // A repeated local hour (DST ends): the first of the two.
            chrono::LocalResult::Ambiguous(a, _) => nanos(a.with_timezone(&Utc)),
            chrono::LocalResult::None => Err(anyhow!(
                "{t:?} does not exist in {} (a daylight-saving gap)",
                zone.name()
            )),
        }
    };
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let day = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return local(day.and_hms_opt(0, 0, 0).unwrap_or_default());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return local(n);
        }
    }
    Err(anyhow!(
        "{t:?}: expected RFC 3339 (2014-09-18T09:30:00+09:00) or a local date or time in the \
         case's zone (2014-09-18, 2014-09-18 09:30)"
    ))
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
    fn since_and_until_in_the_case_zone_or_rfc3339() {
        let z = parse_zone("Asia/Tokyo").unwrap();
        let utc = |s: &str| {
            Timestamp(
                DateTime::parse_from_rfc3339(s)
                    .unwrap()
                    .timestamp_nanos_opt()
                    .unwrap(),
            )
        };
        assert_eq!(
            parse_instant("2014-09-18", z, false).unwrap(),
            utc("2014-09-17T15:00:00Z")
        );
        // A date as --until: through the end of that local day.
        assert_eq!(
            parse_instant("2014-09-18", z, true).unwrap(),
            utc("2014-09-18T15:00:00Z")
        );
        assert_eq!(
            parse_instant("2014-09-18 09:30", z, true).unwrap(),
            utc("2014-09-18T00:30:00Z")
        );
        assert_eq!(
            parse_instant("2014-09-18T00:30:00Z", z, false).unwrap(),
            utc("2014-09-18T00:30:00Z")
        );
        let ny = parse_zone("America/New_York").unwrap();
        assert!(parse_instant("2014-03-09 02:30", ny, false).is_err());
        assert!(parse_instant("yesterday", z, false).is_err());
    }

    #[test]
    fn unknown_zone_is_an_error() {
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
