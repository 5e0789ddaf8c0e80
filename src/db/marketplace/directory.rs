//! The organization directory and the names listings show.

use std::collections::HashMap;

use diesel::prelude::*;

use super::*;

// ---- directory -------------------------------------------------------------------

/// Organizations by name (then id), optionally whose name contains `q`
/// (case-insensitive), after the `(name, id)` cursor.
pub fn list_organizations(
    conn: &mut DbConnection,
    q: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<(String, String, String)>, DbError> {
    let mut query = organizations::table
        .order((organizations::name.asc(), organizations::id.asc()))
        .limit(limit)
        .select((organizations::id, organizations::name, organizations::kind))
        .into_boxed();
    if let Some(q) = q {
        let pattern = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(
            catalogs::lower(organizations::name)
                .like(pattern)
                .escape('\\'),
        );
    }
    if let Some((name, id)) = after {
        query = query.filter(
            organizations::name
                .gt(name.to_string())
                .or(organizations::name
                    .eq(name.to_string())
                    .and(organizations::id.gt(id.to_string()))),
        );
    }
    Ok(query.load(conn)?)
}

/// Names of these organizations, by id.
pub fn organization_names(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<HashMap<String, String>, DbError> {
    let mut names = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = organizations::table
            .filter(organizations::id.eq_any(chunk))
            .select((organizations::id, organizations::name))
            .load(conn)?;
        names.extend(rows);
    }
    Ok(names)
}

/// Names of these catalogs, by catalog number.
pub fn catalog_names(
    conn: &mut DbConnection,
    nos: &[i64],
) -> Result<HashMap<i64, String>, DbError> {
    use crate::db::schema::catalogs as catalog_table;
    let mut names = HashMap::new();
    for chunk in nos.chunks(500) {
        let rows: Vec<(i64, String)> = catalog_table::table
            .filter(catalog_table::no.eq_any(chunk))
            .select((catalog_table::no, catalog_table::name))
            .load(conn)?;
        names.extend(rows);
    }
    Ok(names)
}
