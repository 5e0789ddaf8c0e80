//! Black-box HTTP tests: each starts the real server on both backends.

mod helpers;

mod accounts;
mod catalogs;
mod foundation;
