//! Rows of the models plugins declare: the rules a write keeps before the
//! store runs it (the host assigns ids, a field is given once, required
//! fields are present, defaults fill the rest) and the reads a plugin may
//! make of its own models or of exported ones it was granted.
//!
//! An owned model's rows belong to users: the host fills `owner` with the
//! caller's id on insert, never lets the plugin write it, and narrows every
//! read, update and delete to the caller's rows unless the caller is an
//! admin. A model that is not owned is shared by every caller.

use crate::domain::{AggregateQuery, AggregateRow, Change, Filter, Order, Principal, Value};
use crate::store::query::QueryError;
use crate::store::query::schema::TableSchema;
use crate::store::query::select::SelectSpec;
use crate::store::read;
pub use crate::store::read::SelectedRows;
pub use crate::store::schema::ModelDef;
use crate::store::schema::definition::default_value;
use crate::store::session::Session;
use crate::store::{StoreError, plugin_rows};
use std::borrow::Cow;

/// The table of each of a plugin's models, in the order of its manifest:
/// worked out once when the plugin is loaded rather than on every call.
pub struct PluginTables(Vec<TableSchema>);

impl PluginTables {
    pub fn of(plugin: &str, models: &[ModelDef]) -> PluginTables {
        PluginTables(models.iter().map(|m| m.table_schema(plugin)).collect())
    }

    /// The table of the model at `index` in the manifest.
    pub fn get(&self, index: usize) -> &TableSchema {
        &self.0[index]
    }
}

/// One declared model: what the plugin declared and its table, and on
/// whose behalf the call works with it.
#[derive(Clone, Copy)]
pub struct Model<'a> {
    pub name: &'a str,
    pub def: &'a ModelDef,
    pub schema: &'a TableSchema,
    /// The caller; `None` on a public route without a token. Scopes the
    /// rows of an owned model.
    pub caller: Option<&'a Principal>,
}

/// The field that holds the owner of an owned model's row.
pub const OWNER: &str = crate::store::schema::definition::OWNER_FIELD;

impl<'a> Model<'a> {
    /// The caller an owned model's rows are written and read for; an error
    /// when the call has none.
    fn owner(&self) -> Result<&'a Principal, DataError> {
        self.caller.ok_or_else(|| {
            DataError::Denied(format!(
                "`{}` is an owned model: its rows belong to users, and this call has no \
                 caller (a public route needs the caller's token to reach them)",
                self.name
            ))
        })
    }

    /// `filter`, narrowed to the caller's rows when the model is owned and
    /// the caller is not an admin.
    fn scoped<'f>(&self, filter: &'f Filter) -> Result<Cow<'f, Filter>, DataError> {
        if !self.def.owned {
            return Ok(Cow::Borrowed(filter));
        }
        let caller = self.owner()?;
        if caller.is_admin() {
            return Ok(Cow::Borrowed(filter));
        }
        let mine = Filter::eq(OWNER, Value::Uuid(caller.user_id.clone()));
        Ok(Cow::Owned(filter.clone().and(mine)))
    }

    /// Refuses a write to `owner`, which only the host fills.
    fn check_writable(&self, field: &str) -> Result<(), DataError> {
        if self.def.owned && field == OWNER {
            return Err(DataError::Invalid(format!(
                "`{OWNER}` of `{}` is filled by the host with the caller's id",
                self.name
            )));
        }
        Ok(())
    }
}

/// A row of a model: its id and its fields.
pub struct Record {
    pub id: String,
    pub fields: Vec<(String, Value)>,
}

impl Record {
    /// A row read with its `id` first, as every read of a model returns it.
    fn of_row(mut fields: Vec<(String, Value)>) -> Record {
        let id = match (!fields.is_empty()).then(|| fields.remove(0).1) {
            Some(Value::Uuid(id) | Value::Text(id)) => id,
            _ => String::new(),
        };
        Record { id, fields }
    }
}

/// Why an operation on a plugin's rows failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The input broke a rule (of the model or of the query language);
    /// the message names what.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not touch these rows.
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<QueryError> for DataError {
    fn from(error: QueryError) -> Self {
        DataError::Invalid(error.0)
    }
}

impl From<StoreError> for DataError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Query(error) => error.into(),
            StoreError::Database(error) => DataError::Database(error),
        }
    }
}

/// An id in its canonical (hyphenated, lower-case) form.
fn canonical_id(id: &str) -> Result<String, DataError> {
    crate::domain::canonical_uuid(id)
        .ok_or_else(|| DataError::Invalid(format!("`{id}` is not a valid id")))
}

/// Inserts a row of `fields`, the rest from their defaults; its new id.
pub async fn insert(
    session: &Session,
    model: Model<'_>,
    fields: Vec<(String, Value)>,
) -> Result<String, DataError> {
    let mut row = Vec::with_capacity(model.def.fields.len());
    if model.def.owned {
        row.push((
            OWNER.to_string(),
            Value::Uuid(model.owner()?.user_id.clone()),
        ));
    }
    for (name, value) in fields {
        model.schema.stored(&name)?;
        if name == "id" {
            return Err(DataError::Invalid("`id` is assigned by the host".into()));
        }
        model.check_writable(&name)?;
        if row
            .iter()
            .any(|(given, _): &(String, Value)| *given == name)
        {
            return Err(DataError::Invalid(format!("field `{name}` is given twice")));
        }
        row.push((name, value));
    }
    for field in &model.def.fields {
        if row.iter().any(|(given, _)| *given == field.name) {
            continue;
        }
        let value = match default_value(field) {
            Some(value) => value,
            None if field.nullable => Value::Null,
            None => {
                return Err(DataError::Invalid(format!(
                    "field `{}` of `{}` is required",
                    field.name, model.name
                )));
            }
        };
        row.push((field.name.clone(), value));
    }
    let id = uuid::Uuid::now_v7().to_string();
    plugin_rows::insert(session, model.schema, &id, &row).await?;
    Ok(id)
}

/// Sets `fields` on the row `id`; whether there was one (of the caller's,
/// for an owned model).
pub async fn update(
    session: &Session,
    model: Model<'_>,
    id: &str,
    fields: Vec<(String, Value)>,
) -> Result<bool, DataError> {
    let filter = Filter::eq("id", Value::Uuid(canonical_id(id)?));
    let changes = fields
        .into_iter()
        .map(|(name, value)| (name, Change::Set(value)))
        .collect();
    let (count, _) = update_where(session, model, &filter, changes, false).await?;
    Ok(count > 0)
}

/// Applies `changes` to the rows matching `filter`: how many changed and,
/// with `returning`, the changed rows as they are now.
pub async fn update_where(
    session: &Session,
    model: Model<'_>,
    filter: &Filter,
    changes: Vec<(String, Change)>,
    returning: bool,
) -> Result<(u64, Vec<Record>), DataError> {
    if changes.is_empty() {
        return Err(DataError::Invalid(
            "an update needs at least one field".into(),
        ));
    }
    for (i, (name, _)) in changes.iter().enumerate() {
        if name == "id" {
            return Err(DataError::Invalid("`id` cannot change".into()));
        }
        if changes[..i].iter().any(|(seen, _)| seen == name) {
            return Err(DataError::Invalid(format!("field `{name}` is given twice")));
        }
        model.schema.stored(name)?;
        model.check_writable(name)?;
    }
    let filter = model.scoped(filter)?;
    let (count, rows) =
        plugin_rows::update_where(session, model.schema, &filter, &changes, returning).await?;
    Ok((count, rows.into_iter().map(Record::of_row).collect()))
}

/// Deletes the rows matching `filter`; how many.
pub async fn delete_where(
    session: &Session,
    model: Model<'_>,
    filter: &Filter,
) -> Result<u64, DataError> {
    let filter = model.scoped(filter)?;
    Ok(plugin_rows::delete_where(session, model.schema, &filter).await?)
}

/// Deletes the row `id`; whether there was one.
pub async fn delete(session: &Session, model: Model<'_>, id: &str) -> Result<bool, DataError> {
    let filter = Filter::eq("id", Value::Uuid(canonical_id(id)?));
    Ok(delete_where(session, model, &filter).await? > 0)
}

/// The row `id`, if there is one.
pub async fn get(
    session: &Session,
    model: Model<'_>,
    id: &str,
) -> Result<Option<Record>, DataError> {
    let filter = Filter::eq("id", Value::Uuid(canonical_id(id)?));
    let (records, _) = query(session, model, &filter, &[], 1, None).await?;
    Ok(records.into_iter().next())
}

/// One page of the rows matching `filter`, every field, in `order`.
pub async fn query(
    session: &Session,
    model: Model<'_>,
    filter: &Filter,
    order: &[Order],
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Record>, Option<String>), DataError> {
    let selected = select(session, model, None, filter, order, limit, cursor).await?;
    let records = selected
        .rows
        .iter()
        .map(|row| Ok(Record::of_row(selected.plan.read_row(row)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((records, selected.next_cursor))
}

/// One page of the rows matching `filter`, as the database returned them,
/// with `fields` (every field when `None`) after the id.
pub async fn select(
    session: &Session,
    model: Model<'_>,
    fields: Option<&[String]>,
    filter: &Filter,
    order: &[Order],
    limit: u32,
    cursor: Option<&str>,
) -> Result<SelectedRows, DataError> {
    let filter = model.scoped(filter)?;
    let spec = SelectSpec {
        schema: model.schema,
        fields,
        filter: &filter,
        scope: None,
        order,
        limit,
        cursor,
        cursor_key: session.db().cursor_key(),
    };
    Ok(read::select_rows(session, &spec).await?)
}

/// How many rows match `filter`.
pub async fn count(session: &Session, model: Model<'_>, filter: &Filter) -> Result<u64, DataError> {
    let filter = model.scoped(filter)?;
    Ok(read::count(session, model.schema, &filter).await?)
}

/// The groups of an aggregate over the model's rows.
pub async fn aggregate(
    session: &Session,
    model: Model<'_>,
    query: &AggregateQuery,
) -> Result<Vec<AggregateRow>, DataError> {
    let scoped = model.scoped(&query.filter)?;
    let query = match scoped {
        Cow::Borrowed(_) => Cow::Borrowed(query),
        Cow::Owned(filter) => Cow::Owned(AggregateQuery {
            filter,
            ..query.clone()
        }),
    };
    Ok(read::aggregate(session, model.schema, &query, None).await?)
}
