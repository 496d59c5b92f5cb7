//! Declaring the plugin's own models (each a real table, `plg_<plugin>_<name>`):
//! a [`Model`] of [`Field`]s, indexes and whether other plugins may read it.
//!
//! ```
//! use kai_sdk::model::{Field, Model};
//!
//! let bookmark = Model::new("bookmark")
//!     .field(Field::string("owner").indexed())
//!     .field(Field::string("url"))
//!     .field(Field::uuid("document_id").references("document").nullable())
//!     .field(Field::int("visits").default(0))
//!     .unique_index(&["owner", "url"]);
//! assert_eq!(bookmark.name(), "bookmark");
//! ```
//!
//! Every field is required and not unique unless said otherwise; every row
//! also has an `id` the host assigns.
//!
//! **A model is shared unless it is [`Model::owned`]**: every caller of the
//! plugin's routes can read and change every row, and a plugin that wants
//! per-user rows must say so. An owned model gets an `owner` field the
//! host fills with the caller's id on insert; every read, update and delete
//! sees only the caller's own rows (admins see all), and a call without a
//! caller (a public route without a token) is refused.
//!
//! Field types: `string`, `int`, `float`, `bool`, `timestamp`, `json`,
//! `uuid`, and lists of `string`, `int`, `float`, `timestamp` or `uuid`
//! ([`Field::string_list`] and its siblings), which filters match by
//! element ([`Filter::contains`](crate::query::Filter::contains),
//! [`Filter::contains_any`](crate::query::Filter::contains_any)) and
//! aggregates group by element.

use crate::query::Value;
use crate::wit::exports::kai::fusion::describe as wit;

/// One column of a model, built from its type: `Field::string("title")`.
#[derive(Debug, Clone)]
pub struct Field(wit::Field);

impl Field {
    fn of(name: &str, type_: wit::FieldType) -> Self {
        Field(wit::Field {
            name: name.to_string(),
            type_,
            nullable: false,
            unique: false,
            indexed: false,
            default: None,
            references: None,
        })
    }

    /// Text.
    pub fn string(name: &str) -> Self {
        Self::of(name, wit::FieldType::String)
    }

    /// A 64-bit integer.
    pub fn int(name: &str) -> Self {
        Self::of(name, wit::FieldType::Int)
    }

    /// A 64-bit float.
    pub fn float(name: &str) -> Self {
        Self::of(name, wit::FieldType::Float)
    }

    pub fn bool(name: &str) -> Self {
        Self::of(name, wit::FieldType::Bool)
    }

    /// Microseconds since the Unix epoch, UTC.
    pub fn timestamp(name: &str) -> Self {
        Self::of(name, wit::FieldType::Timestamp)
    }

    /// A JSON document, stored as text.
    pub fn json(name: &str) -> Self {
        Self::of(name, wit::FieldType::Json)
    }

    pub fn uuid(name: &str) -> Self {
        Self::of(name, wit::FieldType::Uuid)
    }

    /// A list of text, written as [`Value::list`].
    pub fn string_list(name: &str) -> Self {
        Self::of(name, wit::FieldType::StringList)
    }

    /// A list of 64-bit integers.
    pub fn int_list(name: &str) -> Self {
        Self::of(name, wit::FieldType::IntList)
    }

    /// A list of 64-bit floats.
    pub fn float_list(name: &str) -> Self {
        Self::of(name, wit::FieldType::FloatList)
    }

    /// A list of timestamps (microseconds since the Unix epoch, UTC).
    pub fn timestamp_list(name: &str) -> Self {
        Self::of(name, wit::FieldType::TimestampList)
    }

    /// A list of UUIDs.
    pub fn uuid_list(name: &str) -> Self {
        Self::of(name, wit::FieldType::UuidList)
    }

    /// The field may be null (and may be left out of an insert).
    pub fn nullable(mut self) -> Self {
        self.0.nullable = true;
        self
    }

    /// No two rows hold the same value.
    pub fn unique(mut self) -> Self {
        self.0.unique = true;
        self
    }

    /// Filters and orderings on this field use an index.
    pub fn indexed(mut self) -> Self {
        self.0.indexed = true;
        self
    }

    /// The value of inserts that leave the field out, and of rows written
    /// before the field existed.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.0.default = Some(value.into().into());
        self
    }

    /// The field holds ids of a core model: `collection` or `document`
    /// (a uuid field).
    pub fn references(mut self, core_model: &str) -> Self {
        self.0.references = Some(core_model.to_string());
        self
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }
}

/// A model: a name (lower-case letters, digits and `_`), its fields and
/// indexes.
#[derive(Debug, Clone)]
pub struct Model(wit::Model);

impl Model {
    pub fn new(name: &str) -> Self {
        Model(wit::Model {
            name: name.to_string(),
            fields: Vec::new(),
            indexes: Vec::new(),
            exported: false,
            owned: false,
        })
    }

    /// Adds a field, after those added before.
    pub fn field(mut self, field: Field) -> Self {
        self.0.fields.push(field.0);
        self
    }

    /// Adds an index over `fields`, in order.
    pub fn index(self, fields: &[&str]) -> Self {
        self.with_index(fields, false)
    }

    /// Adds an index over `fields` that no two rows may share.
    pub fn unique_index(self, fields: &[&str]) -> Self {
        self.with_index(fields, true)
    }

    fn with_index(mut self, fields: &[&str], unique: bool) -> Self {
        self.0.indexes.push(wit::Index {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            unique,
        });
        self
    }

    /// Rows belong to the user who inserts them (see the module docs): the
    /// host adds and fills an `owner` field and scopes every read, update
    /// and delete to the caller's rows; admins see all.
    pub fn owned(mut self) -> Self {
        self.0.owned = true;
        self
    }

    /// Other plugins may read this model (read-only) once the operator
    /// grants them access.
    pub fn exported(mut self) -> Self {
        self.0.exported = true;
        self
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The names of its fields, in order (without the host's `id`).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.0.fields.iter().map(|f| f.name.as_str())
    }

    pub(crate) fn into_wit(self) -> wit::Model {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_model_is_the_record_the_host_reads() {
        let model = Model::new("note")
            .field(Field::string("title").unique())
            .field(Field::uuid("doc_id").references("document").nullable())
            .field(Field::int("score").default(3).indexed())
            .index(&["doc_id", "score"])
            .unique_index(&["title"])
            .exported()
            .into_wit();
        assert_eq!(model.name, "note");
        assert!(model.exported);
        let [title, doc, score] = &model.fields[..] else {
            panic!("three fields: {:?}", model.fields);
        };
        assert!(title.unique && !title.nullable && title.type_ == wit::FieldType::String);
        assert_eq!(doc.references.as_deref(), Some("document"));
        assert!(doc.nullable && doc.type_ == wit::FieldType::Uuid);
        assert!(
            score.indexed
                && matches!(
                    score.default,
                    Some(crate::wit::kai::fusion::types::Value::Integer(3))
                )
        );
        assert_eq!(model.indexes.len(), 2);
        assert_eq!(model.indexes[0].fields, ["doc_id", "score"]);
        assert!(!model.indexes[0].unique && model.indexes[1].unique);
    }
}
