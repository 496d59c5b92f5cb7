//! Checked model definitions: what a plugin declared, validated, in a form
//! the host stores (as JSON in `plugin_models`) and compares between
//! versions.

use crate::domain::Value;
use crate::store::query::schema::{Column, ColumnType, TableSchema};
use crate::wit::bindings::exports::kai::fusion::describe as wit;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Core models a field may reference.
const REFERENCE_TARGETS: &[&str] = &["collection", "document"];
/// PostgreSQL truncates identifiers beyond 63 bytes.
const MAX_IDENTIFIER: usize = 63;
const MAX_MODELS: usize = 32;
const MAX_FIELDS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDef {
    pub name: String,
    pub fields: Vec<FieldDef>,
    /// Composite indexes declared by the plugin.
    pub indexes: Vec<IndexDef>,
    pub exported: bool,
}

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

/// Validates a plugin's declared models.
pub fn validate(plugin: &str, models: &[wit::Model]) -> Result<Vec<ModelDef>, String> {
    if models.len() > MAX_MODELS {
        return Err(format!("at most {MAX_MODELS} models per plugin"));
    }
    let mut defs: Vec<ModelDef> = Vec::new();
    for model in models {
        let def =
            validate_model(plugin, model).map_err(|e| format!("model `{}`: {e}", model.name))?;
        if defs.iter().any(|d| d.name == def.name) {
            return Err(format!("model `{}` is declared twice", def.name));
        }
        defs.push(def);
    }
    Ok(defs)
}

fn validate_model(plugin: &str, model: &wit::Model) -> Result<ModelDef, String> {
    if !is_identifier(&model.name) {
        return Err(
            "the name must be lower-case letters, digits and `_`, starting with a letter".into(),
        );
    }
    let table = table_name(plugin, &model.name);
    if table.len() > MAX_IDENTIFIER {
        return Err(format!(
            "its table name `{table}` is longer than {MAX_IDENTIFIER} bytes"
        ));
    }
    if model.fields.is_empty() || model.fields.len() > MAX_FIELDS {
        return Err(format!("a model needs 1 to {MAX_FIELDS} fields"));
    }
    let mut fields: Vec<FieldDef> = Vec::new();
    for field in &model.fields {
        let name = &field.name;
        if !is_identifier(name) {
            return Err(format!(
                "field `{name}`: names are lower-case letters, digits and `_`"
            ));
        }
        if name == "id" {
            return Err("field `id` is reserved: every row has a host-assigned `id`".into());
        }
        if fields.iter().any(|f| f.name == *name) {
            return Err(format!("field `{name}` is declared twice"));
        }
        let ty = ColumnType::from(field.type_);
        if let Some(target) = &field.references {
            if !REFERENCE_TARGETS.contains(&target.as_str()) {
                return Err(format!(
                    "field `{name}` references `{target}`; it can reference {}",
                    REFERENCE_TARGETS.join(" or ")
                ));
            }
            if ty != ColumnType::Uuid {
                return Err(format!(
                    "field `{name}` references `{target}` and must be a uuid field"
                ));
            }
        }
        let default = match &field.default {
            None => None,
            Some(value) => {
                let value = Value::from(value.clone());
                Some(default_json(ty, &value).map_err(|e| format!("field `{name}`: {e}"))?)
            }
        };
        fields.push(FieldDef {
            name: name.clone(),
            ty,
            nullable: field.nullable,
            unique: field.unique,
            indexed: field.indexed,
            default,
            references: field.references.clone(),
        });
    }
    let mut indexes = Vec::new();
    for index in &model.indexes {
        if index.fields.is_empty() || index.fields.len() > 8 {
            return Err("an index covers 1 to 8 fields".into());
        }
        for field in &index.fields {
            if field != "id" && !fields.iter().any(|f| f.name == *field) {
                return Err(format!("an index names the unknown field `{field}`"));
            }
        }
        indexes.push(IndexDef {
            fields: index.fields.clone(),
            unique: index.unique,
        });
    }
    Ok(ModelDef {
        name: model.name.clone(),
        fields,
        indexes,
        exported: model.exported,
    })
}

/// A default value as JSON, checked against the field's type.
fn default_json(ty: ColumnType, value: &Value) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let bad = || format!("a default of this kind does not fit a {} field", ty.name());
    Ok(match (ty, value) {
        (_, Value::Null) => serde_json::Value::Null,
        (ColumnType::String, Value::Text(s)) => json!(s),
        (ColumnType::Int, Value::Integer(i)) => json!(i),
        (ColumnType::Timestamp, Value::Timestamp(i) | Value::Integer(i)) => json!(i),
        (ColumnType::Float, Value::Float(f)) if f.is_finite() => json!(f),
        (ColumnType::Float, Value::Integer(i)) => json!(*i as f64),
        (ColumnType::Bool, Value::Boolean(b)) => json!(b),
        (ColumnType::Json, Value::Json(s) | Value::Text(s)) => {
            serde_json::from_str::<serde_json::Value>(s)
                .map_err(|e| format!("invalid JSON default: {e}"))?;
            json!(s)
        }
        (ColumnType::Uuid, Value::Uuid(s) | Value::Text(s)) => {
            uuid::Uuid::parse_str(s).map_err(|_| "the default is not a UUID".to_string())?;
            json!(s)
        }
        _ => return Err(bad()),
    })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= MAX_IDENTIFIER
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
        (ColumnType::Json, serde_json::Value::String(s)) => Value::Json(s.clone()),
        (ColumnType::Uuid, serde_json::Value::String(s)) => Value::Uuid(s.clone()),
        (_, serde_json::Value::String(s)) => Value::Text(s.clone()),
        _ => return None,
    })
}
