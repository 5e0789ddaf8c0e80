//! The one way a closed set of names (roles, states, kinds) is typed between a
//! database column, a query string and JSON: [`stored_enum!`].
//!
//! Why a small declarative macro rather than a crate such as `strum`: each of
//! these enums needs exactly `ALL`, `as_str`, `Display`, `FromStr` and an
//! unknown-value error whose message is part of the API (a 400 or 422 quotes
//! it), and serde already names variants through `rename_all`. Twenty lines of
//! `macro_rules!` give that without a proc-macro dependency, and keep the wire
//! name written once, next to its variant. Reading a stored value goes through
//! `crate::db::stored`, which turns an unknown name into `DbError::Corrupt`.

/// Implements `ALL` (in the order listed), `as_str`, `Display` and `FromStr`
/// for a fieldless enum declared just before, from one list of wire names.
///
/// The unknown-value error is either a new tuple struct holding the refused
/// name (`unknown struct UnknownRole = "message with {0}"`) or an existing
/// constructor taking it (`unknown PostingError::UnknownKind as PostingError`).
macro_rules! stored_enum {
    (
        $ty:ident { $($variant:ident = $name:literal),+ $(,)? }
        unknown struct $err:ident = $msg:tt
    ) => {
        /// A name that is not one of the enum's values.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error($msg)]
        pub struct $err(pub String);

        $crate::domain::stored::stored_enum! {
            $ty { $($variant = $name),+ } unknown $err as $err
        }
    };
    (
        $ty:ident { $($variant:ident = $name:literal),+ $(,)? }
        unknown $ctor:path as $err:ty
    ) => {
        impl $ty {
            /// Every value, in the order listed where the enum is made stored.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The name in storage, query strings and JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $err;
            /// Exact names only, as in JSON (so a query string and a body agree).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $ctor(s.to_string()))
            }
        }
    };
}

pub(crate) use stored_enum;
