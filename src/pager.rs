//! Lazy, page-at-a-time iteration over list operations.
