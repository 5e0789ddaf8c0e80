//! My catalogs: create one, import tracks (a file upload streamed into the same import
//! as `POST /api/v1/catalogs/{id}/imports`, with the rejected-rows report), and cut
//! slices with a selector form that shows the track count before saving.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, Utc};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::error::WebError;
use super::forms::{field_errors, Form};
use super::session::{redirect, SignedIn};
use crate::api::catalogs::{owned_catalog, streamed, CatalogView};
use crate::api::grants::{availability_view, AvailabilityQuery};
use crate::api::problem::ApiError;
use crate::api::slices::SliceView;
use crate::api::state::AppState;
use crate::api::track_lists::{slice_track_page, TrackPageQuery, TrackPaging};
use crate::db::catalogs;
use crate::domain::account::parse_display_name;
use crate::domain::isrc::Isrc;
use crate::domain::period::Period;
use crate::domain::role::Role;
use crate::domain::selector::Selector;
use crate::domain::territory::Territories;
use crate::domain::usage::{Usage, Usages};
use crate::domain::ValidationErrors;
use crate::import::{self, ImportFormat};

fn usage_names() -> Vec<&'static str> {
    Usage::ALL.iter().map(|u| u.as_str()).collect()
}

/// Values separated by commas or line breaks (labels may hold commas: one per line
/// then).
fn list(text: &str, by_line_only: bool) -> Option<Vec<String>> {
    let items: Vec<String> = if by_line_only {
        text.lines()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        text.split([',', '\n', ' '])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    (!items.is_empty()).then_some(items)
}

fn date(form: &Form, field: &str, errors: &mut ValidationErrors) -> Option<NaiveDate> {
    let value = form.optional(field)?;
    NaiveDate::parse_from_str(&value, "%Y-%m-%d")
        .map_err(|_| {
            errors.push(
                field,
                format!("must be a date such as 2027-01-31 (got `{value}`)"),
            )
        })
        .ok()
}

async fn catalog_list_response(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    extra: Value,
) -> Result<HttpResponse, WebError> {
    let org = me.caller.organization_id().to_string();
    let rows = state
        .db
        .run(move |conn| catalogs::list_catalogs(conn, &org, None, 500))
        .await?;
    let views = rows
        .into_iter()
        .map(CatalogView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut context = json!({"catalogs": views, "usages": usage_names(),
                             "can_edit": me.caller.role.includes(Role::Negotiator)});
    if let (Some(map), Value::Object(extra)) = (context.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(me.page(status, "catalogs.html", context))
}

async fn catalog_list(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    catalog_list_response(&state, &me, StatusCode::OK, json!({})).await
}

async fn create_catalog(
    state: web::Data<AppState>,
    me: SignedIn,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    me.caller.require(Role::Negotiator)?;
    super::once::once_per_form(
        &state,
        me.caller.user_id(),
        "/catalogs",
        &form,
        create_catalog_once(&state, &me, &form),
    )
    .await
}

async fn create_catalog_once(
    state: &AppState,
    me: &SignedIn,
    form: &Form,
) -> Result<HttpResponse, WebError> {
    let mut errors = ValidationErrors::new();
    let name = parse_display_name(&form.value("name"))
        .map_err(|m| errors.push("name", m))
        .ok();
    let territories = Territories::parse_list_at(
        "territories",
        &list(&form.value("territories"), false).unwrap_or_default(),
    )
    .map_err(|e| errors.0.extend(e.0))
    .ok();
    let usages = Usages::parse_list_at("usages", &form.all("usages"))
        .map_err(|e| errors.0.extend(e.0))
        .ok();
    let start = date(form, "holding_start", &mut errors);
    let end = date(form, "holding_end", &mut errors);
    if start.is_none() && !errors.0.iter().any(|e| e.field == "holding_start") {
        errors.push("holding_start", "is required");
    }
    if end.is_none() && !errors.0.iter().any(|e| e.field == "holding_end") {
        errors.push("holding_end", "is required");
    }
    let period = match (start, end) {
        (Some(s), Some(e)) => Period::validate(s, e, "holding_end")
            .map_err(|e| errors.0.extend(e.0))
            .ok(),
        _ => None,
    };
    let (Some(name), Some(territories), Some(usages), Some(period)) =
        (name, territories, usages, period)
    else {
        return catalog_list_response(
            state,
            me,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": field_errors(&errors, ""), "form": form.values(),
                   "form_usages": form.all("usages")}),
        )
        .await;
    };
    let author = me.caller.author();
    let sublicensable = form.checked("sublicensable");
    let catalog = state
        .db
        .run(move |conn| {
            crate::catalogs::create(
                conn,
                &author,
                name,
                &territories,
                &usages,
                period,
                sublicensable,
            )
        })
        .await?;
    Ok(redirect(&format!("/catalogs/{}", catalog.id)))
}

/// The catalog page: details, the import form (and the last import's report), the
/// slices, and the slice form (with a preview count).
async fn catalog_response(
    state: &AppState,
    me: &SignedIn,
    id: String,
    status: StatusCode,
    extra: Value,
) -> Result<HttpResponse, WebError> {
    let catalog = owned_catalog(state, &me.caller, id).await?;
    let (org, catalog_id) = (me.caller.organization_id().to_string(), catalog.id.clone());
    let slices = state
        .db
        .run(move |conn| catalogs::list_slices(conn, &org, &catalog_id, None, 500))
        .await?
        .into_iter()
        .map(SliceView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut context = json!({
        "catalog": CatalogView::try_from(catalog)?,
        "slices": slices,
        "can_edit": me.caller.role.includes(Role::Negotiator),
    });
    if let (Some(map), Value::Object(extra)) = (context.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(me.page(status, "catalog.html", context))
}

async fn catalog_page(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    catalog_response(&state, &me, path.into_inner(), StatusCode::OK, json!({})).await
}

/// The file's format, from its name (browsers label CSV files inconsistently), else its
/// declared type.
fn format_of(filename: Option<&str>, content_type: Option<&str>) -> Option<ImportFormat> {
    let by_name = filename.and_then(|name| {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(ImportFormat::Csv)
        } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            ImportFormat::from_content_type("application/x-ndjson")
        } else {
            None
        }
    });
    by_name.or_else(|| content_type.and_then(ImportFormat::from_content_type))
}

/// The import form: `csrf` first, then the file, streamed into the import as it arrives
/// (the page's upload progress is the import's).
async fn import_upload(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    mut multipart: Multipart,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let mut csrf = Form::default();
    let mut file = None;
    while let Some(field) = multipart.next().await {
        let mut field = field
            .map_err(|e| WebError::BadRequest(format!("the upload could not be read: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        if name == "csrf" {
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| WebError::BadRequest(e.to_string()))?;
                if value.len() + chunk.len() > 256 {
                    return Err(WebError::Csrf);
                }
                value.extend_from_slice(&chunk);
            }
            csrf.0
                .push(("csrf".into(), String::from_utf8_lossy(&value).into_owned()));
        } else if name == "file" {
            file = Some(field);
            break;
        }
    }
    // The token must come before the file: nothing is read into the catalog without it.
    me.check_csrf(&csrf)?;
    me.caller.require(Role::Negotiator)?;
    let Some(file) = file else {
        return catalog_response(
            &state,
            &me,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"import_errors": {"file": "choose a CSV or NDJSON file"}}),
        )
        .await;
    };
    let filename = file
        .content_disposition()
        .and_then(|d| d.get_filename())
        .map(str::to_string);
    let Some(format) = format_of(
        filename.as_deref(),
        file.content_type().map(|m| m.essence_str()),
    ) else {
        return catalog_response(
            &state,
            &me,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"import_errors": {"file": "must be a .csv or .ndjson file"}}),
        )
        .await;
    };
    let catalog = owned_catalog(&state, &me.caller, id.clone()).await?;
    let catalog_no = catalog.no;
    let (body, feeding) = streamed(file);
    let user_id = me.caller.user_id().to_string();
    let today = Utc::now().date_naive();
    let importing = state.db.run(move |conn| {
        let reader = std::io::BufReader::with_capacity(1 << 16, body);
        import::import_tracks(
            conn,
            &catalog,
            Some(&user_id),
            reader,
            format,
            today,
            &mut (),
        )
    });
    let (report, ()) = futures_util::join!(importing, feeding);
    match report {
        Ok(report) => {
            if report.imported > 0 {
                actix_web::rt::spawn(crate::catalogs::warm_postings(
                    state.db.clone(),
                    state.postings.clone(),
                    Some(catalog_no),
                ));
            }
            catalog_response(
                &state,
                &me,
                id,
                StatusCode::OK,
                json!({"report": report, "filename": filename}),
            )
            .await
        }
        Err(e) => match ApiError::from(e) {
            ApiError::Validation(errors) => {
                catalog_response(
                    &state,
                    &me,
                    id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"import_errors": {"file": errors.0.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")}}),
                )
                .await
            }
            ApiError::Conflict { detail, .. } | ApiError::BadRequest { detail, .. } => {
                catalog_response(
                    &state,
                    &me,
                    id,
                    StatusCode::CONFLICT,
                    json!({"import_errors": {"file": detail}}),
                )
                .await
            }
            other => Err(other.into()),
        },
    }
}

/// The selector form into a selector; blank fields select nothing by that attribute.
fn selector_of(form: &Form, errors: &mut ValidationErrors) -> Selector {
    Selector {
        labels: list(&form.value("labels"), true),
        artists: list(&form.value("artists"), true),
        genres: list(&form.value("genres"), true),
        released_from: date(form, "released_from", errors),
        released_to: date(form, "released_to", errors),
        include_isrcs: list(&form.value("include_isrcs"), false),
        exclude_isrcs: list(&form.value("exclude_isrcs"), false),
    }
}

/// "Count tracks" previews the slice; "Save the slice" cuts it. Both evaluate the same
/// selector the same way.
async fn slice_form(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    me.caller.require(Role::Negotiator)?;
    let catalog_id = path.into_inner();
    let mut errors = ValidationErrors::new();
    let preview_only = form.get("preview").is_some();
    let name = if preview_only {
        None
    } else {
        parse_display_name(&form.value("name"))
            .map_err(|m| errors.push("name", m))
            .ok()
    };
    let selector = selector_of(&form, &mut errors);
    let validated = selector
        .validate()
        .map_err(|e| errors.0.extend(e.nested("selector").0))
        .ok();
    let failed = |errors: &ValidationErrors| json!({"slice_errors": field_errors(errors, "selector."), "slice_form": form.values()});
    let Some(validated) = validated.filter(|_| errors.is_empty()) else {
        return catalog_response(
            &state,
            &me,
            catalog_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            failed(&errors),
        )
        .await;
    };
    let postings = state.postings.clone();
    let org = me.caller.organization_id().to_string();
    let id = catalog_id.clone();
    if preview_only || name.is_none() {
        let result = state
            .db
            .run(move |conn| {
                crate::catalogs::slices::preview(conn, &postings, &org, &id, &validated)
            })
            .await
            .map_err(ApiError::from)?;
        return catalog_response(
            &state,
            &me,
            catalog_id,
            StatusCode::OK,
            json!({"slice_form": form.values(), "preview": {
                "track_count": result.tracks.len(),
                "unknown_values": result.unknown_values,
                "unknown_isrcs": result.unknown_isrcs.into_iter().map(Isrc::into_string).collect::<Vec<_>>(),
            }}),
        )
        .await;
    }
    let author = me.caller.author();
    let name = name.unwrap_or_default();
    let (slice, _) = state
        .db
        .run(move |conn| {
            crate::catalogs::slices::create(conn, &postings, &author, &id, name, &validated)
        })
        .await
        .map_err(ApiError::from)?;
    let view = SliceView::try_from(slice)?;
    catalog_response(
        &state,
        &me,
        catalog_id,
        StatusCode::CREATED,
        json!({"created": view}),
    )
    .await
}

/// One of my slices with its tracks, paged.
async fn slice_page(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    page: web::Query<TrackPageQuery>,
) -> Result<HttpResponse, WebError> {
    let paging = TrackPaging::parse(&page)?;
    let org = me.caller.organization_id().to_string();
    let id = path.into_inner();
    let (slice, tracks) = state
        .db
        .run(move |conn| {
            let slice =
                catalogs::find_owned_slice(conn, &org, &id)?.ok_or(ApiError::NotFound("slice"))?;
            let tracks = slice_track_page(conn, &slice, paging)?;
            Ok::<_, ApiError>((slice, tracks))
        })
        .await?;
    Ok(me.page(
        StatusCode::OK,
        "slice.html",
        json!({
            "slice": SliceView::try_from(slice)?,
            "tracks": tracks,
            "can_edit": me.caller.role.includes(Role::Negotiator),
        }),
    ))
}

/// The availability form of the catalog page, as typed.
#[derive(serde::Deserialize)]
struct AvailabilityForm {
    territories: Option<String>,
    usages: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    exclusive: Option<String>,
}

/// What of the catalog could still be licensed with the rights typed: the answer of
/// `GET /api/v1/catalogs/{id}/availability`, on the catalog page.
async fn availability(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: web::Query<AvailabilityForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let id = path.into_inner();
    let typed = json!({
        "territories": form.territories, "usages": form.usages, "start_date": form.start_date,
        "end_date": form.end_date, "exclusive": form.exclusive,
    });
    let mut errors = ValidationErrors::new();
    let mut day = |field: &str, value: &Option<String>| {
        let value = value.as_deref().unwrap_or_default().trim();
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| errors.push(field, "must be a date such as 2027-01-01"))
            .ok()
    };
    let (start, end) = (
        day("start_date", &form.start_date),
        day("end_date", &form.end_date),
    );
    let shown = |status, extra: Value| catalog_response(&state, &me, id.clone(), status, extra);
    let (Some(start_date), Some(end_date)) = (start, end) else {
        return shown(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"avail_form": typed, "avail_errors": field_errors(&errors, "")}),
        )
        .await;
    };
    let query = AvailabilityQuery {
        territories: form.territories.clone().unwrap_or_default(),
        usages: form.usages.clone().unwrap_or_default(),
        start_date,
        end_date,
        exclusive: Some(form.exclusive.as_deref() == Some("true")),
        limit: Some(20),
        cursor: None,
    };
    let org = me.caller.organization_id().to_string();
    match availability_view(&state, org, id.clone(), query).await {
        Ok(view) => {
            shown(
                StatusCode::OK,
                json!({"avail_form": typed, "availability": view}),
            )
            .await
        }
        Err(ApiError::Validation(errors)) => {
            shown(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"avail_form": typed, "avail_errors": field_errors(&errors, "")}),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalogs", web::get().to(catalog_list))
        .route("/catalogs", web::post().to(create_catalog))
        .route("/catalogs/{id}", web::get().to(catalog_page))
        .route("/catalogs/{id}/imports", web::post().to(import_upload))
        .route("/catalogs/{id}/slices", web::post().to(slice_form))
        .route("/catalogs/{id}/availability", web::get().to(availability))
        .route("/slices/{id}", web::get().to(slice_page));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_name_then_the_type() {
        assert!(matches!(
            format_of(Some("tracks.CSV"), Some("application/vnd.ms-excel")),
            Some(ImportFormat::Csv)
        ));
        assert!(format_of(Some("tracks.ndjson"), None).is_some());
        assert!(matches!(
            format_of(None, Some("text/csv")),
            Some(ImportFormat::Csv)
        ));
        assert!(format_of(Some("tracks.xlsx"), Some("application/octet-stream")).is_none());
    }

    #[test]
    fn lists_split_by_line_or_by_comma() {
        assert_eq!(
            list("Label, Inc.\nOther\n\n", true),
            Some(vec!["Label, Inc.".to_string(), "Other".to_string()])
        );
        assert_eq!(list("A, B\nC", false).map(|v| v.len()), Some(3));
        assert_eq!(list("  ", true), None);
    }
}
