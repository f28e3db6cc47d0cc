//! Timestamps on the wire: RFC 3339 strings with 0–7 (or more) fractional digits and `Z` or an
//! offset, read into `DateTime<Utc>` and written the way the service writes them.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserializer, Serializer};

/// Parses a service timestamp: RFC 3339 with any number of fractional digits and `Z` or an
/// offset (`+00:00`, `-07:00`). A timestamp without any offset is read as UTC, because some
/// .NET-based services omit it.
///
/// Instants whose UTC year falls outside 0000–9999 (reachable only through an offset, as in
/// `9999-12-31T23:59:59-01:00`) are rejected: RFC 3339 cannot write them back.
pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
    if let Some(parsed) = parse_utc_fast(text.as_bytes()) {
        return Some(parsed);
    }
    let text = text.trim();
    let parsed = match DateTime::parse_from_rfc3339(text) {
        Ok(dt) => dt.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    (0..=9999).contains(&parsed.year()).then_some(parsed)
}

/// The form the service writes, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, read digit by digit (a third
/// of the cost of chrono's general RFC 3339 parser, once per timestamp of every message). Any
/// other text, a leap second included, is `None` and goes through the general parser, which
/// gives the same instant for every text this accepts (pinned by a test).
fn parse_utc_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[b.len() - 1] != b'Z' {
        return None;
    }
    let num = |at: usize, len: usize| -> Option<u32> {
        b[at..at + len].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let n = num(20, digits.len())?;
            n * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let (second, minute, hour) = (num(17, 2)?, num(14, 2)?, num(11, 2)?);
    if second > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// Formats a timestamp as the service does: whole seconds as `2024-06-06T00:03:29Z`, fractions
/// with seven digits (`2020-06-06T05:55:41.6460000Z`), or nine when the value has nanoseconds
/// that seven digits cannot hold.
pub(crate) fn format(dt: &DateTime<Utc>) -> String {
    let nanos = dt.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        dt.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else if nanos.is_multiple_of(100) {
        let base = dt.format("%Y-%m-%dT%H:%M:%S");
        format!("{base}.{:07}Z", nanos / 100)
    } else {
        dt.to_rfc3339_opts(SecondsFormat::Nanos, true)
    }
}

/// `#[serde(with = "time")]` for a required timestamp.
pub(crate) fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(dt))
}

/// `#[serde(with = "time")]` for a required timestamp.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(Timestamp)
}

/// Parses the text in place, without copying it into a `String` first.
struct Timestamp;

impl serde::de::Visitor<'_> for Timestamp {
    type Value = DateTime<Utc>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        parse(text).ok_or_else(|| {
            E::custom(format_args!(
                "`{}` is not an RFC 3339 timestamp",
                Shorten(text)
            ))
        })
    }
}

/// `#[serde(with = "time::option")]` for an optional timestamp (absent or `null` is `None`).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        dt: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => s.serialize_some(&super::format(dt)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        struct Nullable;
        impl<'de> serde::de::Visitor<'de> for Nullable {
            type Value = Option<DateTime<Utc>>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 timestamp or null")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(Nullable)
    }
}

/// Shows at most 40 characters of untrusted input in an error message.
struct Shorten<'a>(&'a str);

impl std::fmt::Display for Shorten<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut chars = self.0.chars();
        let head: String = chars.by_ref().take(40).collect();
        if chars.next().is_some() {
            write!(f, "{head}…")
        } else {
            f.write_str(&head)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    /// Every fractional length from 0 to 7 digits, with `Z` or an offset, parses to the same instant.
    #[test]
    fn parse_accepts_zero_to_seven_fraction_digits_and_offsets() {
        let base = Utc.with_ymd_and_hms(2020, 6, 6, 5, 55, 41).unwrap();
        let cases: &[(&str, u32)] = &[
            ("2020-06-06T05:55:41Z", 0),
            ("2020-06-06T05:55:41.6Z", 600_000_000),
            ("2020-06-06T05:55:41.64Z", 640_000_000),
            ("2020-06-06T05:55:41.646Z", 646_000_000),
            ("2020-06-06T05:55:41.6460Z", 646_000_000),
            ("2020-06-06T05:55:41.64600Z", 646_000_000),
            ("2020-06-06T05:55:41.646000Z", 646_000_000),
            ("2020-06-06T05:55:41.6460000Z", 646_000_000),
            ("2020-06-06T05:55:41.6460001Z", 646_000_100),
            ("2020-06-06T05:55:41.6460000+00:00", 646_000_000),
            ("2020-06-06T07:55:41.6460000+02:00", 646_000_000),
            ("2020-06-05T22:55:41-07:00", 0),
            ("2020-06-06T05:55:41.646", 646_000_000),
        ];
        for (text, nanos) in cases {
            let want = base + chrono::Duration::nanoseconds(i64::from(*nanos));
            assert_eq!(parse(text), Some(want), "parsing {text}");
        }
    }

    /// The fast path gives what chrono's RFC 3339 parser gives, and leaves to it (answers
    /// `None` for) every text it does not read exactly.
    #[test]
    fn parse_utc_fast_agrees_with_chrono() {
        let cases = [
            "2020-06-06T05:55:41Z",
            "2020-06-06T05:55:41.6Z",
            "2020-06-06T05:55:41.6460000Z",
            "2020-06-06T05:55:41.646000001Z",
            "2020-06-06T05:55:41.6460000012Z",
            "2024-02-29T23:59:59.999999999Z",
            "2023-02-29T00:00:00Z",
            "2020-06-06T24:00:00Z",
            "2020-06-06T05:60:00Z",
            "2016-12-31T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2020-06-06t05:55:41z",
            "2020-06-06 05:55:41Z",
            "2020-06-06T05:55:41.Z",
            "2020-06-06T05:55:41+00:00",
            "2020-06-06T05:55:4xZ",
            "+020-06-06T05:55:41Z",
            "2020-06-06T05:55:41ZZ",
            "2020-06-06T05:55:41.-5Z",
        ];
        let mut fast_hits = Vec::new();
        for text in cases {
            let chrono = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|dt| dt.with_timezone(&Utc));
            if let Some(fast) = parse_utc_fast(text.as_bytes()) {
                assert_eq!(Some(fast), chrono, "fast path on {text}");
                fast_hits.push(text);
            }
            let want = chrono.filter(|dt| (0..=9999).contains(&dt.year()));
            assert_eq!(parse(text), want, "parse {text}");
        }
        assert_eq!(
            fast_hits,
            [0, 1, 2, 3, 5, 10, 11].map(|i| cases[i]),
            "texts the fast path read"
        );
    }

    /// Text that is not a timestamp is rejected, never panics.
    #[test]
    fn parse_rejects_garbage() {
        for text in [
            "",
            "yesterday",
            "2020-13-01T00:00:00Z",
            "2020-06-06",
            "1/1/1970 12:00:00 AM +00:00",
        ] {
            assert_eq!(parse(text), None, "parsing {text:?}");
        }
    }

    /// Formatting follows the service: whole seconds bare, fractions with seven digits.
    #[test]
    fn format_matches_service_style() {
        let whole = Utc.with_ymd_and_hms(2024, 6, 6, 0, 3, 29).unwrap();
        assert_eq!(format(&whole), "2024-06-06T00:03:29Z");
        let frac = whole + chrono::Duration::milliseconds(646);
        assert_eq!(format(&frac), "2024-06-06T00:03:29.6460000Z");
        let nanos = whole + chrono::Duration::nanoseconds(1);
        assert_eq!(format(&nanos), "2024-06-06T00:03:29.000000001Z");
        for dt in [whole, frac, nanos] {
            assert_eq!(parse(&format(&dt)), Some(dt), "round trip of {dt}");
        }
    }
}
