//! Self-declared holdings, editable with history: a catalog's own holding and
//! its overrides for one label or one recording. Every change is a new version
//! (the old ones stay readable), audited, and re-checks what was granted from
//! the catalog (`chain::holding_changed`) in the same transaction, so a cut
//! reaches every grant downstream.
//!
//! A catalog received through a grant has no self-declared holding: its rights
//! are the grant's, and editing them is refused.

use serde::Serialize;

use super::{chain, DealError};
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Catalog, HoldingColumns};
use crate::db::holdings::{self, HoldingVersionRow};
use crate::db::{new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::account::Author;
use crate::domain::isrc::Isrc;
use crate::domain::period::Period;
use crate::domain::selector::fold_key;
use crate::domain::territory::Territories;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;

/// Held rights as typed by the catalog's owner, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldingTerms {
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
    pub sublicensable: bool,
}

impl HoldingTerms {
    fn columns(&self) -> Result<HoldingColumns, DbError> {
        let json = |v: serde_json::Result<String>| {
            v.map_err(|e| DbError::Corrupt(format!("cannot serialize: {e}")))
        };
        Ok(HoldingColumns {
            territories: json(serde_json::to_string(&self.territories))?,
            usages: json(serde_json::to_string(&self.usages))?,
            start_date: self.period.start,
            end_date: self.period.end,
            sublicensable: self.sublicensable,
        })
    }
}

/// What an override applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideTarget {
    /// Every track of the label, now and imported later (matched as the index
    /// folds labels: case and spacing do not matter).
    Label(String),
    Recording(Isrc),
}

impl OverrideTarget {
    fn scope(&self) -> &'static str {
        match self {
            OverrideTarget::Label(_) => "label",
            OverrideTarget::Recording(_) => "recording",
        }
    }

    fn key(&self) -> String {
        match self {
            OverrideTarget::Label(label) => fold_key(label),
            OverrideTarget::Recording(isrc) => isrc.as_str().to_string(),
        }
    }

    fn display(&self) -> String {
        match self {
            OverrideTarget::Label(label) => label.trim().to_string(),
            OverrideTarget::Recording(isrc) => isrc.as_str().to_string(),
        }
    }
}

/// What a holding change did downstream.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldingChanged {
    /// The version written.
    pub id: String,
    pub version: i32,
    /// Grants (at any depth) marked as having lost backing by this change.
    pub grants_marked: usize,
}

fn owned_self_declared(
    conn: &mut DbConnection,
    author: &Author,
    catalog_id: &str,
) -> Result<Catalog, DealError> {
    let catalog = catalogs::find_owned_catalog(conn, &author.organization_id, catalog_id)?
        .ok_or(DealError::NotFound("catalog"))?;
    if let Some(grant_id) = &catalog.backing_grant_id {
        return Err(DealError::conflict(format!(
            "this catalog was received through grant {grant_id}: its rights are that grant's and cannot be edited"
        )));
    }
    Ok(catalog)
}

#[allow(clippy::too_many_arguments)] // one row's columns, named at the call
fn version_row(
    catalog: &Catalog,
    scope: &str,
    key: String,
    display: String,
    version: i32,
    columns: HoldingColumns,
    removed: bool,
    author: &Author,
    at: chrono::NaiveDateTime,
) -> HoldingVersionRow {
    HoldingVersionRow {
        id: new_id(),
        catalog_id: catalog.id.clone(),
        scope: scope.to_string(),
        scope_key: key,
        display,
        version,
        territories: columns.territories,
        usages: columns.usages,
        start_date: columns.start_date,
        end_date: columns.end_date,
        sublicensable: columns.sublicensable,
        removed,
        changed_by: Some(author.user_id.clone()),
        changed_at: at,
        superseded_at: None,
        recordings: None,
    }
}

/// Writes a version and re-checks everything granted from the catalog.
fn apply(
    conn: &mut DbConnection,
    author: &Author,
    catalog: &Catalog,
    row: HoldingVersionRow,
) -> Result<HoldingChanged, DealError> {
    let at = row.changed_at;
    holdings::append(conn, &row, at)?;
    if row.scope == "catalog" {
        catalogs::set_holding(conn, catalog.no, &row.columns(), at)?;
    }
    let catalog =
        catalogs::find_catalog(conn, &catalog.id)?.ok_or(DealError::NotFound("catalog"))?;
    AuditEvent::new("catalog.holding_changed", "catalog", Some(&catalog.id))
        .by(Some(&catalog.organization_id), Some(&author.user_id))
        .after(serde_json::json!({
            "scope": row.scope, "key": row.display, "version": row.version, "removed": row.removed,
            "territories": row.territories, "usages": row.usages,
            "start_date": row.start_date, "end_date": row.end_date, "sublicensable": row.sublicensable,
        }))
        .write(conn)?;
    let grants_marked = chain::holding_changed(conn, &catalog, at.date(), at)?;
    Ok(HoldingChanged {
        id: row.id,
        version: row.version,
        grants_marked,
    })
}

fn next_version(
    conn: &mut DbConnection,
    catalog_id: &str,
    scope: &str,
    key: &str,
) -> Result<i32, DbError> {
    Ok(holdings::current_of(conn, catalog_id, scope, key)?.map_or(1, |r| r.version + 1))
}

/// Replaces the catalog's own holding.
pub fn set_catalog_holding(
    conn: &mut DbConnection,
    author: &Author,
    catalog_id: &str,
    terms: &HoldingTerms,
) -> Result<HoldingChanged, DealError> {
    write_transaction(conn, |conn| {
        let catalog = owned_self_declared(conn, author, catalog_id)?;
        let version = next_version(conn, &catalog.id, "catalog", "")?;
        let row = version_row(
            &catalog,
            "catalog",
            String::new(),
            String::new(),
            version,
            terms.columns()?,
            false,
            author,
            now(),
        );
        apply(conn, author, &catalog, row)
    })
}

/// Sets (or replaces) the override of one label or recording.
pub fn set_override(
    conn: &mut DbConnection,
    author: &Author,
    catalog_id: &str,
    target: &OverrideTarget,
    terms: &HoldingTerms,
) -> Result<HoldingChanged, DealError> {
    if target.key().is_empty() {
        return Err(ValidationErrors::single("label", "must not be blank").into());
    }
    write_transaction(conn, |conn| {
        let catalog = owned_self_declared(conn, author, catalog_id)?;
        let version = next_version(conn, &catalog.id, target.scope(), &target.key())?;
        let row = version_row(
            &catalog,
            target.scope(),
            target.key(),
            target.display(),
            version,
            terms.columns()?,
            false,
            author,
            now(),
        );
        apply(conn, author, &catalog, row)
    })
}

/// Removes an override (its tracks fall back to the catalog's holding); the
/// removal is a version too.
pub fn remove_override(
    conn: &mut DbConnection,
    author: &Author,
    catalog_id: &str,
    override_id: &str,
) -> Result<HoldingChanged, DealError> {
    write_transaction(conn, |conn| {
        let catalog = owned_self_declared(conn, author, catalog_id)?;
        let current = holdings::find_current(conn, &catalog.id, override_id)?
            .filter(|r| r.scope != "catalog")
            .ok_or(DealError::NotFound("holding override"))?;
        let row = HoldingVersionRow {
            // A delivered holding keeps its recordings, removed or not.
            recordings: current.recordings.clone(),
            ..version_row(
                &catalog,
                &current.scope,
                current.scope_key.clone(),
                current.display.clone(),
                current.version + 1,
                current.columns(),
                true,
                author,
                now(),
            )
        };
        apply(conn, author, &catalog, row)
    })
}
