//! Page templates (`templates/web/*.html`), compiled into the binary like the mail
//! templates, rendered with minijinja with HTML auto-escaping.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use minijinja::Environment;
use serde_json::Value;

macro_rules! page {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/web/",
                $name
            )),
        )
    };
}

/// Every page template, by name.
const PAGES: &[(&str, &str)] = &[
    page!("base.html"),
    page!("macros.html"),
    page!("error.html"),
    page!("login.html"),
    page!("forgot_password.html"),
    page!("reset_password.html"),
    page!("accept_invitation.html"),
    page!("marketplace.html"),
    page!("offer.html"),
    page!("offer_new.html"),
    page!("deals.html"),
    page!("deal.html"),
    page!("grants.html"),
    page!("grant.html"),
    page!("installments.html"),
    page!("statements.html"),
    page!("notifications.html"),
    page!("notification_settings.html"),
    page!("members.html"),
    page!("catalogs.html"),
    page!("catalog.html"),
    page!("slice.html"),
];

static ENVIRONMENT: LazyLock<Result<Environment<'static>, minijinja::Error>> =
    LazyLock::new(|| {
        let mut env = Environment::new();
        env.add_global("asset_version", super::assets::STYLESHEET_VERSION.as_str());
        // Cursors and filter values go into links.
        env.add_filter("urlencode", |value: String| {
            percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        });
        for (name, source) in PAGES {
            env.add_template(name, source)?;
        }
        Ok(env)
    });

/// Renders `template` with `context` as an HTML page with `status`. A template that
/// fails to render is a bug: it answers 500 with a plain message and is logged.
pub fn page(status: StatusCode, template: &str, context: Value) -> HttpResponse {
    match render(template, context) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            // Pages show one organization's data: never kept by a shared cache.
            .insert_header(("Cache-Control", "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(template, error = %e, "page template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/html; charset=utf-8")
                .body("<!doctype html><title>Error</title><p>The page could not be shown.</p>")
        }
    }
}

pub fn render(template: &str, context: Value) -> Result<String, minijinja::Error> {
    let env = ENVIRONMENT.as_ref().map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    env.get_template(template)?.render(context)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_template_compiles() {
        if let Err(e) = super::ENVIRONMENT.as_ref() {
            panic!("a page template does not compile: {e:#}");
        }
    }
}
#[cfg(test)]
mod pages {
    #[test]
    fn a_grant_with_a_next_page_of_tracks_renders() {
        let ctx = serde_json::json!({"grant": {"id": "g", "territories": ["CN"], "usages": ["x"], "exclusive": false, "sublicensable": false},
            "tracks": {"items": [{"isrc": "X", "title": "t", "artists": ["a", "b"], "label": "l", "genre": "g", "release_date": "2020-01-01"}], "next_cursor": "abc"}, "side": "licensee", "me": {"name": "n"}});
        match super::render("grant.html", ctx) {
            Ok(html) => assert!(html.contains("cursor=abc") && html.contains("a, b")),
            Err(e) => panic!("{e:#}"),
        }
    }
}
