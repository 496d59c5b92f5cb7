//! The models a plugin's manifest declares, checked and turned into the
//! definitions the store keeps: names, field types, defaults, references
//! and indexes, with an error naming the first thing wrong.

use crate::domain::Value;
use crate::store::query::schema::ColumnType;
use crate::store::query::values::list_json;
use crate::store::schema::definition::{
    FieldDef, IndexDef, MAX_IDENTIFIER, ModelDef, OWNER_FIELD, table_name,
};
use crate::wit::bindings::exports::kai::fusion::describe::{self as wit, FieldType};

/// Core models a field may reference.
const REFERENCE_TARGETS: &[&str] = &["collection", "document"];
const MAX_MODELS: usize = 32;
const MAX_FIELDS: usize = 64;

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
    if model.owned {
        if fields.iter().any(|f| f.name == OWNER_FIELD) {
            return Err(format!(
                "field `{OWNER_FIELD}` is reserved in an owned model: the host fills it with \
                 the caller's id"
            ));
        }
        // Nullable so that a model that becomes owned keeps its earlier
        // rows (which only admins then see); the host fills it on insert.
        fields.push(FieldDef {
            name: OWNER_FIELD.into(),
            ty: ColumnType::Uuid,
            nullable: true,
            unique: false,
            indexed: true,
            default: None,
            references: None,
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
        owned: model.owned,
    })
}

/// A default value as JSON, checked against the field's type.
fn default_json(ty: ColumnType, value: &Value) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let bad = || {
        format!(
            "a default of kind `{}` does not fit a field of type `{}`",
            value.kind(),
            ty.name()
        )
    };
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
        (ty, Value::Json(s)) if ty.element().is_some() => {
            json!(list_json("the default", ty, s).map_err(|e| e.0)?)
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

impl From<FieldType> for ColumnType {
    fn from(ty: FieldType) -> Self {
        match ty {
            FieldType::String => ColumnType::String,
            FieldType::Int => ColumnType::Int,
            FieldType::Float => ColumnType::Float,
            FieldType::Bool => ColumnType::Bool,
            FieldType::Timestamp => ColumnType::Timestamp,
            FieldType::Json => ColumnType::Json,
            FieldType::Uuid => ColumnType::Uuid,
            FieldType::StringList => ColumnType::StringList,
            FieldType::IntList => ColumnType::IntList,
            FieldType::FloatList => ColumnType::FloatList,
            FieldType::TimestampList => ColumnType::TimestampList,
            FieldType::UuidList => ColumnType::UuidList,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(owned: bool) -> wit::Model {
        wit::Model {
            name: "note".into(),
            fields: vec![wit::Field {
                name: "tags".into(),
                type_: FieldType::StringList,
                nullable: false,
                unique: false,
                indexed: false,
                default: Some(crate::wit::bindings::kai::fusion::types::Value::Json(
                    "[\"a\"]".into(),
                )),
                references: None,
            }],
            indexes: vec![],
            exported: false,
            owned,
        }
    }

    #[test]
    fn an_owned_model_gets_an_indexed_owner_and_becoming_owned_is_additive() {
        use crate::store::schema::plan::diff;
        let shared = validate("p", &[note(false)]).unwrap();
        let owned = validate("p", &[note(true)]).unwrap();
        let owner = owned[0].field(OWNER_FIELD).expect("an owner field");
        assert!(owner.ty == ColumnType::Uuid && owner.nullable && owner.indexed);
        assert_eq!(
            owned[0].fields[0].default,
            Some(serde_json::json!("[\"a\"]"))
        );
        assert!(!diff(&shared, &owned).unwrap().destructive);
        assert!(diff(&owned, &shared).unwrap().destructive);

        let mut declares_owner = note(true);
        declares_owner.fields[0].name = OWNER_FIELD.into();
        let error = validate("p", &[declares_owner]).unwrap_err();
        assert!(
            error.contains("`owner` is reserved in an owned model"),
            "{error}"
        );
    }

    #[test]
    fn a_list_default_is_checked_element_by_element() {
        let error =
            default_json(ColumnType::IntList, &Value::Json("[1, \"two\"]".into())).unwrap_err();
        assert_eq!(
            error,
            "the default is of type int-list: element 1 (`\"two\"`) is not of type int"
        );
    }

    #[test]
    fn a_default_of_the_wrong_kind_names_the_kind_and_the_type() {
        let error = default_json(ColumnType::Int, &Value::Text("seven".into())).unwrap_err();
        assert_eq!(
            error,
            "a default of kind `text` does not fit a field of type `int`"
        );
        assert_eq!(
            default_json(ColumnType::Float, &Value::Integer(2)),
            Ok(serde_json::json!(2.0))
        );
    }
}
