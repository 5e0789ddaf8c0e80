//! The web app licensing teams work in: server-rendered pages served by the same
//! binary, beside the JSON API. Pages parse a form or query, call the same services and
//! reads the API handlers call (`crate::deals`, `crate::auth::service`, the view
//! builders of `crate::api`), and render `templates/web/*.html` with minijinja. So the
//! rules — roles, organization boundaries (404 for what is not yours), versions — are
//! the API's, not a copy of them. Sign-in is a session cookie over the same accounts
//! and refresh-token store; every form carries a CSRF token (see [`session`]).
//! `docs/web.md` describes the pages.

pub mod assets;
pub mod catalogs;
pub mod deals;
pub mod error;
pub mod forms;
pub mod market;
pub mod offers;
pub mod once;
pub mod pages;
pub mod render;
pub mod session;

use actix_web::web;

/// Mounts every page at the root (the API lives under `/api/v1`, so paths never clash).
pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    catalogs::configure(cfg);
    session::configure(cfg);
    market::configure(cfg);
    offers::configure(cfg);
    deals::configure(cfg);
    pages::configure(cfg);
}
