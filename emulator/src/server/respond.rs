//! Answering one request: per-request fault injection, the truncated-body fault's partial
//! body, and the headers every response carries.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use base64::Engine as _;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;

use crate::cors::Cors;
use crate::faults::Fault;
use crate::state::AppState;
use crate::wire::{ApiError, SUPPORTED_VERSIONS};

/// The error a connection-closing fault hands to hyper, which then drops the connection.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// The most request body the front door reads (the largest route limit, the chat routes');
/// each route still applies its own.
const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;

fn fault_error(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    ApiError::new(status, code, message).into_response()
}

pub(crate) async fn respond(
    state: &AppState,
    cors: &Cors,
    svc: &TowerToHyperService<Router>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    state.count_request();
    let origin = req.headers().get(header::ORIGIN).cloned();
    // A browser's preflight carries no credentials: answered before auth and faults.
    if let Some(mut r) = cors.preflight(req.method(), req.headers()) {
        add_common_headers(r.headers_mut(), false, None);
        // Path and origin only, as for every request; .ci/browser.sh counts these lines.
        log::debug!(
            "OPTIONS {} preflight from {} -> {}",
            req.uri().path(),
            origin.as_ref().and_then(|o| o.to_str().ok()).unwrap_or("?"),
            r.status().as_u16()
        );
        return Ok(r);
    }
    let decision = state.0.faults.decide();
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let echo_id = client_request_id(req.uri().path(), req.headers());
    let chat = req.uri().path().starts_with("/chat");
    // Method and path only: never headers (tokens) or bodies (message content).
    let what = if log::log_enabled!(log::Level::Debug) {
        format!("{} {}", req.method(), req.uri().path())
    } else {
        String::new()
    };
    if matches!(decision.fault, Some(Fault::CloseBeforeProcessing)) {
        log::debug!("{what} -> connection closed before processing (fault)");
        return Err(Dropped);
    }
    // Read the request to its end before any answer, as the service's front door does: a
    // handler that answers early (a 401, a bad api-version, an injected 503) would otherwise
    // leave body bytes unread, and hyper then closes the connection after an answer that did
    // not say so, so a client that reuses it for its retry sees the peer disconnect.
    let req = match read_whole(req).await {
        Ok(req) => req,
        Err(Unread::TooLarge) => {
            let mut r = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "The request body is too large.",
            )
            .into_response();
            // What was not read cannot be skipped: say the connection ends here.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            add_common_headers(r.headers_mut(), chat, echo_id);
            cors.decorate(origin.as_ref(), r.headers_mut());
            return Ok(r);
        }
        Err(Unread::Failed) => {
            log::debug!("{what} -> request body unreadable");
            return Err(Dropped);
        }
    };
    let early = match &decision.fault {
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            None
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Rate limit exceeded.",
            );
            let ms = retry_after.as_millis();
            e.retry_after = Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0));
            let mut r = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
                r.headers_mut().insert("retry-after-ms", v);
            }
            Some(r)
        }
        Some(Fault::InternalError) => Some(fault_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server encountered an internal error (injected fault).",
        )),
        Some(Fault::ServiceUnavailable) => Some(fault_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The server is currently unable to handle the request.",
        )),
        _ => None,
    };
    let resp = match early {
        Some(r) => r,
        None => match svc.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        },
    };
    let (mut parts, body) = resp.into_parts();
    // Responses are small and in memory: collect them so each goes out in one write.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            log::warn!("response body failed: {e}");
            return Err(Dropped);
        }
    };
    let body = match &decision.fault {
        Some(Fault::CloseAfterProcessing) => {
            log::debug!("{what} -> connection closed after processing (fault)");
            return Err(Dropped);
        }
        Some(Fault::TruncatedBody) => {
            let full = if bytes.is_empty() {
                axum::body::Bytes::from_static(
                    br#"{"error":{"code":"Truncated","message":"injected truncated body"}}"#,
                )
            } else {
                bytes
            };
            if parts.status == StatusCode::NO_CONTENT {
                parts.status = StatusCode::OK;
            }
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::wire::JSON_UTF8),
            );
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            // Less than Content-Length promises: hyper sends it and then closes the connection.
            Body::new(PartialBody::new(full.slice(..full.len() / 2)))
        }
        Some(Fault::MalformedBody) => {
            if parts.status == StatusCode::NO_CONTENT {
                parts.status = StatusCode::OK;
            }
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::wire::JSON_UTF8),
            );
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(&b"{\"value\": [{\"id\": \"1\", \"content\": <not json>"[..])
        }
        _ => Body::from(bytes),
    };
    add_common_headers(&mut parts.headers, chat, echo_id);
    cors.decorate(origin.as_ref(), &mut parts.headers);
    log::debug!(
        "{what} -> {} (fault: {:?})",
        parts.status.as_u16(),
        decision.fault
    );
    Ok(Response::from_parts(parts, body))
}

/// Why a request body was not read whole.
enum Unread {
    /// Its `Content-Length` is over [`MAX_REQUEST_BODY`].
    TooLarge,
    /// Reading failed, or a body of unstated length ran over the limit.
    Failed,
}

/// The request with its body read into memory (at most [`MAX_REQUEST_BODY`] bytes).
async fn read_whole(req: Request<Incoming>) -> Result<Request<Body>, Unread> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return Err(Unread::TooLarge);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(Body::new(body), MAX_REQUEST_BODY)
        .await
        .map_err(|_| Unread::Failed)?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// A body of unknown length (so hyper trusts the `Content-Length` header set by hand) that
/// sends its part, pauses so hyper flushes it, then fails so hyper closes the connection:
/// what a truncated-body fault sends.
struct PartialBody {
    part: Option<axum::body::Bytes>,
    pause: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl PartialBody {
    fn new(part: axum::body::Bytes) -> PartialBody {
        PartialBody {
            part: Some(part),
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
        }
    }
}

impl hyper::body::Body for PartialBody {
    type Data = axum::body::Bytes;
    type Error = Dropped;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future as _;
        let this = self.get_mut();
        if let Some(part) = this.part.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(part))));
        }
        match this.pause.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(Dropped))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// The `x-ms-client-request-id` to echo: identity always echoes it, chat only on request.
fn client_request_id(path: &str, headers: &HeaderMap) -> Option<HeaderValue> {
    let id = headers.get("x-ms-client-request-id")?;
    let asked = headers
        .get("x-ms-return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    (asked || path.starts_with("/identities") || path.starts_with("/teamsUser")).then(|| id.clone())
}

fn add_common_headers(h: &mut HeaderMap, chat: bool, echo_id: Option<HeaderValue>) {
    if let Ok(v) = HeaderValue::from_str(&ms_cv()) {
        h.insert("ms-cv", v);
    }
    if chat {
        h.insert(
            "api-supported-versions",
            HeaderValue::from_static(SUPPORTED_VERSIONS),
        );
    }
    if let Some(id) = echo_id {
        h.insert("x-ms-client-request-id", id);
    }
}

/// A correlation vector like the service's: 22 base64 characters and `.0`. Random enough to
/// tell requests apart, without a system call per request.
fn ms_cv() -> String {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut rng = crate::faults::XorShift::new(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let mut s = STANDARD_NO_PAD.encode(bytes);
    s.push_str(".0");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_cv_has_service_shape() {
        let a = ms_cv();
        assert_eq!(a.len(), 24, "{a}");
        assert!(a.ends_with(".0"));
        assert_ne!(a, ms_cv());
    }
}
