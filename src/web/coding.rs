//! Which content coding a response of the client's files goes out in, from the
//! request's `Accept-Encoding`.

use axum::http::{HeaderMap, HeaderValue, header};

/// The codings the client's files are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// The acceptable coding with the highest weight; between equals brotli (the
    /// smaller), then gzip. Identity when neither is acceptable, as without the
    /// header: every client reads it, and a response needs some coding.
    pub fn negotiate(request: &HeaderMap) -> Self {
        let mut brotli = None;
        let mut gzip = None;
        let mut any = None;
        for item in request
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
        {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let Some(weight) = weight(parts) else {
                continue;
            };
            if name.eq_ignore_ascii_case("br") {
                brotli = Some(weight);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(weight);
            } else if name == "*" {
                any = Some(weight);
            }
        }
        // `*` stands for every coding the header does not name.
        let brotli = brotli.or(any).unwrap_or(0);
        let gzip = gzip.or(any).unwrap_or(0);
        if brotli > 0 && brotli >= gzip {
            Self::Brotli
        } else if gzip > 0 {
            Self::Gzip
        } else {
            Self::Identity
        }
    }

    /// Its `Content-Encoding`; identity has none.
    pub fn header_value(self) -> Option<HeaderValue> {
        match self {
            Self::Brotli => Some(HeaderValue::from_static("br")),
            Self::Gzip => Some(HeaderValue::from_static("gzip")),
            Self::Identity => None,
        }
    }

    /// What sets its entity tag apart from the other codings' of the same file: a
    /// strong tag names one sequence of bytes, and a cache that holds the brotli
    /// bytes must not have them confirmed by a 304 meant for the gzip ones.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Self::Brotli => "-br",
            Self::Gzip => "-gz",
            Self::Identity => "",
        }
    }
}

/// An item's weight in thousandths (`q=1` when absent); `None` when malformed, so
/// the item is ignored.
fn weight<'a>(mut params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let Some(q) = params.find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case("q").then(|| value.trim())
    }) else {
        return Some(1000);
    };
    let q: f32 = q.parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &'static str) -> Coding {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
        Coding::negotiate(&headers)
    }

    #[test]
    fn brotli_before_gzip_before_identity_unless_weighed_otherwise() {
        assert_eq!(Coding::negotiate(&HeaderMap::new()), Coding::Identity);
        assert_eq!(negotiate("gzip, deflate, br, zstd"), Coding::Brotli);
        assert_eq!(negotiate("gzip"), Coding::Gzip);
        assert_eq!(negotiate("x-gzip, deflate"), Coding::Gzip);
        assert_eq!(negotiate("BR"), Coding::Brotli);
        assert_eq!(negotiate("gzip;q=1, br;q=0.5"), Coding::Gzip);
        assert_eq!(negotiate("br;q=0, gzip"), Coding::Gzip);
        assert_eq!(negotiate("br;q=0, gzip;q=0"), Coding::Identity);
        assert_eq!(negotiate("*"), Coding::Brotli);
        assert_eq!(negotiate("br;q=0, *"), Coding::Gzip);
        assert_eq!(negotiate("identity"), Coding::Identity);
        assert_eq!(negotiate("deflate, zstd"), Coding::Identity);
        assert_eq!(negotiate("br;q=nope, gzip"), Coding::Gzip);
        assert_eq!(negotiate("br;q=2"), Coding::Identity);
    }
}
