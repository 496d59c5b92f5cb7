//! The select shapes a table has already checked and written out.
//!
//! Why: most of a select's SQL depends only on which fields it returns and
//! how it is ordered, not on the filter's values: the quoted column list,
//! `FROM`, `ORDER BY`. A plugin route runs the same few shapes on every
//! request (the versions list, its visibility check), and checking their
//! fields and writing that text again each time was a measurable share of
//! a plugin's data read. A table keeps the shapes it has built, keyed by
//! fields and order, so a repeat costs one comparison of those lists.
//!
//! Only successfully checked shapes are kept, and at most [`MAX_SHAPES`] per
//! table: a plugin that builds ever new field lists still gets correct
//! queries, only without the cache once it is full.

use super::column::Column;
use crate::domain::Order;
use std::sync::{Arc, PoisonError, RwLock};

/// What a select's fields and order decide, checked and written once per
/// table (see this module): the columns it reads and the SQL around
/// its conditions.
#[derive(Debug)]
pub struct SelectShape {
    /// The selected columns, in result order.
    pub(super) columns: Vec<Column>,
    /// How many leading columns the caller asked for; the rest are order
    /// keys selected only to build the next cursor.
    pub(super) returned: usize,
    /// Result indexes and directions of the order keys; `id` is always
    /// one (added last unless the order names it).
    pub(super) order_keys: Vec<(usize, bool)>,
    /// `SELECT <columns> FROM <table> WHERE `.
    pub(super) head: String,
    /// Where ` FROM` starts in `head`: a cursor is bound to the query from
    /// there on, not to the columns selected.
    pub(super) from_at: usize,
    /// ` ORDER BY <keys>`.
    pub(super) tail: String,
}

/// Most shapes one table keeps.
pub const MAX_SHAPES: usize = 64;

/// A table's shapes. A clone starts empty: a copied schema may be changed,
/// and a shape is only valid for the columns it was checked against.
#[derive(Default)]
pub struct ShapeCache {
    entries: RwLock<Vec<Entry>>,
}

struct Entry {
    fields: Option<Vec<String>>,
    order: Vec<(String, bool)>,
    shape: Arc<SelectShape>,
}

impl Entry {
    fn is_for(&self, fields: Option<&[String]>, order: &[Order]) -> bool {
        self.fields.as_deref() == fields
            && self.order.len() == order.len()
            && self
                .order
                .iter()
                .zip(order)
                .all(|((field, descending), o)| *field == o.field && *descending == o.descending)
    }
}

impl ShapeCache {
    /// The shape for `fields` and `order`, built by `build` (and kept) the
    /// first time. A failed build is returned and not kept.
    pub fn get_or_build<E>(
        &self,
        fields: Option<&[String]>,
        order: &[Order],
        build: impl FnOnce() -> Result<SelectShape, E>,
    ) -> Result<Arc<SelectShape>, E> {
        // The lock only guards the list; a panic while holding it cannot
        // leave an entry half-written, so a poisoned lock is still usable.
        let found = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|entry| entry.is_for(fields, order))
            .map(|entry| entry.shape.clone());
        if let Some(shape) = found {
            return Ok(shape);
        }
        let shape = Arc::new(build()?);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        // Another request may have built the same shape meanwhile.
        if entries.len() < MAX_SHAPES && !entries.iter().any(|e| e.is_for(fields, order)) {
            entries.push(Entry {
                fields: fields.map(<[String]>::to_vec),
                order: order
                    .iter()
                    .map(|o| (o.field.clone(), o.descending))
                    .collect(),
                shape: shape.clone(),
            });
        }
        Ok(shape)
    }

    /// How many shapes are kept.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for ShapeCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for ShapeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShapeCache")
            .field("shapes", &self.len())
            .finish()
    }
}
