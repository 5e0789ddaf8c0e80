//! Black-box HTTP tests: each starts the real server on both backends.

mod helpers;
mod smtp_sink;

mod accounts;
mod audit;
mod catalogs;
mod ddex;
mod deals;
mod foundation;
mod guide;
mod hostile_input;
mod licensee_tracks;
mod mail;
mod market_rules;
mod marketplace;
mod openapi;
mod read_cache;
mod reliability;
mod rights;
mod royalties;
mod royalty_terms;
mod statements;
mod web;
mod web_browser;
mod webhooks;
