//! Hits and misses of this node's caches on `/metrics`, read from the caches'
//! own counters at every scrape: `cadenza_cache_lookups_total{cache, result}`.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, Opts, Registry};

use super::read_cache::ReadCache;
use crate::db::postings_cache::PostingsCache;

pub struct CacheMetrics {
    postings: Arc<PostingsCache>,
    read_cache: Arc<ReadCache>,
    lookups: IntCounterVec,
}

impl CacheMetrics {
    pub fn register(
        registry: &Registry,
        postings: Arc<PostingsCache>,
        read_cache: Arc<ReadCache>,
    ) -> Result<(), prometheus::Error> {
        let lookups = IntCounterVec::new(
            Opts::new(
                "cadenza_cache_lookups_total",
                "Lookups in this node's caches by cache and result (hit or miss): the \
                 rendered read answers per view (read_cache_browse, read_cache_deal, …) and \
                 the decoded catalog postings (postings)",
            ),
            &["cache", "result"],
        )?;
        registry.register(Box::new(CacheMetrics {
            postings,
            read_cache,
            lookups,
        }))
    }

    /// Brings the counter of `cache`/`result` up to `total` (the caches count
    /// monotonically, so the difference is never negative).
    fn sync(&self, cache: &str, result: &str, total: u64) {
        let counter = self.lookups.with_label_values(&[cache, result]);
        counter.inc_by(total.saturating_sub(counter.get()));
    }
}

impl Collector for CacheMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.lookups.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.sync("postings", "hit", self.postings.hits());
        self.sync("postings", "miss", self.postings.misses());
        for (view, hits, misses) in self.read_cache.lookups() {
            let cache = format!("read_cache_{}", view.as_str());
            self.sync(&cache, "hit", hits);
            self.sync(&cache, "miss", misses);
        }
        self.lookups.collect()
    }
}
