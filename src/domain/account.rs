//! Accounts: e-mail addresses, organization kinds and display names, parsed
//! once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::stored::stored_enum;

/// A normalized (trimmed, lowercased) e-mail address. The check is deliberately
/// structural — one `@`, a dotted domain, no spaces — since only delivery proves
/// an address; invitations and resets do exactly that.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required".into());
        }
        if email.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let (local, domain) = email
            .split_once('@')
            .ok_or_else(|| "must be an e-mail address like name@example.com".to_string())?;
        let valid = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who acts in a service operation: a member of an organization (the ids an
/// audit event records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub organization_id: String,
    pub user_id: String,
}

/// What kind of rights holder an organization is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    Platform,
    Label,
    Publisher,
}

stored_enum! {
    OrganizationKind { Platform = "platform", Label = "label", Publisher = "publisher" }
    unknown struct UnknownOrganizationKind =
        "unknown organization kind `{0}`: expected one of platform, label, publisher"
}

impl OrganizationKind {
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// A display name (of a person or an organization): trimmed, 1 to 200 characters,
/// no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("is required".into());
    }
    if name.chars().count() > 200 {
        return Err("must be at most 200 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            EmailAddress::parse("  Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a na@example.com",
            "ana@.com",
            "ana@example..com",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn organization_kinds() {
        assert_eq!(
            OrganizationKind::parse("label"),
            Some(OrganizationKind::Label)
        );
        assert_eq!(OrganizationKind::parse("Label"), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(parse_display_name("  QQ Music ").unwrap(), "QQ Music");
        assert!(parse_display_name("   ").is_err());
        assert!(parse_display_name(&"x".repeat(201)).is_err());
        assert!(parse_display_name("a\u{0}b").is_err());
    }
}
