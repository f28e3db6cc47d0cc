//! The chat clients.
