//! Local calendar days in the case's time zone (DST days have 23 or 25 hours).

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use exfilmeter_ingest::Timestamp;

/// Maps timestamps to local days, caching the UTC bounds of the last day seen.
#[derive(Debug, Clone)]
pub struct DayClock {
    tz: Tz,
    start: i64,
    end: i64,
    day: NaiveDate,
}

impl DayClock {
    /// A clock for the zone.
    pub fn new(tz: Tz) -> DayClock {
        DayClock {
            tz,
            start: 0,
            end: 0,
            day: NaiveDate::MIN,
        }
    }

    /// The zone.
    pub fn zone(&self) -> Tz {
        self.tz
    }

    /// The local calendar day of `ts`.
    #[inline]
    pub fn day(&mut self, ts: Timestamp) -> NaiveDate {
        if ts.0 >= self.start && ts.0 < self.end {
            return self.day;
        }
        let utc = DateTime::<Utc>::from_timestamp(ts.secs(), ts.subsec_nanos())
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let day = self.tz.from_utc_datetime(&utc.naive_utc()).date_naive();
        self.day = day;
        self.start = self.midnight_utc_ns(day);
        self.end = day
            .checked_add_days(Days::new(1))
            .map_or(i64::MAX, |d| self.midnight_utc_ns(d));
        day
    }

    /// UTC nanoseconds of the first instant of the local day (the earliest valid local
    /// time at or after midnight, for zones whose DST change skips midnight).
    fn midnight_utc_ns(&self, day: NaiveDate) -> i64 {
        let mut t = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        for _ in 0..180 {
            if let Some(dt) = self.tz.from_local_datetime(&t).earliest() {
                return dt.timestamp_nanos_opt().unwrap_or(i64::MIN);
            }
            t += chrono::Duration::minutes(1);
        }
        i64::MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        let dt = DateTime::parse_from_rfc3339(s).unwrap();
        Timestamp(dt.timestamp_nanos_opt().unwrap())
    }

    #[test]
    fn tokyo_midnight_splits_days() {
        let mut c = DayClock::new("Asia/Tokyo".parse().unwrap());
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(c.day(ts("2014-09-22T14:59:59.999999999Z")), d("2014-09-22"));
        assert_eq!(c.day(ts("2014-09-22T15:00:00Z")), d("2014-09-23"));
        assert_eq!(c.day(ts("2014-09-22T14:59:59Z")), d("2014-09-22"));
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let mut c = DayClock::new("Europe/Berlin".parse().unwrap());
        c.day(ts("2014-03-30T12:00:00Z"));
        assert_eq!(c.end - c.start, 23 * 3600 * 1_000_000_000);
        c.day(ts("2014-10-26T12:00:00Z"));
        assert_eq!(c.end - c.start, 25 * 3600 * 1_000_000_000);
    }
}
