//! Users and tokens: the ACS Identity API, signed with the resource access key (HMAC-SHA256).
