//! One thread's feed: where it stands, and the poll that walks the message list back to
//! that position.
//!
//! The walk reads `list_messages` (newest version first) page by page and stops at the first
//! message at or behind the position, so an idle poll is one request and any number of
//! changes between two polls are all found. The first message of the walk fixes the walk's
//! top version, and the position moves only up to it: a message listed further down with a
//! higher version changed while the walk ran, and messages changed meanwhile on pages already
//! read would be skipped by a position past the top. Such a message is handed out at once,
//! and remembered in the position's `ahead` list so that the next walk does not hand it out
//! again.

use std::collections::HashSet;
use std::time::Instant;

use super::cursor::{item_key, FeedPosition, Position};
use super::event::{classify, version_of};
use super::ThreadEvent;
use crate::client::{ChatThreadClient, ListMessagesOptions, ListReadReceiptsOptions};
use crate::error::Result;
use crate::models::{ChatMessage, ChatMessageReadReceipt};

/// Where a feed starts.
#[derive(Clone, Debug)]
pub(crate) enum Start {
    /// At the thread's newest change, read by the first poll.
    Now,
    /// Before everything still listed.
    Beginning,
    /// Just after a saved position.
    At(FeedPosition),
}

/// One thread's feed state.
#[derive(Debug)]
pub(crate) struct Feed {
    /// Just after the last event handed out (valid once `started`).
    delivered: FeedPosition,
    /// Whether `delivered` is known (a `Now` feed learns it from its first poll).
    started: bool,
    /// Where the last poll ended; becomes `delivered` once all its events are handed out.
    batch_end: Option<FeedPosition>,
    /// The last poll's top version: messages handed out above it go to `ahead`.
    batch_top: i64,
    /// When read receipts may be polled next.
    receipts_due: Option<Instant>,
}

/// What a walk of the message list found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Messages changed after the position, oldest change first.
    pub(crate) changes: Vec<(i64, ChatMessage)>,
    /// The position just after all of them.
    pub(crate) end: Position,
    /// The walk's top version: changes above it go to `end.ahead`.
    pub(crate) top: i64,
}

fn sort_key(stamp: i64, id: &str) -> (i64, usize, String) {
    (stamp, id.len(), id.to_string())
}

/// Walks `pages` (newest version first) back to `position`.
pub(crate) fn walk<I>(pages: I, position: &Position) -> Result<Walk>
where
    I: IntoIterator<Item = Result<Vec<ChatMessage>>>,
{
    let mut top: Option<i64> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut changes = Vec::new();
    // Items already handed out above the old position that this walk passes.
    let mut passed: Vec<(i64, String)> = Vec::new();
    'pages: for page in pages {
        let mut reached = false;
        for message in page? {
            let stamp = version_of(&message)?;
            let top = *top.get_or_insert(stamp);
            if stamp < position.stamp {
                reached = true;
                break;
            }
            let key = item_key(&message.id);
            if !seen.insert(key.clone()) {
                continue;
            }
            if !position.is_before(stamp, &key) {
                if stamp <= top && stamp > position.stamp {
                    passed.push((stamp, key));
                }
                continue;
            }
            changes.push((stamp, message));
        }
        if reached {
            break 'pages;
        }
    }
    changes.sort_by_cached_key(|(stamp, m)| sort_key(*stamp, &m.id));
    let top = top.unwrap_or(position.stamp).max(position.stamp);
    let mut end = Position {
        stamp: position.stamp,
        keys: position.keys.clone(),
        ahead: Vec::new(),
    };
    let mut behind: Vec<(i64, String)> = changes
        .iter()
        .filter(|(stamp, _)| *stamp <= top)
        .map(|(stamp, m)| (*stamp, item_key(&m.id)))
        .chain(passed)
        .collect();
    behind.sort_by_cached_key(|(stamp, key)| sort_key(*stamp, key));
    for (stamp, key) in behind {
        end.advance(stamp, key);
    }
    // What was handed out above the new position stays remembered; the rest is behind it.
    end.ahead = position
        .ahead
        .iter()
        .filter(|(_, stamp)| *stamp > end.stamp)
        .cloned()
        .collect();
    for (stamp, m) in changes.iter().filter(|(stamp, _)| *stamp > top) {
        end.add_ahead(*stamp, item_key(&m.id));
    }
    Ok(Walk { changes, end, top })
}

/// The newest position of `pages` (newest version first): the top version and every id at it.
pub(crate) fn head<I>(pages: I) -> Result<Position>
where
    I: IntoIterator<Item = Result<Vec<ChatMessage>>>,
{
    let mut head = Position::default();
    let mut top: Option<i64> = None;
    for page in pages {
        for message in page? {
            let stamp = version_of(&message)?;
            let top = *top.get_or_insert(stamp);
            if stamp > top {
                continue;
            }
            if stamp < top {
                return Ok(head);
            }
            head.advance(stamp, item_key(&message.id));
        }
    }
    Ok(head)
}

fn receipt_stamp(r: &ChatMessageReadReceipt) -> (i64, String) {
    let key = item_key(&format!("{}\n{}", r.sender.raw_id(), r.chat_message_id));
    (r.read_on.timestamp_millis(), key)
}

impl Feed {
    pub(crate) fn new(start: Start) -> Feed {
        let (delivered, started) = match start {
            Start::Now => (FeedPosition::default(), false),
            Start::Beginning => (
                FeedPosition {
                    messages: Position::default(),
                    receipts: Some(Position::default()),
                },
                true,
            ),
            Start::At(p) => (p, true),
        };
        Feed {
            delivered,
            started,
            batch_end: None,
            batch_top: i64::MAX,
            receipts_due: None,
        }
    }

    /// Just after the last event handed out; `None` before a `Now` feed's first poll.
    pub(crate) fn delivered(&self) -> Option<&FeedPosition> {
        self.started.then_some(&self.delivered)
    }

    /// Whether read receipts may be polled at `now`.
    pub(crate) fn receipts_due(&self, now: Instant) -> bool {
        self.receipts_due.is_none_or(|due| now >= due)
    }

    /// One poll: the events after the position, oldest first (messages, then read receipts
    /// when `receipts_until` is given: the earliest time of the receipt poll after this one).
    /// The position moves only as events are handed out ([`handed_out`](Self::handed_out),
    /// [`batch_done`](Self::batch_done)).
    pub(crate) fn poll(
        &mut self,
        thread: &ChatThreadClient,
        page_size: i32,
        receipts_until: Option<Instant>,
    ) -> Result<Vec<ThreadEvent>> {
        let pages = || {
            thread
                .list_messages(Some(ListMessagesOptions {
                    results_per_page: Some(page_size),
                    ..Default::default()
                }))
                .by_page()
                .map(|p| p.map(|p| p.items))
        };
        if !self.started {
            let messages = head(pages())?;
            let receipts = match receipts_until {
                Some(_) => Some(self.receipt_head(thread, page_size)?),
                None => None,
            };
            self.delivered = FeedPosition { messages, receipts };
            self.started = true;
            self.receipts_due = receipts_until;
            return Ok(Vec::new());
        }
        let walked = walk(pages(), &self.delivered.messages)?;
        self.batch_top = walked.top;
        let position = self.delivered.messages.clone();
        let mut events: Vec<ThreadEvent> = walked
            .changes
            .into_iter()
            .map(|(_, m)| classify(m, &position))
            .collect();
        let mut end = FeedPosition {
            messages: walked.end,
            receipts: self.delivered.receipts.clone(),
        };
        if let Some(until) = receipts_until {
            match &self.delivered.receipts {
                None => end.receipts = Some(self.receipt_head(thread, page_size)?),
                Some(after) => {
                    let mut fresh: Vec<((i64, String), ChatMessageReadReceipt)> = self
                        .receipts(thread, page_size)?
                        .into_iter()
                        .map(|r| (receipt_stamp(&r), r))
                        .filter(|((stamp, key), _)| after.is_before(*stamp, key))
                        .collect();
                    fresh.sort_by(|a, b| a.0.cmp(&b.0));
                    let mut moved = after.clone();
                    for ((stamp, key), r) in fresh {
                        moved.advance(stamp, key);
                        events.push(ThreadEvent::ReadReceipt(r));
                    }
                    end.receipts = Some(moved);
                }
            }
            self.receipts_due = Some(until);
        }
        self.batch_end = Some(end);
        Ok(events)
    }

    fn receipts(
        &self,
        thread: &ChatThreadClient,
        page_size: i32,
    ) -> Result<Vec<ChatMessageReadReceipt>> {
        thread
            .list_read_receipts(Some(ListReadReceiptsOptions {
                results_per_page: Some(page_size),
                ..Default::default()
            }))
            .collect()
    }

    fn receipt_head(&self, thread: &ChatThreadClient, page_size: i32) -> Result<Position> {
        let mut head = Position::default();
        let mut all: Vec<(i64, String)> = self
            .receipts(thread, page_size)?
            .iter()
            .map(receipt_stamp)
            .collect();
        all.sort();
        for (stamp, key) in all {
            head.advance(stamp, key);
        }
        Ok(head)
    }

    /// Moves the position past `event` (events are handed out in the order `poll` gave).
    pub(crate) fn handed_out(&mut self, event: &ThreadEvent) {
        if let ThreadEvent::ReadReceipt(r) = event {
            let (stamp, key) = receipt_stamp(r);
            self.delivered
                .receipts
                .get_or_insert_with(Position::default)
                .advance(stamp, key);
        } else if let Some(m) = event.message() {
            if let Ok(stamp) = version_of(m) {
                if stamp > self.batch_top {
                    self.delivered.messages.add_ahead(stamp, item_key(&m.id));
                } else {
                    self.delivered.messages.advance(stamp, item_key(&m.id));
                }
            }
        }
    }

    /// Every event of the last poll was handed out: the position moves to where the poll
    /// ended (past messages it found but handed out no event for).
    pub(crate) fn batch_done(&mut self) {
        if let Some(end) = self.batch_end.take() {
            self.delivered = end;
        }
    }

    /// Forgets the last poll's events that were not handed out (a stopped or failed watch).
    pub(crate) fn batch_dropped(&mut self) {
        self.batch_end = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::tests::message;
    use super::*;

    fn pos(stamp: i64, keys: &[i64]) -> Position {
        Position {
            stamp,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            ahead: Vec::new(),
        }
    }

    fn pages(items: &[&[(i64, i64)]]) -> Vec<Result<Vec<ChatMessage>>> {
        items
            .iter()
            .map(|page| {
                Ok(page
                    .iter()
                    .map(|&(id, v)| message(id, v, "text", v != id, false))
                    .collect())
            })
            .collect()
    }

    fn ids(w: &Walk) -> Vec<i64> {
        w.changes
            .iter()
            .map(|(_, m)| m.id.parse().expect("numeric"))
            .collect()
    }

    /// Changes are handed out oldest first and the walk stops at the position.
    #[test]
    fn walk_returns_changes_oldest_first_and_stops_at_position() {
        let list = pages(&[&[(5, 9), (8, 8), (7, 7)], &[(6, 6), (4, 4)], &[(3, 3)]]);
        let w = walk(list, &pos(6, &[6])).expect("walk");
        assert_eq!(ids(&w), [7, 8, 5], "changes");
        assert_eq!(w.end, pos(9, &[5]));
    }

    /// Several messages at the same version are all delivered, and ties already seen are not.
    #[test]
    fn walk_handles_ties_at_the_cursor_version() {
        let list = pages(&[&[(12, 10), (11, 10), (10, 10), (9, 9)]]);
        let w = walk(list, &pos(10, &[10])).expect("walk");
        assert_eq!(ids(&w), [11, 12], "changes");
        assert_eq!(w.end, pos(10, &[10, 11, 12]));
        let again = walk(pages(&[&[(12, 10), (11, 10), (10, 10)]]), &w.end).expect("walk");
        assert!(again.changes.is_empty(), "{:?}", ids(&again));
    }

    /// A message seen further down with a version above the walk's top is handed out now,
    /// remembered as ahead, and not handed out again; the position stays at the top.
    #[test]
    fn walk_hands_out_messages_changed_during_the_walk_once() {
        let list = pages(&[&[(8, 8), (7, 7)], &[(3, 20), (6, 6)]]);
        let w = walk(list, &pos(5, &[5])).expect("walk");
        assert_eq!(ids(&w), [6, 7, 8, 3]);
        assert_eq!(w.top, 8);
        let mut want = pos(8, &[8]);
        want.ahead = vec![("3".into(), 20)];
        assert_eq!(w.end, want);
        let next = walk(pages(&[&[(3, 20), (9, 9), (8, 8)]]), &w.end).expect("walk");
        assert_eq!(ids(&next), [9], "3 at version 20 was handed out already");
        assert_eq!(next.end, pos(20, &[3]), "ahead folded into the position");
        let edited = walk(pages(&[&[(3, 21), (9, 9)]]), &w.end).expect("walk");
        assert_eq!(ids(&edited), [9, 3], "3 changed again");
    }

    /// The same message listed twice (a shifting list) is delivered once.
    #[test]
    fn walk_delivers_duplicates_once() {
        let list = pages(&[&[(8, 8), (7, 7)], &[(7, 7), (6, 6)]]);
        let w = walk(list, &pos(5, &[])).expect("walk");
        assert_eq!(ids(&w), [6, 7, 8]);
    }

    /// An idle walk reads only the first page.
    #[test]
    fn walk_reads_one_page_when_idle() {
        let mut fetched = 0;
        let list = pages(&[&[(8, 8), (7, 7)], &[(6, 6)]]);
        let counted = list.into_iter().inspect(|_| fetched += 1);
        let w = walk(counted, &pos(8, &[8])).expect("walk");
        assert!(w.changes.is_empty());
        assert_eq!(fetched, 1, "pages fetched");
    }

    /// The head is the top version with every id at it.
    #[test]
    fn head_collects_every_id_at_the_top_version() {
        let h = head(pages(&[&[(9, 9), (8, 9)], &[(7, 9), (6, 6)]])).expect("head");
        assert_eq!(h, pos(9, &[9, 8, 7]));
        assert_eq!(head(pages(&[&[]])).expect("head"), Position::default());
    }

    /// An error page ends the walk with that error.
    #[test]
    fn walk_passes_page_errors_on() {
        let list = vec![Err(crate::Error::UnexpectedResponse("boom".into()))];
        assert!(walk(list, &Position::default()).is_err());
    }
}
