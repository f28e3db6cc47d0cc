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
    let text = text.trim();
    let parsed = match DateTime::parse_from_rfc3339(text) {
        Ok(dt) => dt.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    (0..=9999).contains(&parsed.year()).then_some(parsed)
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
