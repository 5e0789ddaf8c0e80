//! Cadenza: a copyright sublicensing marketplace between music platforms.
//!
//! Layers (see `docs/architecture.md`): [`domain`] is pure logic, [`db`] owns
//! storage, the services ([`deals`], [`marketplace`], [`catalogs`],
//! [`notifications`], [`auth`], [`import`], [`sweeper`]) own each operation's
//! transaction, audit event and notifications, and [`api`] is the HTTP edge
//! (parse, call, render); [`app`] wires them into a server and [`cli`] is the
//! command line. Dependencies point one way: api → services → domain, db below.

pub mod api;
pub mod app;
pub mod auth;
pub mod bench;
pub mod catalogs;
pub mod cli;
pub mod config;
pub mod db;
pub mod deals;
pub mod demo;
pub mod domain;
pub mod import;
pub mod mail;
pub mod marketplace;
pub mod notifications;
pub mod royalties;
pub mod sweeper;
pub mod telemetry;
pub mod web;
pub mod webhooks;
