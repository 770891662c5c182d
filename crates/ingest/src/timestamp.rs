//! Capture timestamps: nanoseconds since the Unix epoch, UTC.

use std::fmt;

/// A capture timestamp in nanoseconds since 1970-01-01T00:00:00Z (UTC).
///
/// `i64` nanoseconds cover the years 1677–2262; capture formats that encode
/// times outside that range are reported as timestamp errors by the readers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp(pub i64);

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// Builds a timestamp from whole seconds and nanoseconds, `None` when out of range.
    pub fn from_parts(secs: i64, nanos: i64) -> Option<Timestamp> {
        secs.checked_mul(NANOS_PER_SEC)
            .and_then(|s| s.checked_add(nanos))
            .map(Timestamp)
    }

    /// Builds a timestamp from a 128-bit nanosecond count, `None` when out of range.
    pub fn from_nanos_i128(ns: i128) -> Option<Timestamp> {
        i64::try_from(ns).ok().map(Timestamp)
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// Nanoseconds within the second, `0..1e9`.
    pub fn subsec_nanos(self) -> u32 {
        // rem_euclid of a positive modulus is in 0..1e9, which fits u32.
        self.0.rem_euclid(NANOS_PER_SEC) as u32
    }

    /// RFC 3339 in UTC with nine fractional digits, e.g. `2014-09-19T04:12:33.000123456Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
///
/// The classic civil-from-days conversion (eras of 400 years, 146 097 days each).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            y,
            m,
            d,
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            self.subsec_nanos()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_known_dates() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000000Z");
        // 1367526033.491822 is ppp_example.pcap's first packet (capinfos: 2013-05-02 20:20:33.491822 UTC).
        let t = Timestamp::from_parts(1_367_526_033, 491_822_000).unwrap();
        assert_eq!(t.to_string(), "2013-05-02T20:20:33.491822000Z");
        // Leap day.
        let t = Timestamp::from_parts(951_782_400, 0).unwrap();
        assert_eq!(t.to_string(), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn negative_times_floor_correctly() {
        let t = Timestamp(-1);
        assert_eq!(t.secs(), -1);
        assert_eq!(t.subsec_nanos(), 999_999_999);
        assert_eq!(t.to_string(), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn out_of_range_is_none() {
        assert!(Timestamp::from_parts(i64::MAX / 2, 0).is_none());
        assert!(Timestamp::from_nanos_i128(i128::from(i64::MAX) + 1).is_none());
    }
}
