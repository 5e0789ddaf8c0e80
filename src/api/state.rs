//! What every handler can reach. Lives beside the handlers rather than in
//! `crate::app`, which mounts them, so dependencies point one way: `app` → `api`.

use std::sync::Arc;

use super::read_cache::ReadCache;
use crate::auth::tokens::TokenKeys;
use crate::config::ServeSettings;
use crate::db::postings_cache::PostingsCache;
use crate::db::Db;
use crate::domain::market_rules::MarketRules;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub tokens: TokenKeys,
    pub settings: Arc<ServeSettings>,
    /// Decoded postings shared by every worker of this process.
    pub postings: Arc<PostingsCache>,
    /// Rendered marketplace and deal-room answers (`api::read_cache`).
    pub read_cache: Arc<ReadCache>,
    /// The operator's market rules (`CADENZA_MARKET_RULES`), read once at start.
    pub market_rules: Arc<MarketRules>,
}
