pub fn placeholder() {}
pub mod auth;
pub mod hmac;
pub mod identity;
