//! The service's documented request limits, checked before sending: a request over one would
//! only come back as a 400 (after the retries a 400 does not get), so it fails here with
//! [`Error::InvalidArgument`] and no request.
//!
//! The numbers, from `../shared/spec/SUMMARY.md` and the service documentation, and matching
//! the emulator's rules:
//! - a message holds at most 28 KB ([`MAX_MESSAGE_BYTES`] = 28 × 1024 bytes of UTF-8), counting
//!   its content and its sender display name together;
//! - one create-thread or add-participants request carries at most
//!   [`MAX_PARTICIPANTS_PER_REQUEST`] = 200 participants;
//! - thread metadata and participant metadata hold at most 1 KB ([`MAX_METADATA_BYTES`] =
//!   1024 bytes of UTF-8), keys and values together.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::models::ChatParticipant;

/// The most bytes of content and sender display name together in one message.
pub(crate) const MAX_MESSAGE_BYTES: usize = 28 * 1024;

/// The most participants in one create-thread or add-participants request.
pub(crate) const MAX_PARTICIPANTS_PER_REQUEST: usize = 200;

/// The most bytes of keys and values together in a thread's or a participant's metadata.
pub(crate) const MAX_METADATA_BYTES: usize = 1024;

/// A message's content and sender display name fit in [`MAX_MESSAGE_BYTES`].
pub(crate) fn check_message(content: &str, sender_display_name: Option<&str>) -> Result<()> {
    let bytes = content.len() + sender_display_name.map_or(0, str::len);
    if bytes > MAX_MESSAGE_BYTES {
        return Err(Error::invalid_argument(
            "content",
            format!(
                "the message is {bytes} bytes (content and sender display name), over the service's limit of {MAX_MESSAGE_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// At most [`MAX_PARTICIPANTS_PER_REQUEST`] participants, each with metadata that fits.
pub(crate) fn check_participants(participants: &[ChatParticipant]) -> Result<()> {
    if participants.len() > MAX_PARTICIPANTS_PER_REQUEST {
        return Err(Error::invalid_argument(
            "participants",
            format!(
                "{} participants in one request, over the service's limit of {MAX_PARTICIPANTS_PER_REQUEST}; send them in batches",
                participants.len()
            ),
        ));
    }
    for p in participants {
        check_metadata("participants", p.metadata.as_ref())?;
    }
    Ok(())
}

/// Thread or participant metadata fits in [`MAX_METADATA_BYTES`].
pub(crate) fn check_metadata(
    name: &'static str,
    metadata: Option<&HashMap<String, String>>,
) -> Result<()> {
    let bytes: usize = metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if bytes > MAX_METADATA_BYTES {
        return Err(Error::invalid_argument(
            name,
            format!(
                "the metadata is {bytes} bytes (keys and values), over the service's limit of {MAX_METADATA_BYTES}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits are inclusive: exactly at a limit passes, one byte or item over fails.
    #[test]
    fn checks_accept_the_limit_and_reject_one_over() {
        let at = "x".repeat(MAX_MESSAGE_BYTES - 4);
        assert!(
            check_message(&at, Some("name")).is_ok(),
            "at the message limit"
        );
        let err = check_message(&at, Some("name!")).expect_err("one byte over");
        assert!(err.to_string().contains("28673 bytes"), "{err}");
        let meta = |n: usize| Some(HashMap::from([("k".to_string(), "v".repeat(n - 1))]));
        assert!(check_metadata("metadata", meta(MAX_METADATA_BYTES).as_ref()).is_ok());
        let err = check_metadata("metadata", meta(MAX_METADATA_BYTES + 1).as_ref())
            .expect_err("one byte over");
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    name: "metadata",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
