//! The SDK's own types to and from the records generated from `wit/`: the
//! one place that knows both, so the public API never shows a generated
//! type and a change of the WIT contract is absorbed here.
//!
//! Conversions move fields; none copies a string that it can take.

use crate::events::{CoreRow, Delivery, Event};
use crate::http::Principal;
use crate::models::{
    Collection, CollectionPage, CollectionPatch, Document, DocumentPage, DocumentPatch,
    NewCollection, NewDocument, Queryable,
};
use crate::outbound::OutboundResponse;
use crate::plugin::CoreModel;
use crate::query::{AggregateRow, Condition, Op, Order, TimeBucket, Value};
use crate::wit::exports::kai::fusion::{describe, events as wit_events};
use crate::wit::kai::fusion::{models, outbound_http, query, types};

impl From<Value> for types::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => types::Value::Null,
            Value::Boolean(b) => types::Value::Boolean(b),
            Value::Integer(i) => types::Value::Integer(i),
            Value::Float(f) => types::Value::Float(f),
            Value::Text(s) => types::Value::Text(s),
            Value::Json(s) => types::Value::Json(s),
            Value::Uuid(s) => types::Value::Uuid(s),
            Value::Timestamp(t) => types::Value::Timestamp(t),
        }
    }
}

impl From<types::Value> for Value {
    fn from(value: types::Value) -> Self {
        match value {
            types::Value::Null => Value::Null,
            types::Value::Boolean(b) => Value::Boolean(b),
            types::Value::Integer(i) => Value::Integer(i),
            types::Value::Float(f) => Value::Float(f),
            types::Value::Text(s) => Value::Text(s),
            types::Value::Json(s) => Value::Json(s),
            types::Value::Uuid(s) => Value::Uuid(s),
            types::Value::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

/// Values the plugin keeps (a filter, a row to write) as the host takes them.
pub(crate) fn values(values: &[Value]) -> Vec<types::Value> {
    values.iter().cloned().map(Into::into).collect()
}

/// Values the host returned.
pub(crate) fn from_values(values: Vec<types::Value>) -> Vec<Value> {
    values.into_iter().map(Into::into).collect()
}

impl From<Op> for query::Op {
    fn from(op: Op) -> Self {
        match op {
            Op::Eq => query::Op::Eq,
            Op::Ne => query::Op::Ne,
            Op::Lt => query::Op::Lt,
            Op::Le => query::Op::Le,
            Op::Gt => query::Op::Gt,
            Op::Ge => query::Op::Ge,
            Op::In => query::Op::In,
            Op::Prefix => query::Op::Prefix,
            Op::Contains => query::Op::Contains,
            Op::IsNull => query::Op::IsNull,
            Op::IsNotNull => query::Op::IsNotNull,
        }
    }
}

impl From<&Condition> for query::Condition {
    fn from(condition: &Condition) -> Self {
        query::Condition {
            field: condition.field.clone(),
            op: condition.op.into(),
            values: values(&condition.values),
        }
    }
}

impl From<&Order> for query::Order {
    fn from(order: &Order) -> Self {
        query::Order {
            field: order.field.clone(),
            descending: order.descending,
        }
    }
}

/// Orderings as the host takes them.
pub(crate) fn orders(orders: &[Order]) -> Vec<query::Order> {
    orders.iter().map(Into::into).collect()
}

impl From<TimeBucket> for query::TimeBucket {
    fn from(bucket: TimeBucket) -> Self {
        match bucket {
            TimeBucket::Hour => query::TimeBucket::Hour,
            TimeBucket::Day => query::TimeBucket::Day,
            TimeBucket::Week => query::TimeBucket::Week,
            TimeBucket::Month => query::TimeBucket::Month,
        }
    }
}

impl From<query::AggregateRow> for AggregateRow {
    fn from(row: query::AggregateRow) -> Self {
        AggregateRow {
            keys: from_values(row.keys),
            values: from_values(row.values),
        }
    }
}

/// The rows of an aggregation the host returned.
pub(crate) fn aggregate_rows(rows: Vec<query::AggregateRow>) -> Vec<AggregateRow> {
    rows.into_iter().map(Into::into).collect()
}

impl From<types::Principal> for Principal {
    fn from(principal: types::Principal) -> Self {
        Principal {
            id: principal.id,
            roles: principal.roles,
        }
    }
}

impl From<models::Collection> for Collection {
    fn from(c: models::Collection) -> Self {
        Collection {
            id: c.id,
            owner: c.owner,
            name: c.name,
            description: c.description,
            metadata: c.metadata,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<models::Document> for Document {
    fn from(d: models::Document) -> Self {
        Document {
            id: d.id,
            collection_id: d.collection_id,
            owner: d.owner,
            title: d.title,
            content: d.content,
            format: d.format,
            tags: d.tags,
            metadata: d.metadata,
            content_hash: d.content_hash,
            word_count: d.word_count,
            size_bytes: d.size_bytes,
            version: d.version,
            created_at: d.created_at,
            updated_at: d.updated_at,
            archived_at: d.archived_at,
        }
    }
}

impl From<models::CollectionPage> for CollectionPage {
    fn from(page: models::CollectionPage) -> Self {
        CollectionPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

impl From<models::DocumentPage> for DocumentPage {
    fn from(page: models::DocumentPage) -> Self {
        DocumentPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

impl From<&NewCollection> for models::NewCollection {
    fn from(c: &NewCollection) -> Self {
        models::NewCollection {
            name: c.name.clone(),
            description: c.description.clone(),
            metadata: c.metadata.clone(),
        }
    }
}

impl From<&CollectionPatch> for models::CollectionPatch {
    fn from(p: &CollectionPatch) -> Self {
        models::CollectionPatch {
            name: p.name.clone(),
            description: p.description.clone(),
            metadata: p.metadata.clone(),
        }
    }
}

impl From<&NewDocument> for models::NewDocument {
    fn from(d: &NewDocument) -> Self {
        models::NewDocument {
            collection_id: d.collection_id.clone(),
            title: d.title.clone(),
            content: d.content.clone(),
            format: d.format.clone(),
            tags: d.tags.clone(),
            metadata: d.metadata.clone(),
        }
    }
}

impl From<&DocumentPatch> for models::DocumentPatch {
    fn from(p: &DocumentPatch) -> Self {
        models::DocumentPatch {
            title: p.title.clone(),
            content: p.content.clone(),
            format: p.format.clone(),
            tags: p.tags.clone(),
            metadata: p.metadata.clone(),
            archived: p.archived,
        }
    }
}

impl From<Queryable> for models::Queryable {
    fn from(model: Queryable) -> Self {
        match model {
            Queryable::Collections => models::Queryable::Collections,
            Queryable::Documents => models::Queryable::Documents,
            Queryable::DocumentTags => models::Queryable::DocumentTags,
            Queryable::CollectionStats => models::Queryable::CollectionStats,
            Queryable::TagCounts => models::Queryable::TagCounts,
        }
    }
}

impl From<wit_events::Row> for CoreRow {
    fn from(row: wit_events::Row) -> Self {
        match row {
            wit_events::Row::Collection(c) => CoreRow::Collection(c.into()),
            wit_events::Row::Document(d) => CoreRow::Document(d.into()),
        }
    }
}

impl From<wit_events::Event> for Event {
    fn from(e: wit_events::Event) -> Self {
        Event {
            id: e.id,
            kind: e.kind,
            subject: e.subject,
            old: e.old.map(Into::into),
            new: e.new.map(Into::into),
            principal: e.principal.map(Into::into),
            occurred_at: e.occurred_at,
            attempt: e.attempt,
        }
    }
}

impl From<Delivery> for describe::Delivery {
    fn from(delivery: Delivery) -> Self {
        match delivery {
            Delivery::Transactional => describe::Delivery::Transactional,
            Delivery::AfterCommit => describe::Delivery::AfterCommit,
        }
    }
}

impl From<CoreModel> for describe::CoreModel {
    fn from(model: CoreModel) -> Self {
        match model {
            CoreModel::Collections => describe::CoreModel::Collections,
            CoreModel::Documents => describe::CoreModel::Documents,
        }
    }
}

impl From<outbound_http::OutboundResponse> for OutboundResponse {
    fn from(r: outbound_http::OutboundResponse) -> Self {
        OutboundResponse {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_survives_the_trip_through_the_wit_record() {
        let all = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Integer(-7),
            Value::Float(2.5),
            Value::Text("text".into()),
            Value::Json("{\"a\":1}".into()),
            Value::Uuid("0190aaaa-0000-7000-8000-000000000000".into()),
            Value::Timestamp(1_700_000_000_000_000),
        ];
        assert_eq!(from_values(values(&all)), all);
    }

    #[test]
    fn an_event_keeps_its_rows_and_caller() {
        let document = models::Document {
            id: "d".into(),
            collection_id: "c".into(),
            owner: "u".into(),
            title: "t".into(),
            content: "body".into(),
            format: "markdown".into(),
            tags: vec!["x".into()],
            metadata: "{}".into(),
            content_hash: "h".into(),
            word_count: 1,
            size_bytes: 4,
            version: 2,
            created_at: 10,
            updated_at: 20,
            archived_at: None,
        };
        let event = Event::from(wit_events::Event {
            id: "e".into(),
            kind: "document.updated".into(),
            subject: "d".into(),
            old: None,
            new: Some(wit_events::Row::Document(document)),
            principal: Some(types::Principal {
                id: "u".into(),
                roles: vec!["admin".into()],
            }),
            occurred_at: 30,
            attempt: 1,
        });
        let new = event.new_document().expect("the new document");
        assert_eq!(
            (new.title.as_str(), new.version, &new.tags[..]),
            ("t", 2, &["x".to_string()][..])
        );
        assert!(event.old_document().is_none());
        assert!(event.principal.as_ref().is_some_and(Principal::is_admin));
    }
}
