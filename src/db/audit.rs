//! The append-only audit trail. Every change writes one event in the same
//! transaction as the change itself, linked by hash to the previous event of its
//! organization (the chain, `domain::audit_chain` and `docs/audit.md`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{audit_chain_heads, audit_events};
use super::{new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::audit_chain::{self, BrokenLink, EventContent, Head, Intact, StoredLink};

/// The key of the platform chain (events without an organization) in `audit_chain_heads`.
pub const PLATFORM_CHAIN: &str = "";

/// One audit record about to be written.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    pub organization_id: Option<&'a str>,
    pub actor_user_id: Option<&'a str>,
    /// What happened, dotted: `auth.login_failed`, `member.role_changed`, `deal.countered`.
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> AuditEvent<'a> {
    pub fn new(action: &'a str, subject_type: &'a str, subject_id: Option<&'a str>) -> Self {
        Self {
            action,
            subject_type,
            subject_id,
            ..Self::default()
        }
    }

    pub fn by(mut self, organization_id: Option<&'a str>, actor_user_id: Option<&'a str>) -> Self {
        self.organization_id = organization_id;
        self.actor_user_id = actor_user_id;
        self
    }

    pub fn before(mut self, value: impl Serialize) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }

    pub fn after(mut self, value: impl Serialize) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }

    /// Appends the event to its organization's chain. Meant to run inside the change's
    /// write transaction; called outside one, it opens its own, so the chain head's
    /// lock is always held until the event is committed.
    pub fn write(self, conn: &mut DbConnection) -> Result<(), DbError> {
        let content = EventContent {
            id: new_id(),
            organization_id: self.organization_id.map(str::to_string),
            seq: 0,
            actor_user_id: self.actor_user_id.map(str::to_string),
            action: self.action.to_string(),
            subject_type: self.subject_type.to_string(),
            subject_id: self.subject_id.map(str::to_string),
            before_json: self.before.map(|v| v.to_string()),
            after_json: self.after.map(|v| v.to_string()),
            created_at: now(),
        };
        if in_transaction(conn)? {
            append(conn, content)
        } else {
            write_transaction(conn, |conn| append(conn, content))
        }
    }
}

fn in_transaction(conn: &mut DbConnection) -> Result<bool, DbError> {
    use diesel::connection::TransactionManager;
    type Manager = <DbConnection as Connection>::TransactionManager;
    Ok(Manager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some())
}

fn chain_key(organization_id: Option<&str>) -> &str {
    organization_id.unwrap_or(PLATFORM_CHAIN)
}

/// Locks the head of a chain until the transaction ends (creating it at `seq` 0 and the
/// genesis hash for a chain's first event) and returns it. An upsert whose update is a
/// no-op: on PostgreSQL it takes the row lock and returns the latest committed head, so
/// two transactions appending to one chain queue; SQLite's `IMMEDIATE` write transactions
/// are serialized already.
fn lock_head(conn: &mut DbConnection, chain: &str) -> Result<Head, DbError> {
    let at = now();
    macro_rules! upsert {
        ($conn:expr) => {
            diesel::insert_into(audit_chain_heads::table)
                .values((
                    audit_chain_heads::chain.eq(chain),
                    audit_chain_heads::seq.eq(0_i64),
                    audit_chain_heads::hash.eq(audit_chain::GENESIS),
                    audit_chain_heads::updated_at.eq(at),
                ))
                .on_conflict(audit_chain_heads::chain)
                .do_update()
                .set(audit_chain_heads::seq.eq(audit_chain_heads::seq))
                .returning((audit_chain_heads::seq, audit_chain_heads::hash))
                .get_result::<(i64, String)>($conn)?
        };
    }
    let (seq, hash) = match conn {
        DbConnection::Postgres(c) => upsert!(c),
        DbConnection::Sqlite(c) => upsert!(c),
    };
    Ok(Head { seq, hash })
}

/// Appends one event at the end of its chain: locks the head, links, writes the row and
/// moves the head.
fn append(conn: &mut DbConnection, content: EventContent) -> Result<(), DbError> {
    let chain = chain_key(content.organization_id.as_deref()).to_string();
    let head = lock_head(conn, &chain)?;
    link_after(conn, &chain, head, content, true)?;
    Ok(())
}

/// Links `content` after `head`, writes it (a new row, or the `seq` and hashes of an
/// existing unchained row when `insert` is false) and moves the head; returns the new head.
fn link_after(
    conn: &mut DbConnection,
    chain: &str,
    head: Head,
    mut content: EventContent,
    insert: bool,
) -> Result<Head, DbError> {
    content.seq = head.seq + 1;
    let hash = audit_chain::link_hash(&content, &head.hash);
    if insert {
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::id.eq(&content.id),
                audit_events::organization_id.eq(&content.organization_id),
                audit_events::actor_user_id.eq(&content.actor_user_id),
                audit_events::action.eq(&content.action),
                audit_events::subject_type.eq(&content.subject_type),
                audit_events::subject_id.eq(&content.subject_id),
                audit_events::before_json.eq(&content.before_json),
                audit_events::after_json.eq(&content.after_json),
                audit_events::created_at.eq(content.created_at),
                audit_events::seq.eq(Some(content.seq)),
                audit_events::prev_hash.eq(Some(&head.hash)),
                audit_events::hash.eq(Some(&hash)),
            ))
            .execute(conn)?;
    } else {
        diesel::update(audit_events::table.find(&content.id))
            .set((
                audit_events::seq.eq(Some(content.seq)),
                audit_events::prev_hash.eq(Some(&head.hash)),
                audit_events::hash.eq(Some(&hash)),
            ))
            .execute(conn)?;
    }
    diesel::update(audit_chain_heads::table.find(chain))
        .set((
            audit_chain_heads::seq.eq(content.seq),
            audit_chain_heads::hash.eq(&hash),
            audit_chain_heads::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(Head {
        seq: content.seq,
        hash,
    })
}

/// An audit event as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub organization_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub created_at: NaiveDateTime,
    pub seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl AuditRow {
    fn content(&self) -> EventContent {
        EventContent {
            id: self.id.clone(),
            organization_id: self.organization_id.clone(),
            seq: self.seq.unwrap_or(0),
            actor_user_id: self.actor_user_id.clone(),
            action: self.action.clone(),
            subject_type: self.subject_type.clone(),
            subject_id: self.subject_id.clone(),
            before_json: self.before_json.clone(),
            after_json: self.after_json.clone(),
            created_at: self.created_at,
        }
    }
}

/// What the startup backfill chained.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chained {
    pub chains: usize,
    pub events: usize,
}

/// Chains the events written before the chain existed (migration
/// `2026-12-01-000012_audit_chain`), or by a node of an older version during a rolling
/// upgrade: per chain, in one write transaction, oldest first (`created_at`, then id),
/// appended after the chain's current head. Runs in the migration lock at every start;
/// with nothing unchained it is one indexed query.
pub fn backfill(conn: &mut DbConnection) -> Result<Chained, DbError> {
    let mut done = Chained::default();
    let chains: Vec<Option<String>> = audit_events::table
        .filter(audit_events::seq.is_null())
        .select(audit_events::organization_id)
        .distinct()
        .load(conn)?;
    for organization_id in chains {
        let chained = write_transaction(conn, |conn| {
            let chain = chain_key(organization_id.as_deref()).to_string();
            let mut head = lock_head(conn, &chain)?;
            let mut query = audit_events::table
                .filter(audit_events::seq.is_null())
                .select(AuditRow::as_select())
                .order((audit_events::created_at.asc(), audit_events::id.asc()))
                .into_boxed();
            query = match &organization_id {
                Some(id) => query.filter(audit_events::organization_id.eq(id)),
                None => query.filter(audit_events::organization_id.is_null()),
            };
            let rows = query.load(conn)?;
            for row in &rows {
                head = link_after(conn, &chain, head, row.content(), false)?;
            }
            Ok::<_, DbError>(rows.len())
        })?;
        done.chains += 1;
        done.events += chained;
    }
    Ok(done)
}

/// A chain: the organization whose it is, or `None` for the platform chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub organization_id: Option<String>,
    pub outcome: Result<Intact, BrokenLink>,
}

/// Walks every chain (those with events and those with a recorded head) and reports
/// each one, intact or with its first broken link.
pub fn verify_all(conn: &mut DbConnection) -> Result<Vec<ChainReport>, DbError> {
    let mut chains: Vec<Option<String>> = audit_events::table
        .select(audit_events::organization_id)
        .distinct()
        .load(conn)?;
    let heads: Vec<(String, i64, String)> = audit_chain_heads::table
        .select((
            audit_chain_heads::chain,
            audit_chain_heads::seq,
            audit_chain_heads::hash,
        ))
        .load(conn)?;
    for (chain, _, _) in &heads {
        let key = (chain != PLATFORM_CHAIN).then(|| chain.clone());
        if !chains.contains(&key) {
            chains.push(key);
        }
    }
    chains.sort();
    let mut reports = Vec::with_capacity(chains.len());
    for organization_id in chains {
        let head = heads
            .iter()
            .find(|(chain, _, _)| chain == chain_key(organization_id.as_deref()))
            .map(|(_, seq, hash)| Head {
                seq: *seq,
                hash: hash.clone(),
            });
        let outcome = verify_chain(conn, organization_id.as_deref(), head.as_ref())?;
        reports.push(ChainReport {
            organization_id,
            outcome,
        });
    }
    Ok(reports)
}

/// Walks one chain in `seq` order (rows without a `seq` are broken links: they were
/// written around the chain).
pub fn verify_chain(
    conn: &mut DbConnection,
    organization_id: Option<&str>,
    head: Option<&Head>,
) -> Result<Result<Intact, BrokenLink>, DbError> {
    let mut query = audit_events::table
        .select(AuditRow::as_select())
        .order((audit_events::seq.asc(), audit_events::id.asc()))
        .into_boxed();
    query = match organization_id {
        Some(id) => query.filter(audit_events::organization_id.eq(id)),
        None => query.filter(audit_events::organization_id.is_null()),
    };
    let rows = query.load(conn)?;
    if let Some(row) = rows
        .iter()
        .find(|r| r.seq.is_none() || r.prev_hash.is_none() || r.hash.is_none())
    {
        return Ok(Err(BrokenLink {
            id: Some(row.id.clone()),
            seq: row.seq,
            breach: audit_chain::Breach::Unchained,
        }));
    }
    let links = rows.into_iter().map(|row| StoredLink {
        content: row.content(),
        prev_hash: row.prev_hash.unwrap_or_default(),
        hash: row.hash.unwrap_or_default(),
    });
    Ok(audit_chain::verify(links, head))
}

/// The recorded head of an organization's chain (`None` before its first event).
pub fn head(conn: &mut DbConnection, organization_id: &str) -> Result<Option<Head>, DbError> {
    Ok(audit_chain_heads::table
        .find(organization_id)
        .select((audit_chain_heads::seq, audit_chain_heads::hash))
        .first::<(i64, String)>(conn)
        .optional()?
        .map(|(seq, hash)| Head { seq, hash }))
}

/// Which events of an organization's trail to read.
#[derive(Debug, Clone, Default)]
pub struct TrailFilter {
    pub subject_type: Option<String>,
    pub subject_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    /// Exclusive.
    pub to: Option<NaiveDateTime>,
}

/// An organization's audit events, newest first (by `seq`), those before `before_seq`
/// when given, at most `limit` (`None`: all).
pub fn trail(
    conn: &mut DbConnection,
    organization_id: &str,
    filter: &TrailFilter,
    before_seq: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<AuditRow>, DbError> {
    let mut query = audit_events::table
        .filter(audit_events::organization_id.eq(organization_id))
        .select(AuditRow::as_select())
        .order(audit_events::seq.desc())
        .into_boxed();
    if let Some(subject_type) = &filter.subject_type {
        query = query.filter(audit_events::subject_type.eq(subject_type.clone()));
    }
    if let Some(subject_id) = &filter.subject_id {
        query = query.filter(audit_events::subject_id.eq(subject_id.clone()));
    }
    if let Some(actor) = &filter.actor_user_id {
        query = query.filter(audit_events::actor_user_id.eq(actor.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::created_at.lt(to));
    }
    if let Some(before) = before_seq {
        query = query.filter(audit_events::seq.lt(before));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    Ok(query.load(conn)?)
}
