//! Organization roles. Roles are cumulative upward:
//! owner ⊇ signer ⊇ negotiator ⊇ viewer.

use serde::{Deserialize, Serialize};

use super::stored::stored_enum;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    // Declaration order is the privilege order: `Ord` derives from it.
    Viewer,
    Negotiator,
    Signer,
    Owner,
}

stored_enum! {
    Role { Viewer = "viewer", Negotiator = "negotiator", Signer = "signer", Owner = "owner" }
    unknown struct UnknownRole = "unknown role `{0}`: expected one of owner, signer, negotiator, viewer"
}

impl Role {
    /// Whether this role includes everything `required` may do.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_cumulative_upward() {
        assert!(Role::Owner.includes(Role::Signer));
        assert!(Role::Signer.includes(Role::Negotiator));
        assert!(Role::Negotiator.includes(Role::Viewer));
        assert!(!Role::Viewer.includes(Role::Negotiator));
        assert!(!Role::Negotiator.includes(Role::Signer));
        assert!(!Role::Signer.includes(Role::Owner));
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
