//! The shared blocking transport.
