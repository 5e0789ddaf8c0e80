//! Cadenza: a copyright sublicensing marketplace between music platforms.
//!
//! Layers (see `docs/architecture.md`): [`domain`] is pure logic, [`db`] owns
//! storage, [`api`] the HTTP edge, [`auth`] identities and tokens; [`app`]
//! wires them into a server and [`cli`] is the command line.

pub mod api;
pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod deals;
pub mod demo;
pub mod domain;
pub mod import;
pub mod mail;
pub mod sweeper;
pub mod telemetry;
