//! The one cursor scheme every list endpoint uses: `?limit=&cursor=`,
//! `limit` 1–100 (default 20), an opaque `cursor` from the previous page's
//! `next_cursor`, which is `null` on the last page.
//!
//! A cursor wraps the sort key of the last item returned (always a unique,
//! monotonic id), so pages stay stable while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AppError, AppResult};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const CURSOR_PREFIX: &str = "c1:";

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageParams {
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A checked request for one page.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u32,
    /// The key of the last item already seen, if any.
    pub after: Option<i64>,
}

impl PageParams {
    pub fn check(&self) -> AppResult<PageRequest> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::validation(
                "limit",
                format!("must be 1-{MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(decode(cursor).ok_or_else(|| {
                AppError::validation("cursor", "is not a cursor this server issued")
            })?),
        };
        Ok(PageRequest { limit, after })
    }
}

impl PageRequest {
    /// Rows to fetch: one more than the page, to learn whether more follow.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Lower bound for ascending lists.
    pub fn after_or_min(&self) -> i64 {
        self.after.unwrap_or(i64::MIN)
    }

    /// Upper bound for descending lists (newest first).
    pub fn before_or_max(&self) -> i64 {
        self.after.unwrap_or(i64::MAX)
    }

    /// Cuts `rows` (fetched with [`Self::fetch`]) to the page and makes the
    /// cursor from the key of its last row.
    pub fn page<T, U>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> i64,
        view: impl FnMut(T) -> U,
    ) -> Page<U> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|last| encode(key(last)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn encode(key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for key in [i64::MIN, -1, 0, 42, i64::MAX] {
            assert_eq!(decode(&encode(key)), Some(key));
        }
        for bad in ["", "!!", "YWJj", &URL_SAFE_NO_PAD.encode("c1:x")] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let p = |limit| {
            PageParams {
                limit,
                cursor: None,
            }
            .check()
        };
        assert_eq!(p(None).unwrap().limit, 20);
        assert_eq!(p(Some(100)).unwrap().limit, 100);
        assert!(p(Some(0)).is_err());
        assert!(p(Some(101)).is_err());
    }

    #[test]
    fn pages_know_when_they_end() {
        let req = PageRequest {
            limit: 2,
            after: None,
        };
        let page = req.page(vec![1, 2, 3], |x| *x, |x| x);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref().and_then(decode), Some(2));
        let page = req.page(vec![1, 2], |x| *x, |x| x);
        assert!(page.next_cursor.is_none());
    }
}
