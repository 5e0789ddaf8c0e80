//! Form posts and query strings as pages read them: `application/x-www-form-urlencoded`
//! pairs (a field may repeat, as checkboxes do), and validation errors keyed by the form
//! field they belong to, so a page shows each next to its field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde_json::{Map, Value};

use super::error::WebError;
use crate::domain::ValidationErrors;

/// The largest form a page accepts (a counter-offer's clauses run to 20,000 characters).
pub const FORM_LIMIT: usize = 256 * 1024;

/// A posted form, in field order.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field's value, empty when absent.
    pub fn value(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    /// The field's trimmed value, `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "on" || v == "true")
    }

    /// Every field but the CSRF token, to show a form again as it was sent.
    pub fn values(&self) -> Value {
        let mut map = Map::new();
        for (k, v) in &self.0 {
            if k != "csrf" && !map.contains_key(k) {
                map.insert(k.clone(), Value::String(v.clone()));
            }
        }
        Value::Object(map)
    }
}

impl FromRequest for Form {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            form.await
                .map(|f| Form(f.into_inner()))
                .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))
        })
    }
}

/// The errors as `{field: message}` for the page, `prefix` (`terms.`) taken off and
/// paths inside a field (`installments[1].amount`) shown on the field itself.
pub fn field_errors(errors: &ValidationErrors, prefix: &str) -> Value {
    let mut map = Map::new();
    for error in &errors.0 {
        let field = error.field.strip_prefix(prefix).unwrap_or(&error.field);
        let key = field
            .split(['.', '['])
            .next()
            .filter(|k| !k.is_empty())
            .unwrap_or("form");
        let message = if key == field {
            error.message.clone()
        } else {
            format!("{}: {}", field, error.message)
        };
        match map.get_mut(key) {
            Some(Value::String(existing)) => {
                existing.push_str("; ");
                existing.push_str(&message);
            }
            _ => {
                map.insert(key.to_string(), Value::String(message));
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_land_on_their_field() {
        let mut errors = ValidationErrors::new();
        errors.push("terms.upfront_fee", "must be a decimal");
        errors.push("terms.installments[1].amount", "must be positive");
        errors.push("terms.installments", "must add up");
        errors.push("reason", "is required");
        let shown = field_errors(&errors, "terms.");
        assert_eq!(shown["upfront_fee"], "must be a decimal");
        assert_eq!(
            shown["installments"],
            "installments[1].amount: must be positive; must add up"
        );
        assert_eq!(shown["reason"], "is required");
    }

    #[test]
    fn forms_read_repeated_and_blank_fields() {
        let form = Form(vec![
            ("usages".into(), "download".into()),
            ("usages".into(), "interactive_streaming".into()),
            ("note".into(), "  ".into()),
            ("csrf".into(), "x".into()),
        ]);
        assert_eq!(form.all("usages").len(), 2);
        assert_eq!(form.optional("note"), None);
        assert_eq!(form.values().get("csrf"), None);
    }
}
