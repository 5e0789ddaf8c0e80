//! Identities: password hashing, access and refresh tokens, and the request
//! guard that turns a bearer token into an authenticated [`Caller`].

pub mod tokens;
