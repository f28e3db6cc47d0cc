//! Reset and inspection of the whole store, for `/emulator/reset` and `/emulator/state`.

use super::{lock, persist, ChatStore, StoreError};

/// One thread as `/emulator/state` shows it: ids, names and counts, never message content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ThreadSummary {
    pub(crate) id: String,
    pub(crate) topic: String,
    pub(crate) created_by: String,
    pub(crate) deleted: bool,
    /// (raw id, display name) of each participant now.
    pub(crate) participants: Vec<(String, Option<String>)>,
    /// Messages held, system messages included (a deleted thread holds none).
    pub(crate) messages: usize,
    /// Of those, sent by users (deleted ones included).
    pub(crate) user_messages: usize,
}

impl ChatStore {
    /// Forgets every thread, message, receipt and idempotency record, and with a data
    /// directory also every user row (the directory's memory is cleared by its caller). The
    /// stamp clock keeps running, so ids and versions stay increasing across a reset.
    ///
    /// # Errors
    /// The data directory's database refused the write; nothing was forgotten then.
    pub(crate) fn reset(&self) -> Result<(), StoreError> {
        let mut idem = lock(&self.idempotency);
        let mut threads = self.threads.write().unwrap_or_else(|p| p.into_inner());
        self.save("reset", persist::clear_all)?;
        threads.clear();
        idem.clear();
        Ok(())
    }

    /// Every thread (deleted ones too), oldest first.
    pub(crate) fn summaries(&self) -> Vec<ThreadSummary> {
        let mut out: Vec<(i64, ThreadSummary)> = self
            .all()
            .iter()
            .map(|handle| {
                let t = lock(handle);
                let summary = ThreadSummary {
                    id: t.props.id.clone(),
                    topic: t.props.topic.clone(),
                    created_by: t.props.created_by.clone(),
                    deleted: t.props.deleted_ms.is_some(),
                    participants: t
                        .participants
                        .iter()
                        .map(|p| (p.id.clone(), p.display_name.clone()))
                        .collect(),
                    messages: t.messages.len(),
                    user_messages: t.messages.iter().filter(|m| m.sender.is_some()).count(),
                };
                (t.props.created_ms, summary)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        out.into_iter().map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
impl ChatStore {
    /// Everything the store holds, in a stable order (threads by id, indexes sorted), for
    /// tests that compare states.
    pub(crate) fn dump(&self) -> String {
        let mut threads: Vec<String> = self
            .all()
            .iter()
            .map(|handle| {
                let t = lock(handle);
                let mut by_id: Vec<_> = t.by_id.iter().collect();
                by_id.sort();
                format!(
                    "{:?}\n{:?}\n{:?}\n{:?}\n{by_id:?}\n{:?}",
                    t.props, t.participants, t.receipts, t.messages, t.by_version
                )
            })
            .collect();
        threads.sort();
        let mut idem: Vec<_> = lock(&self.idempotency)
            .iter()
            .map(|(k, v)| format!("{k:?}={v:?}"))
            .collect();
        idem.sort();
        format!("{threads:#?}\n{idem:?}")
    }
}
