//! Static assets, compiled into the binary and served from it (no CDN): one stylesheet.
//! Pages link it with its content hash in the query (`/assets/cadenza.css?v=<hash>`),
//! so it can be cached for a year and a new build is fetched at once.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/cadenza.css"));

/// The first 16 hex digits of the stylesheet's SHA-256: its version and ETag.
pub static STYLESHEET_VERSION: LazyLock<String> =
    LazyLock::new(|| hex::encode(Sha256::digest(STYLESHEET.as_bytes()))[..16].to_string());

async fn stylesheet(req: HttpRequest) -> HttpResponse {
    let etag = format!("\"{}\"", *STYLESHEET_VERSION);
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    if unchanged {
        response.finish()
    } else {
        response
            .content_type("text/css; charset=utf-8")
            .body(STYLESHEET)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/cadenza.css", web::get().to(stylesheet));
}
