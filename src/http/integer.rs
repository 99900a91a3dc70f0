//! Integers as JSON Schema counts them: `2`, but also `2.0` and `2e0`, a number with
//! no fractional part (JSON Schema 2020-12, which OpenAPI 3.1 uses). serde reads `2.0`
//! as a float and refuses it for an `i64`, and so do the path and query parsers; a
//! client that sends what the document allows must not get a 400 for it.
//!
//! In JSON bodies: `#[serde(deserialize_with = "integer")]` (with `default` for an
//! `Option`, and `optional_integer`); a JSON string is still not an integer. In query
//! strings: `optional_text_integer`; in paths, [`Id`].

use std::fmt;

use serde::{Deserialize, Deserializer, de};

/// An `i64` written as any JSON number without a fractional part.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(Integer)
}

/// [`integer`] or `null`.
pub fn optional_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    deserializer.deserialize_option(OptionalInteger)
}

struct Integer;

impl de::Visitor<'_> for Integer {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer (int64)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        from_float(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
}

/// An integral float in the range of an `i64`.
fn from_float(v: f64) -> Option<i64> {
    // 2^63 is exactly representable, and every integral float strictly between -2^63
    // and 2^63 fits an i64. -2^63 itself is left out: it is also what a number just
    // below the range rounds to (`-9223372036854775809`, which serde_json reads as a
    // float), and that one is out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (v.fract() == 0.0 && v > -LIMIT && v < LIMIT).then_some(v as i64)
}

/// An integer written as text: `12`, `12.0`, `1.2e1`. Infinities, NaN and fractions
/// are not integers.
fn from_text(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().and_then(from_float))
}

struct TextInteger;

impl de::Visitor<'_> for TextInteger {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer (int64)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        from_text(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// A path segment that names something by its integer id.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub i64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextInteger).map(Self)
    }
}

/// An optional integer query parameter.
pub fn optional_text_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    struct Visitor;

    impl<'de> de::Visitor<'de> for Visitor {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer (int64)")
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
            d.deserialize_str(TextInteger).map(Some)
        }
    }

    deserializer.deserialize_option(Visitor)
}

struct OptionalInteger;

impl<'de> de::Visitor<'de> for OptionalInteger {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer (int64) or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<i64>, D::Error> {
        integer(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::integer")]
        id: i64,
        #[serde(default, deserialize_with = "super::optional_integer")]
        seq: Option<i64>,
    }

    fn parse(value: serde_json::Value) -> Option<(i64, Option<i64>)> {
        serde_json::from_value::<Body>(value)
            .ok()
            .map(|b| (b.id, b.seq))
    }

    #[test]
    fn integral_numbers_are_integers_whatever_their_notation() {
        assert_eq!(parse(json!({"id": 7})), Some((7, None)));
        assert_eq!(parse(json!({"id": 7.0, "seq": null})), Some((7, None)));
        assert_eq!(
            parse(json!({"id": -2.0, "seq": 1e3})),
            Some((-2, Some(1000)))
        );
        assert_eq!(
            parse(json!({"id": i64::MIN, "seq": i64::MAX})),
            Some((i64::MIN, Some(i64::MAX)))
        );
    }

    #[test]
    fn integers_as_text_take_the_same_notations() {
        for (text, n) in [
            ("12", 12),
            ("-3", -3),
            ("12.0", 12),
            ("1.2e1", 12),
            ("1e3", 1000),
        ] {
            assert_eq!(super::from_text(text), Some(n), "{text}");
        }
        for text in [
            "",
            "x",
            "1.5",
            "inf",
            "NaN",
            "1e19",
            "9223372036854775808",
            "-9223372036854775809",
        ] {
            assert_eq!(super::from_text(text), None, "{text}");
        }
    }

    #[test]
    fn fractions_strings_and_out_of_range_numbers_are_not() {
        for bad in [
            json!({"id": 7.5}),
            json!({"id": "7"}),
            json!({"id": true}),
            json!({"id": null}),
            json!({"id": 9_223_372_036_854_775_808u64}),
            json!({"id": 1e19}),
            serde_json::from_str("{\"id\": -9223372036854775809}").unwrap(),
            json!({"id": 1, "seq": 0.5}),
            json!({"id": 1, "seq": "2"}),
        ] {
            assert_eq!(parse(bad.clone()), None, "{bad}");
        }
    }
}
