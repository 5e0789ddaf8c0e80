//! Idempotency for forms that create something (open a deal, record a payment, create
//! a catalog): every page render carries a fresh `form_key`, and the first answer to a
//! (member, form, key) is kept in the API's idempotency store, so a double click or a
//! resubmitted page replays the first redirect instead of acting twice. Transitions need
//! no key: their `version` already refuses a second submission as stale.

use std::future::Future;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

use super::error::WebError;
use super::forms::Form;
use super::session::redirect;
use crate::api::state::AppState;
use crate::db::idempotency::{claim, record, release, Claim};

/// Runs `work` once per form key; a form without a key simply runs.
pub async fn once_per_form<F>(
    state: &AppState,
    user_id: &str,
    path: &str,
    form: &Form,
    work: F,
) -> Result<HttpResponse, WebError>
where
    F: Future<Output = Result<HttpResponse, WebError>>,
{
    let Some(form_key) = form
        .optional("form_key")
        .filter(|k| k.len() <= 64 && k.bytes().all(|b| b.is_ascii_graphic()))
    else {
        return work.await;
    };
    // One key per form (the path names it), so two forms of one page never collide.
    let key = format!("web {path} {form_key}");
    let mut hasher = Sha256::new();
    for (name, value) in &form.0 {
        if name != "csrf" {
            hasher.update(name.as_bytes());
            hasher.update(b"=");
            hasher.update(value.as_bytes());
            hasher.update(b"\n");
        }
    }
    let fingerprint = hex::encode(hasher.finalize());
    let (user, k) = (user_id.to_string(), key.clone());
    match state
        .db
        .run(move |conn| claim(conn, &user, &k, &fingerprint))
        .await?
    {
        Claim::Replay { body, .. } => return Ok(redirect(&body)),
        Claim::Mismatch => {
            return Err(WebError::BadRequest(
                "this form was already sent with other values; reload the page to send it again"
                    .into(),
            ))
        }
        Claim::InFlight => {
            return Err(WebError::BadRequest(
                "this form is still being processed; reload the page in a moment".into(),
            ))
        }
        Claim::Fresh => {}
    }
    let result = work.await;
    // Only a success (a redirect to what was made) is kept; an error page may be
    // corrected and sent again with the same key.
    let location = match &result {
        Ok(response) if response.status() == StatusCode::SEE_OTHER => response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        _ => None,
    };
    let user = user_id.to_string();
    state
        .db
        .run(move |conn| match location {
            Some(location) => record(conn, &user, &key, 303, &location, None),
            None => release(conn, &user, &key),
        })
        .await?;
    result
}
