//! Checked model definitions: what a plugin declared, validated, in a form
//! the host stores (as JSON in `plugin_models`) and compares between
//! versions.

use crate::domain::Value;
use crate::store::query::schema::{Column, ColumnType, TableSchema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// PostgreSQL truncates identifiers beyond 63 bytes.
pub const MAX_IDENTIFIER: usize = 63;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDef {
    pub name: String,
    pub fields: Vec<FieldDef>,
    /// Composite indexes declared by the plugin.
    pub indexes: Vec<IndexDef>,
    pub exported: bool,
    /// Rows belong to users: the fields include [`OWNER_FIELD`], which the
    /// host fills and scopes calls by.
    #[serde(default)]
    pub owned: bool,
}

/// The field an owned model keeps its rows' owner (a user id) in.
pub const OWNER_FIELD: &str = "owner";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    pub nullable: bool,
    pub unique: bool,
    pub indexed: bool,
    /// The default as a JSON value of the field's type.
    pub default: Option<serde_json::Value>,
    pub references: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndexDef {
    pub fields: Vec<String>,
    pub unique: bool,
}

/// The table of a plugin's model.
pub fn table_name(plugin: &str, model: &str) -> String {
    format!("plg_{}_{}", plugin.replace('-', "_"), model)
}

impl ModelDef {
    /// Every index the table should have: declared composites, plus one per
    /// `indexed` or `unique` field (uniques are indexes, not inline
    /// constraints, so they can be added to existing tables on SQLite too),
    /// plus one per reference.
    pub fn all_indexes(&self) -> Vec<IndexDef> {
        let mut all: Vec<IndexDef> = Vec::new();
        let mut add = |index: IndexDef| {
            if !all.contains(&index) {
                all.push(index);
            }
        };
        for field in &self.fields {
            if field.unique {
                add(IndexDef {
                    fields: vec![field.name.clone()],
                    unique: true,
                });
            } else if field.indexed || field.references.is_some() {
                add(IndexDef {
                    fields: vec![field.name.clone()],
                    unique: false,
                });
            }
        }
        for index in &self.indexes {
            add(index.clone());
        }
        all
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The query layer's view of the table: `id` plus the fields.
    pub fn table_schema(&self, plugin: &str) -> TableSchema {
        let mut columns = vec![Column::new("id", ColumnType::Uuid, false)];
        columns.extend(
            self.fields
                .iter()
                .map(|f| Column::new(&f.name, f.ty, f.nullable)),
        );
        TableSchema::new(
            table_name(plugin, &self.name),
            format!("{plugin}/{}", self.name),
            columns,
        )
    }
}

impl IndexDef {
    /// A stable name derived from the table and the index's definition.
    pub fn sql_name(&self, table: &str) -> String {
        let digest = Sha256::digest(format!("{}|{}", self.fields.join(","), self.unique));
        let suffix = &hex::encode(digest)[..10];
        let prefix = if self.unique { "uq" } else { "ix" };
        let mut name = format!("{prefix}_{table}");
        name.truncate(MAX_IDENTIFIER - suffix.len() - 1);
        format!("{name}_{suffix}")
    }
}

/// The SQL literal of a stored default (values were validated on the way in).
pub fn default_literal(ty: ColumnType, value: &serde_json::Value) -> String {
    match (ty, value) {
        (_, serde_json::Value::Null) => "NULL".into(),
        (ColumnType::Bool, serde_json::Value::Bool(b)) => if *b { "1" } else { "0" }.into(),
        (_, serde_json::Value::Number(n)) => n.to_string(),
        (_, serde_json::Value::String(s)) => {
            format!("'{}'", s.replace('\'', "''").replace('\0', ""))
        }
        (_, other) => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// The default as a value, for inserts that leave the field out.
pub fn default_value(field: &FieldDef) -> Option<Value> {
    let value = field.default.as_ref()?;
    Some(match (field.ty, value) {
        (_, serde_json::Value::Null) => Value::Null,
        (ColumnType::Bool, serde_json::Value::Bool(b)) => Value::Boolean(*b),
        (ColumnType::Int, v) => Value::Integer(v.as_i64()?),
        (ColumnType::Timestamp, v) => Value::Timestamp(v.as_i64()?),
        (ColumnType::Float, v) => Value::Float(v.as_f64()?),
        (ty, serde_json::Value::String(s)) if ty.is_json_text() => Value::Json(s.clone()),
        (ColumnType::Uuid, serde_json::Value::String(s)) => Value::Uuid(s.clone()),
        (_, serde_json::Value::String(s)) => Value::Text(s.clone()),
        _ => return None,
    })
}
