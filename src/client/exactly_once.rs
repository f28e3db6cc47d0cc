//! Exactly-once sends: after a failure that [may have taken effect](crate::Error::may_have_taken_effect),
//! `send_message` with an idempotency token looks for the message it may already have posted
//! before sending again.
//!
//! The token travels in the message's `metadata` under [`IDEMPOTENCY_METADATA_KEY`]. The look
//! walks the thread's messages created since shortly before the first attempt
//! ([`LOOKBACK`], for clock skew between client and service), newest first, at most
//! [`MAX_LOOKUP_PAGES`] pages of 200. When it cannot answer (the walk fails, or there are more
//! messages than it reads), the send is not repeated and the ambiguous error is returned.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Map;

use super::{query_time, ClientInner};
use crate::error::{Error, Result};
use crate::http::{rebase_next_link, Method, RetryClass};
use crate::models::{decode_page, ChatMessage, SendChatMessageResult};

/// The metadata key that carries a message's idempotency token.
pub const IDEMPOTENCY_METADATA_KEY: &str = "acs-chat-idempotency-token";

/// How far before the first attempt the look starts (the service stamps `createdOn` with its
/// own clock).
pub(crate) const LOOKBACK: Duration = Duration::from_secs(5 * 60);

/// The most pages of 200 messages one look reads.
pub(crate) const MAX_LOOKUP_PAGES: usize = 10;

/// The longest idempotency token accepted, in bytes (it counts toward the message's metadata,
/// which the service limits).
pub(crate) const MAX_TOKEN_LEN: usize = 256;

/// Checks a caller's idempotency token and the metadata it is added to.
pub(crate) fn check_token(
    token: &str,
    metadata: Option<&std::collections::HashMap<String, String>>,
) -> Result<()> {
    if token.trim().is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(Error::invalid_argument(
            "idempotency_token",
            format!("must be 1 to {MAX_TOKEN_LEN} bytes, not blank"),
        ));
    }
    if token.chars().any(char::is_control) {
        return Err(Error::invalid_argument(
            "idempotency_token",
            "must not contain control characters",
        ));
    }
    if metadata.is_some_and(|m| m.contains_key(IDEMPOTENCY_METADATA_KEY)) {
        return Err(Error::invalid_argument(
            "metadata",
            format!("the key `{IDEMPOTENCY_METADATA_KEY}` is reserved for idempotency_token"),
        ));
    }
    Ok(())
}

/// The message in the thread at `thread_path` that carries `token`, created since
/// `first_attempt` (less [`LOOKBACK`]); `None` when the walk saw every such message and none
/// carries it.
pub(crate) fn find_sent(
    inner: &ClientInner,
    thread_path: &str,
    token: &str,
    first_attempt: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<Option<SendChatMessageResult>> {
    let since = chrono::TimeDelta::from_std(LOOKBACK)
        .ok()
        .and_then(|back| first_attempt.checked_sub_signed(back))
        .unwrap_or(first_attempt);
    let messages = format!("{thread_path}/messages");
    let mut next = Some(inner.path_and_query(
        &messages,
        &[
            ("maxPageSize", "200".to_string()),
            ("startTime", query_time(&since)),
        ],
    ));
    for _ in 0..MAX_LOOKUP_PAGES {
        let Some(path_and_query) = next.take() else {
            return Ok(None);
        };
        let request = inner.request(Method::GET, &path_and_query, RetryClass::SafeToRepeat);
        let (items, link) = inner.send_until(request, deadline, |response| {
            decode_page::<ChatMessage>(&response.body).map_err(|source| Error::Decode {
                status: response.status,
                source,
            })
        })?;
        if let Some(found) = items.into_iter().find(|m| {
            m.metadata
                .as_ref()
                .and_then(|md| md.get(IDEMPOTENCY_METADATA_KEY))
                .is_some_and(|t| t == token)
        }) {
            return Ok(Some(SendChatMessageResult {
                id: found.id,
                additional_properties: Map::new(),
            }));
        }
        next = rebase_next_link(link.as_deref(), &inner.api_version);
    }
    match next {
        None => Ok(None),
        Some(_) => Err(Error::UnexpectedResponse(format!(
            "more than {MAX_LOOKUP_PAGES} pages of messages since the first attempt; cannot tell whether it was stored"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Blank, oversized and control-character tokens, and metadata that already uses the
    /// reserved key, are invalid arguments.
    #[test]
    fn check_token_rejects_unusable_tokens_and_reserved_key() {
        let long = "x".repeat(MAX_TOKEN_LEN + 1);
        for bad in ["", "  ", long.as_str(), "a\nb", "a\u{0}"] {
            let r = check_token(bad, None);
            assert!(
                matches!(
                    r,
                    Err(Error::InvalidArgument {
                        name: "idempotency_token",
                        ..
                    })
                ),
                "token {bad:?} gave {r:?}"
            );
        }
        let reserved = HashMap::from([(IDEMPOTENCY_METADATA_KEY.to_string(), "t".to_string())]);
        let r = check_token("t", Some(&reserved));
        assert!(
            matches!(
                r,
                Err(Error::InvalidArgument {
                    name: "metadata",
                    ..
                })
            ),
            "reserved key gave {r:?}"
        );
        let other = HashMap::from([("tag".to_string(), "x".to_string())]);
        assert!(check_token("9c1f-ok", Some(&other)).is_ok());
        assert!(check_token(&"x".repeat(MAX_TOKEN_LEN), None).is_ok());
    }
}
