//! CORS, so that a browser app can call the emulator: preflights (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) are answered before authentication and fault injection,
//! and every response to an allowed origin carries `Access-Control-Allow-Origin` and exposes
//! the headers the SDKs read.
//!
//! The allowed request headers are a rule rather than a list: the SDKs add `x-ms-*` headers
//! freely (`x-ms-useragent`, `x-ms-date`, `x-ms-content-sha256`, `x-ms-client-request-id`…),
//! so a preflight gets back each header it asks for that the rule allows.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::wire::ApiError;

/// Request headers a browser may send besides `x-ms-*` (matched case-insensitively).
const ALLOWED_HEADERS: [&str; 10] = [
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "repeatability-request-id",
    "repeatability-first-sent",
    "traceparent",
    "tracestate",
    "request-id",
    "if-match",
];

/// Response headers a browser script may read (the safelisted ones need no mention).
pub(crate) const EXPOSED_HEADERS: &str = "location, ms-cv, retry-after, retry-after-ms, \
x-ms-retry-after-ms, api-supported-versions, x-ms-client-request-id, x-ms-request-id, \
x-ms-error-response, repeatability-result, content-length, date";

/// Methods the chat and identity APIs use.
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";

/// Which origins may call: any (the default) or the listed ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cors {
    /// `None`: any origin. Otherwise exact `scheme://host[:port]` values, compared
    /// case-insensitively, or `*`.
    pub(crate) origins: Option<Vec<String>>,
}

impl Cors {
    /// Whether `origin` may call.
    fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            None => true,
            Some(list) => list
                .iter()
                .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin)),
        }
    }

    /// The answer to a preflight, or `None` when `method`/`headers` are not a preflight.
    /// A disallowed origin gets 403 in the service's error shape.
    pub(crate) fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
        if method != Method::OPTIONS {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?;
        headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let origin_text = origin.to_str().unwrap_or("");
        if !self.allows(origin_text) {
            return Some(
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "CorsOriginNotAllowed",
                    "The origin is not allowed (see the emulator's --cors-origin).",
                )
                .into_response(),
            );
        }
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        let asked = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty() && header_allowed(n))
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(v) = HeaderValue::from_str(&asked) {
            if !asked.is_empty() {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        Some(resp)
    }

    /// Adds `Access-Control-Allow-Origin` and `-Expose-Headers` to a response to an allowed
    /// `origin` (the request's `Origin` header); nothing without one.
    pub(crate) fn decorate(&self, origin: Option<&HeaderValue>, out: &mut HeaderMap) {
        let Some(origin) = origin else { return };
        if !self.allows(origin.to_str().unwrap_or("")) {
            return;
        }
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        out.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// Whether a browser may send request header `name` (lowercase).
fn header_allowed(name: &str) -> bool {
    name.starts_with("x-ms-") || ALLOWED_HEADERS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preflight_headers(origin: &str, asked: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_str(asked).unwrap(),
        );
        h
    }

    /// Only allowed headers are echoed back; an unknown one is left out.
    #[test]
    fn preflight_echoes_only_allowed_headers() {
        let cors = Cors::default();
        let resp = cors
            .preflight(
                &Method::OPTIONS,
                &preflight_headers("http://app.test", "Authorization, x-ms-date, cookie-x"),
            )
            .expect("a preflight");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let allowed = resp.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap();
        assert_eq!(allowed, "authorization, x-ms-date", "allowed: {allowed}");
    }

    /// A configured list refuses other origins (403) and compares case-insensitively.
    #[test]
    fn configured_origins_refuse_others() {
        let cors = Cors {
            origins: Some(vec!["https://App.test/".into()]),
        };
        let ok = cors
            .preflight(
                &Method::OPTIONS,
                &preflight_headers("https://app.test", "authorization"),
            )
            .expect("a preflight");
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        let no = cors
            .preflight(
                &Method::OPTIONS,
                &preflight_headers("https://evil.test", "authorization"),
            )
            .expect("a preflight");
        assert_eq!(no.status(), StatusCode::FORBIDDEN);
        let mut out = HeaderMap::new();
        cors.decorate(
            Some(&HeaderValue::from_static("https://evil.test")),
            &mut out,
        );
        assert!(out.is_empty(), "decorated a disallowed origin: {out:?}");
    }

    /// An `OPTIONS` without `Access-Control-Request-Method` is not a preflight.
    #[test]
    fn options_without_request_method_is_not_preflight() {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("http://a.test"));
        assert!(Cors::default().preflight(&Method::OPTIONS, &h).is_none());
    }
}
