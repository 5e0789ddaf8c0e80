//! Mail templates: for each kind a triplet `templates/<kind>.subject.txt`,
//! `<kind>.txt` and `<kind>.html`, compiled into the binary so it is
//! self-contained. Rendering is strict: a variable missing from the context is
//! an error, never an empty string, and the HTML part is auto-escaped.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use super::event::NotificationKind;
use super::MailError;

/// Templates mailed to an address rather than to a member about an event.
pub const TRANSACTIONAL: [&str; 3] = ["invitation", "password_reset", "webhook_disabled"];

macro_rules! template_file {
    ($file:literal) => {
        template_file!($file, "")
    };
    ($stem:literal, $suffix:literal) => {
        (
            concat!($stem, $suffix),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/",
                $stem,
                $suffix
            )),
        )
    };
}

macro_rules! triplet {
    ($kind:literal) => {
        [
            template_file!($kind, ".subject.txt"),
            template_file!($kind, ".txt"),
            template_file!($kind, ".html"),
        ]
    };
}

/// Every template source, by file name. Adding a kind means adding its triplet here.
const SOURCES: &[[(&str, &str); 3]] = &[
    triplet!("invitation"),
    triplet!("password_reset"),
    triplet!("webhook_disabled"),
    triplet!("deal_submitted"),
    triplet!("deal_countered"),
    triplet!("deal_accepted"),
    triplet!("deal_rejected"),
    triplet!("deal_withdrawn"),
    triplet!("deal_expiring"),
    triplet!("deal_expired"),
    triplet!("deal_signed"),
    triplet!("deal_executed"),
    triplet!("deal_terminated"),
    triplet!("grant_backing_lost"),
    triplet!("installment_due"),
    triplet!("installment_overdue"),
    triplet!("statement_issued"),
    triplet!("statement_disputed"),
    triplet!("statement_confirmed"),
    triplet!("statement_due"),
    triplet!("statement_overdue"),
    triplet!("offer_matched_request"),
];

/// Shared pieces that the triplets extend or include.
const PARTIALS: &[(&str, &str)] = &[
    template_file!("layout.html"),
    template_file!("button.html"),
    template_file!("footer.txt"),
];

static ENVIRONMENT: LazyLock<Result<Environment<'static>, minijinja::Error>> =
    LazyLock::new(build_environment);

fn build_environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Strict: `{{ missing }}` and `{% if missing %}` both fail; optional values are
    // passed as null explicitly.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // The default callback escapes by file extension: `.html` yes, `.txt` no.
    env.add_filter("when", when);
    env.add_filter("thousands", thousands);
    for (name, source) in PARTIALS.iter().copied() {
        env.add_template(name, source)?;
    }
    for triplet in SOURCES {
        for (name, source) in triplet.iter().copied() {
            env.add_template(name, source)?;
        }
    }
    Ok(env)
}

/// Formats an RFC 3339 instant for people: `31 December 2026, 00:00 UTC`.
fn when(value: String) -> Result<String, minijinja::Error> {
    chrono::DateTime::parse_from_rfc3339(&value)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%-d %B %Y, %H:%M UTC")
                .to_string()
        })
        .map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`{value}` is not an RFC 3339 instant: {e}"),
            )
        })
}

/// Groups digits for reading: `1500000` becomes `1,500,000`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether `template` names a known triplet.
pub fn exists(template: &str) -> bool {
    TRANSACTIONAL.contains(&template) || NotificationKind::parse(template).is_some()
}

/// Every template name, transactional first.
pub fn names() -> impl Iterator<Item = &'static str> {
    TRANSACTIONAL.into_iter().chain(
        NotificationKind::ALL
            .into_iter()
            .map(NotificationKind::as_str),
    )
}

/// A rendered mail: one subject line and the two alternative bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders the triplet `template` with `context` (a JSON object) plus `public_url`,
/// the base of every link.
pub fn render(
    template: &str,
    context: &Value,
    public_url: &str,
) -> Result<RenderedMail, MailError> {
    let context = prepare(template, context, public_url)?;
    Ok(RenderedMail {
        subject: one_line(&render_part(template, ".subject.txt", &context)?),
        text: render_part(template, ".txt", &context)?,
        html: render_part(template, ".html", &context)?,
    })
}

/// Renders only the subject line (the feed's title).
pub fn render_subject(template: &str, context: &Value) -> Result<String, MailError> {
    let context = prepare(template, context, "")?;
    Ok(one_line(&render_part(template, ".subject.txt", &context)?))
}

/// A subject is one line, whatever the template's whitespace.
fn one_line(subject: &str) -> String {
    subject.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn prepare(
    template: &str,
    context: &Value,
    public_url: &str,
) -> Result<minijinja::Value, MailError> {
    if !exists(template) {
        return Err(MailError::UnknownTemplate(template.to_string()));
    }
    let Value::Object(map) = context else {
        return Err(MailError::Context(format!(
            "the context of `{template}` is not a JSON object"
        )));
    };
    let mut map = map.clone();
    map.insert(
        "public_url".into(),
        Value::String(public_url.trim_end_matches('/').to_string()),
    );
    Ok(minijinja::Value::from_serialize(&map))
}

fn render_part(
    template: &str,
    suffix: &str,
    context: &minijinja::Value,
) -> Result<String, MailError> {
    let name = format!("{template}{suffix}");
    let env = ENVIRONMENT.as_ref().map_err(|e| MailError::Render {
        template: name.clone(),
        message: format!("the templates do not compile: {e:#}"),
    })?;
    env.get_template(&name)
        .and_then(|t| t.render(context))
        .map_err(|e| MailError::Render {
            template: name.clone(),
            message: format!("{e:#}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_compiles() {
        let env = ENVIRONMENT.as_ref().expect("templates compile");
        for name in names() {
            for suffix in [".subject.txt", ".txt", ".html"] {
                env.get_template(&format!("{name}{suffix}"))
                    .unwrap_or_else(|e| panic!("{name}{suffix}: {e:#}"));
            }
        }
    }

    fn reset_context() -> Value {
        json!({"name": "Ana", "token": "t0k", "link": "http://x.test/reset?token=t0k", "expires_in_minutes": 60})
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let mut context = reset_context();
        context.as_object_mut().unwrap().remove("link");
        let err = render("password_reset", &context, "http://x.test").unwrap_err();
        match err {
            MailError::Render { template, message } => {
                assert_eq!(template, "password_reset.txt");
                assert!(message.contains("undefined"), "{message}");
            }
            other => panic!("expected a render error, got {other:?}"),
        }
        // Strict mode also refuses an undefined value in a condition.
        let err = render(
            "deal_withdrawn",
            &json!({"recipient_name": "A", "counterparty": "B", "action_required": false,
                    "deal": {"id": "d", "name": "n"}, "actor": {"name": "x", "organization": "y"}}),
            "http://x.test",
        )
        .unwrap_err();
        assert!(matches!(err, MailError::Render { .. }), "{err:?}");
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let context = json!({
            "organization": "Tunes & Co", "inviter": "<script>alert(1)</script>", "role": "viewer",
            "token": "t", "link": "http://x.test/accept?token=t&x=\"y\"", "expires_on": "2026-12-02"
        });
        let mail = render("invitation", &context, "http://x.test").unwrap();
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(
            mail.html
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{}",
            mail.html
        );
        assert!(mail.html.contains("Tunes &amp; Co"));
        assert!(
            !mail.html.contains("\"y\""),
            "attribute values are escaped too"
        );
        assert!(
            mail.text.contains("<script>alert(1)</script>"),
            "plain text stays literal"
        );
        assert_eq!(
            mail.subject,
            "<script>alert(1)</script> invited you to Tunes & Co on Cadenza"
        );
    }

    #[test]
    fn unknown_templates_and_non_object_contexts_are_refused() {
        assert!(matches!(
            render("nope", &json!({}), "http://x.test"),
            Err(MailError::UnknownTemplate(_))
        ));
        assert!(matches!(
            render("password_reset", &json!([1]), "http://x.test"),
            Err(MailError::Context(_))
        ));
    }

    #[test]
    fn instants_are_formatted_for_people() {
        assert_eq!(
            when("2026-12-31T00:00:00Z".into()).unwrap(),
            "31 December 2026, 00:00 UTC"
        );
        assert!(when("yesterday".into()).is_err());
        assert_eq!(thousands(1_500_000), "1,500,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(0), "0");
    }
}
