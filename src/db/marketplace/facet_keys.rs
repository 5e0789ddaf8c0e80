//! Which genres and labels each offer's slice holds, interned and kept in memory.
//! An offer's facet rows never change (slices are immutable and existing tracks
//! keep their attributes), so an entry never goes stale; offers number in the
//! thousands, so the whole index is a few million integers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use diesel::prelude::*;

use super::FacetCount;
use crate::db::schema::offer_facets;
use crate::db::{DbConnection, DbError};

#[derive(Default)]
struct Index {
    /// (kind, folded key) → interned number.
    numbers: HashMap<(String, String), u32>,
    /// Interned number → (kind, display).
    names: Vec<(String, String)>,
    /// Offer id → interned numbers of its genres and labels.
    offers: HashMap<String, Arc<[u32]>>,
}

static INDEX: OnceLock<Mutex<Index>> = OnceLock::new();

/// Counts per interned key over a set of offers.
pub struct Counts {
    per_key: Vec<i64>,
    names: Vec<(String, String)>,
}

impl Counts {
    /// The `n` values of `kind` held by most offers (ties by value).
    pub fn top(&self, kind: &str, n: usize) -> Vec<FacetCount> {
        let mut values: Vec<FacetCount> = self
            .per_key
            .iter()
            .enumerate()
            .filter(|(i, c)| **c > 0 && self.names[*i].0 == kind)
            .map(|(i, c)| FacetCount {
                value: self.names[i].1.clone(),
                offers: *c,
            })
            .collect();
        values.sort_by(|a, b| b.offers.cmp(&a.offers).then_with(|| a.value.cmp(&b.value)));
        values.truncate(n);
        values
    }
}

/// How many of `offer_ids` hold each genre and label. Offers not yet indexed are
/// loaded first, under the index lock, so concurrent first requests load once.
pub fn count(conn: &mut DbConnection, offer_ids: &[String]) -> Result<Counts, DbError> {
    let lock = INDEX.get_or_init(|| Mutex::new(Index::default()));
    let mut index = lock
        .lock()
        .map_err(|_| DbError::Corrupt("facet index lock poisoned".into()))?;
    let missing: Vec<&str> = offer_ids
        .iter()
        .filter(|id| !index.offers.contains_key(id.as_str()))
        .map(String::as_str)
        .collect();
    for chunk in missing.chunks(200) {
        let rows: Vec<(String, String, String, String)> = offer_facets::table
            .filter(offer_facets::offer_id.eq_any(chunk))
            .select((
                offer_facets::offer_id,
                offer_facets::kind,
                offer_facets::posting_key,
                offer_facets::display,
            ))
            .load(conn)?;
        let mut per_offer: HashMap<String, Vec<u32>> = chunk
            .iter()
            .map(|id| (id.to_string(), Vec::new()))
            .collect();
        for (offer_id, kind, key, display) in rows {
            let next = index.names.len() as u32;
            let number = *index.numbers.entry((kind.clone(), key)).or_insert(next);
            if number == next {
                index.names.push((kind, display));
            }
            per_offer.entry(offer_id).or_default().push(number);
        }
        for (offer_id, numbers) in per_offer {
            index.offers.insert(offer_id, numbers.into());
        }
    }
    let mut per_key = vec![0i64; index.names.len()];
    for id in offer_ids {
        if let Some(numbers) = index.offers.get(id) {
            for &n in numbers.iter() {
                per_key[n as usize] += 1;
            }
        }
    }
    Ok(Counts {
        per_key,
        names: index.names.clone(),
    })
}

/// Loads the keys of every published offer, so that no request waits for them:
/// `cadenza serve` calls it before it listens (2.3 s on the 1,000-offer, 15M-track
/// market of docs/performance.md). Offers published later are loaded by the first
/// browse that sees them, a few thousand rows each.
pub fn warm(conn: &mut DbConnection) -> Result<usize, DbError> {
    use crate::db::schema::offers;
    use crate::domain::listing::OfferState;
    let ids: Vec<String> = offers::table
        .filter(offers::status.eq(OfferState::Published.as_str()))
        .select(offers::id)
        .load(conn)?;
    count(conn, &ids)?;
    Ok(ids.len())
}
