//! Identities: password hashing, access and refresh tokens, login throttling
//! and the account flows. The request guard built on them is
//! `crate::api::caller::Caller`.

pub mod password;
pub mod service;
pub mod throttle;
pub mod tokens;
