//! Local calendar days in the case's time zone (DST days have 23 or 25 hours).

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use exfilmeter_ingest::Timestamp;

/// A local calendar day of the case, as its number of days since 1970-01-01 — the day number
/// polars and Parquet store for a `Date`. Every conversion between calendar dates, day numbers
/// and `YYYY-MM-DD` text goes through this type.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Day(pub i32);

impl Day {
    /// The day of a calendar date (saturating beyond ±5.8 million years).
    pub fn of(date: NaiveDate) -> Day {
        let n = date.signed_duration_since(NaiveDate::default()).num_days();
        Day(i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX }))
    }

    /// The calendar date (saturating at chrono's range).
    pub fn date(self) -> NaiveDate {
        let epoch = NaiveDate::default();
        let n = i64::from(self.0);
        let d = if n >= 0 {
            epoch.checked_add_days(Days::new(n.unsigned_abs()))
        } else {
            epoch.checked_sub_days(Days::new(n.unsigned_abs()))
        };
        d.unwrap_or(if n < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
    }

    /// The day after.
    pub fn next(self) -> Day {
        Day(self.0.saturating_add(1))
    }
}

impl From<NaiveDate> for Day {
    fn from(d: NaiveDate) -> Day {
        Day::of(d)
    }
}

impl std::fmt::Display for Day {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.date().format("%Y-%m-%d"))
    }
}

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

    /// The local [`Day`] of `ts`.
    #[inline]
    pub fn local_day(&mut self, ts: Timestamp) -> Day {
        Day::of(self.day(ts))
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
    fn day_numbers_dates_and_text_convert_both_ways() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(Day::of(d("1970-01-01")), Day(0));
        assert_eq!(Day::of(d("2014-09-22")), Day(16_335));
        assert_eq!(Day(16_335).date(), d("2014-09-22"));
        assert_eq!(Day(-1).to_string(), "1969-12-31");
        assert_eq!(Day(16_335).next().to_string(), "2014-09-23");
        for n in [-800_000, -1, 0, 1, 20_000, 2_000_000] {
            assert_eq!(Day::of(Day(n).date()), Day(n));
        }
        assert_eq!(Day(i32::MAX).date(), NaiveDate::MAX);
        let mut c = DayClock::new("Asia/Tokyo".parse().unwrap());
        assert_eq!(c.local_day(ts("2014-09-22T15:00:00Z")), Day(16_336));
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
