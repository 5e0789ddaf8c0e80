//! Cursor pagination, used by every list: `?limit=N&cursor=C`, answered with
//! `{items, next_cursor}`. Cursors are opaque (base64 of the last item's sort key),
//! stable under inserts, and `next_cursor` is null on the last page.

use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input;
use super::problem::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// A page size asked for: 1 to `max` (400 on `limit` otherwise), `DEFAULT_LIMIT` when absent.
pub fn checked_limit(limit: Option<u32>, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest {
            detail: format!("must be between 1 and {max}"),
            field: Some("limit".into()),
        }),
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        checked_limit(self.limit, MAX_LIMIT)
    }

    /// The decoded sort key to continue after, if any.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

pub fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// A cursor is only ever one this API wrote: a sort key that decodes to text PostgreSQL
/// can compare (no NUL) and of bounded length; anything else is refused, never queried.
pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| input::text_problem(key, input::DEFAULT_MAX_CHARS).is_none())
        .ok_or_else(|| ApiError::BadRequest {
            detail: "is not a cursor returned by this API".into(),
            field: Some("cursor".into()),
        })
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null when this is the last one.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells
    /// that another page exists.
    pub fn from_rows<R>(
        rows: Vec<R>,
        limit: u32,
        key: impl Fn(&R) -> String,
        map: impl Fn(R) -> T,
    ) -> Self {
        match Page::try_from_rows(rows, limit, key, |r| {
            Ok::<_, std::convert::Infallible>(map(r))
        }) {
            Ok(page) => page,
            Err(never) => match never {},
        }
    }

    /// [`Page::from_rows`] for views that can fail to read their row (corrupt data).
    pub fn try_from_rows<R, E>(
        rows: Vec<R>,
        limit: u32,
        key: impl Fn(&R) -> String,
        map: impl Fn(R) -> Result<T, E>,
    ) -> Result<Self, E> {
        let mut rows = rows;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Ok(Page {
            items: rows.into_iter().map(map).collect::<Result<_, E>>()?,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            decode_cursor(&encode_cursor("0193-abc")).unwrap(),
            "0193-abc"
        );
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor(&encode_cursor("a\0b")).is_err());
        assert!(decode_cursor(&encode_cursor(&"x".repeat(5_000))).is_err());
    }

    #[test]
    fn pages_know_when_more_exists() {
        #[derive(Serialize, ToSchema)]
        struct N(u32);
        let page = Page::from_rows(vec![1, 2, 3], 2, |r| r.to_string(), N);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(encode_cursor("2")));
        let last = Page::from_rows(vec![1, 2], 2, |r| r.to_string(), N);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageQuery::default().limit().unwrap(), DEFAULT_LIMIT);
        assert!(PageQuery {
            limit: Some(0),
            cursor: None
        }
        .limit()
        .is_err());
        assert!(PageQuery {
            limit: Some(501),
            cursor: None
        }
        .limit()
        .is_err());
    }
}
