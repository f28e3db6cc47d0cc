//! What the service sends and receives: threads, messages, participants, read receipts and
//! communication identifiers.
