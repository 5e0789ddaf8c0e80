//! Received catalogs: a licensee whose grant may be sublicensed takes the
//! granted rights into a catalog of its own, from which it cuts slices and
//! offers them on like any other catalog. The catalog's tracks are copied from
//! the licensor's catalog (metadata as granted); its holding *is* the grant:
//! territories, usages, period, sublicensable and exclusivity as granted, read
//! live, so that when the grant ends nothing more can be passed on
//! (`catalogs::terms_context`, `chain::backing`).

use super::DealError;
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{self, Catalog, NewCatalog};
use crate::db::deals;
use crate::db::{new_id, now, stored, write_transaction, DbConnection};
use crate::domain::account::Author;
use crate::domain::grant::GrantStatus;
use crate::domain::recording::RecordingSet;
use crate::domain::role::Role;
use crate::domain::ValidationErrors;
use crate::import::{copy_tracks, ImportError};

/// Creates the catalog of a grant the author's organization received, with the
/// grant's tracks, in one transaction. Refused for grants that may not be
/// sublicensed, have ended, or already have their catalog.
pub fn receive(
    conn: &mut DbConnection,
    author: &Author,
    role: Role,
    grant_id: &str,
    name: String,
) -> Result<Catalog, DealError> {
    if !role.includes(Role::Negotiator) {
        return Err(DealError::Forbidden(
            "creating a catalog needs the negotiator role or higher".into(),
        ));
    }
    write_transaction(conn, |conn| {
        let grant = deals::find_grant(conn, grant_id)?
            .filter(|g| g.licensee_org_id == author.organization_id)
            .ok_or(DealError::NotFound("grant"))?;
        if !grant.sublicensable {
            return Err(ValidationErrors::single(
                "grant_id",
                format!(
                    "grant {} may not be sublicensed: its rights cannot be offered on",
                    grant.id
                ),
            )
            .into());
        }
        if stored::<GrantStatus>("grants.status", &grant.status)? != GrantStatus::Active {
            return Err(DealError::conflict(format!(
                "grant {} has ended ({}): there is nothing left to offer on",
                grant.id, grant.status
            )));
        }
        if let Some(existing) = catalogs::catalogs_backed_by(conn, &grant.id)?.first() {
            return Err(DealError::conflict(format!(
                "grant {} was already received into catalog {}",
                grant.id, existing.id
            )));
        }
        let source = catalogs::find_catalog(conn, &grant.catalog_id)?
            .ok_or(DealError::NotFound("catalog"))?;
        let at = now();
        let catalog = catalogs::insert_catalog(
            conn,
            &NewCatalog {
                id: new_id(),
                organization_id: author.organization_id.clone(),
                name,
                territories: grant.territories.clone(),
                usages: grant.usages.clone(),
                holding_start: grant.start_date,
                holding_end: grant.end_date,
                sublicensable: grant.sublicensable,
                track_count: 0,
                created_at: at,
                updated_at: at,
                recordings: Some(RecordingSet::new().to_bytes()),
                backing_grant_id: Some(grant.id.clone()),
            },
        )?;
        let tracks = catalogs::decode_set(&deals::grant_tracks(conn, &grant.id)?)?;
        copy_tracks(conn, &catalog, Some(&author.user_id), source.no, &tracks).map_err(
            |e| match e {
                ImportError::Database(db) => DealError::Database(db),
                other => DealError::conflict(other.to_string()),
            },
        )?;
        AuditEvent::new("catalog.received", "catalog", Some(&catalog.id))
            .by(Some(&author.organization_id), Some(&author.user_id))
            .after(serde_json::json!({"grant_id": grant.id, "track_count": grant.track_count}))
            .write(conn)?;
        catalogs::find_catalog(conn, &catalog.id)?.ok_or(DealError::NotFound("catalog"))
    })
}
