//! Snapshot listings: what a page request asks for, what a page holds, and the message
//! listing that stays exact while others write (a message changed after the snapshot is
//! listed where it was then).

use super::model::{Message, Thread, ThreadProps};

/// Where a snapshot listing starts and how much it returns.
pub(crate) struct Listing {
    /// List the state as of this stamp (`None`: now).
    pub(crate) snapshot: Option<i64>,
    /// Continue after this sort key and tie-breaker (`None`: from the newest).
    pub(crate) after: Option<(i64, String)>,
    /// Only items at or after this time (epoch ms).
    pub(crate) start_ms: Option<i64>,
    pub(crate) max: usize,
}

/// One page of a snapshot listing.
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    /// The stamp the listing is as of.
    pub(crate) snapshot: i64,
    /// Sort key and tie-breaker of the last item, when more items follow.
    pub(crate) next: Option<(i64, String)>,
}

/// A thread as a thread listing shows it.
pub(crate) struct ThreadRow {
    pub(crate) thread: ThreadProps,
    pub(crate) last_activity_ms: i64,
}

/// The message listing of one thread (see [`ChatStore::list_messages`](super::ChatStore::list_messages)).
pub(super) fn list_messages_in(
    t: &Thread,
    user: &str,
    q: &Listing,
    snapshot: i64,
) -> Page<Message> {
    // Upper bound (exclusive) of the keys still to serve.
    let bound = match &q.after {
        Some((key, tie)) => (*key, tie.parse::<i64>().unwrap_or(i64::MAX)),
        None => (i64::MAX, i64::MAX),
    };
    let wanted = |m: &Message| t.visible(user, m) && q.start_ms.is_none_or(|s| m.id >= s);
    // Messages changed after the snapshot but created before it: listed where they were.
    let mut moved: Vec<(i64, i64, usize)> = Vec::new();
    for (&(_, id), &idx) in t.by_version.range((snapshot.saturating_add(1), i64::MIN)..) {
        if id > snapshot {
            continue;
        }
        let Some(m) = t.messages.get(idx) else {
            continue;
        };
        if let Some(v) = m.version_at(snapshot) {
            if (v, id) < bound && wanted(m) {
                moved.push((v, id, idx));
            }
        }
    }
    moved.sort_unstable_by_key(|m| std::cmp::Reverse((m.0, m.1)));
    let upper = bound.min((snapshot, i64::MAX));
    let mut current = t
        .by_version
        .range(..upper)
        .rev()
        .filter(|(_, &idx)| t.messages.get(idx).is_some_and(&wanted))
        .map(|(&(v, id), &idx)| (v, id, idx))
        .peekable();
    let mut moved = moved.into_iter().peekable();
    let mut page: Vec<(i64, i64, usize)> = Vec::with_capacity(q.max + 1);
    while page.len() <= q.max {
        let next = match (current.peek(), moved.peek()) {
            (Some(a), Some(b)) => {
                if (a.0, a.1) > (b.0, b.1) {
                    current.next()
                } else {
                    moved.next()
                }
            }
            (Some(_), None) => current.next(),
            (None, Some(_)) => moved.next(),
            (None, None) => None,
        };
        match next {
            Some(x) => page.push(x),
            None => break,
        }
    }
    let more = page.len() > q.max;
    page.truncate(q.max);
    let next = if more {
        page.last().map(|&(v, id, _)| (v, id.to_string()))
    } else {
        None
    };
    Page {
        items: page
            .iter()
            .filter_map(|&(_, _, idx)| t.messages.get(idx).cloned())
            .collect(),
        snapshot,
        next,
    }
}
