//! Between the generated WIT types and the host's own ([`crate::domain`]):
//! the principal, collections and documents, values, the filter (a flat
//! list of nodes on the wire, a tree in the host), orders and aggregates,
//! and the StateManager's records.

use super::bindings::exports::kai::fusion::describe::CoreModel;
use super::bindings::exports::kai::fusion::events::{Event as WitEvent, Row as WitRow};
use super::bindings::kai::fusion::models::{Collection as WitCollection, Document as WitDocument};
use super::bindings::kai::fusion::persistence::Change as WitChange;
use super::bindings::kai::fusion::query as wit;
use super::bindings::kai::fusion::types::{Principal as WitPrincipal, Value as WitValue};
use crate::domain::{
    Aggregate, AggregateFunction, AggregateQuery, AggregateRow, Change, Collection, Condition,
    Document, Event, Filter, GroupKey, Op, Order, Principal, Role, Row, TimeBucket, Value,
};

impl From<&Principal> for WitPrincipal {
    fn from(principal: &Principal) -> WitPrincipal {
        WitPrincipal {
            id: principal.user_id.clone(),
            roles: vec![principal.role.as_str().to_string()],
        }
    }
}

impl From<&WitPrincipal> for Principal {
    /// An admin only when the roles say so.
    fn from(principal: &WitPrincipal) -> Principal {
        let admin = principal.roles.iter().any(|role| role == "admin");
        Principal::new(
            principal.id.clone(),
            if admin { Role::Admin } else { Role::Member },
        )
    }
}

impl From<&Collection> for WitCollection {
    fn from(c: &Collection) -> WitCollection {
        WitCollection {
            id: c.id.clone(),
            owner: c.owner.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            metadata: c.metadata.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<&Document> for WitDocument {
    fn from(d: &Document) -> WitDocument {
        WitDocument {
            id: d.id.clone(),
            collection_id: d.collection_id.clone(),
            owner: d.owner.clone(),
            title: d.title.clone(),
            content: d.content.clone(),
            format: d.format.clone(),
            tags: d.tags.clone(),
            metadata: d.metadata.clone(),
            content_hash: d.content_hash.clone(),
            word_count: d.word_count as u64,
            size_bytes: d.size_bytes as u64,
            version: d.version as u64,
            created_at: d.created_at,
            updated_at: d.updated_at,
            archived_at: d.archived_at,
        }
    }
}

impl From<&Document> for WitRow {
    fn from(doc: &Document) -> Self {
        WitRow::Document(doc.into())
    }
}

impl From<&Collection> for WitRow {
    fn from(collection: &Collection) -> Self {
        WitRow::Collection(collection.into())
    }
}

impl From<&Row> for WitRow {
    fn from(row: &Row) -> Self {
        match row {
            Row::Document(doc) => doc.into(),
            Row::Collection(collection) => collection.into(),
        }
    }
}

impl From<&Event> for WitEvent {
    fn from(event: &Event) -> Self {
        WitEvent {
            id: event.id.clone(),
            kind: event.kind.as_str().to_string(),
            subject: event.subject.clone(),
            old: event.old.as_ref().map(WitRow::from),
            new: event.new.as_ref().map(WitRow::from),
            principal: event.principal.as_ref().map(WitPrincipal::from),
            occurred_at: event.occurred_at,
            attempt: event.attempt,
        }
    }
}

/// Most nodes a filter list may have.
pub const MAX_FILTER_NODES: usize = 256;

/// Most nodes the tree of a filter list may expand to (a node referred to
/// twice counts twice), so a small list cannot describe a huge tree.
pub const MAX_EXPANDED_NODES: usize = 4096;

impl From<WitChange> for Change {
    fn from(change: WitChange) -> Self {
        match change {
            WitChange::Set(value) => Change::Set(value.into()),
            WitChange::Increment(value) => Change::Increment(value.into()),
        }
    }
}

impl From<WitValue> for Value {
    fn from(value: WitValue) -> Value {
        match value {
            WitValue::Null => Value::Null,
            WitValue::Boolean(b) => Value::Boolean(b),
            WitValue::Integer(i) => Value::Integer(i),
            WitValue::Float(f) => Value::Float(f),
            WitValue::Text(s) => Value::Text(s),
            WitValue::Json(s) => Value::Json(s),
            WitValue::Uuid(s) => Value::Uuid(s),
            WitValue::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

impl From<Value> for WitValue {
    fn from(value: Value) -> WitValue {
        match value {
            Value::Null => WitValue::Null,
            Value::Boolean(b) => WitValue::Boolean(b),
            Value::Integer(i) => WitValue::Integer(i),
            Value::Float(f) => WitValue::Float(f),
            Value::Text(s) => WitValue::Text(s),
            Value::Json(s) => WitValue::Json(s),
            Value::Uuid(s) => WitValue::Uuid(s),
            Value::Timestamp(t) => WitValue::Timestamp(t),
        }
    }
}

fn op(op: wit::Op) -> Op {
    match op {
        wit::Op::Eq => Op::Eq,
        wit::Op::Ne => Op::Ne,
        wit::Op::Lt => Op::Lt,
        wit::Op::Le => Op::Le,
        wit::Op::Gt => Op::Gt,
        wit::Op::Ge => Op::Ge,
        wit::Op::In => Op::In,
        wit::Op::Prefix => Op::Prefix,
        wit::Op::Contains => Op::Contains,
        wit::Op::IsNull => Op::IsNull,
        wit::Op::IsNotNull => Op::IsNotNull,
    }
}

/// The tree of a filter list: composite nodes refer to earlier nodes by
/// index and the last node is the root; an empty list matches everything.
pub fn filter(nodes: &[wit::FilterNode]) -> Result<Filter, String> {
    if nodes.is_empty() {
        return Ok(Filter::everything());
    }
    if nodes.len() > MAX_FILTER_NODES {
        return Err(format!(
            "a filter may have at most {MAX_FILTER_NODES} nodes, this one has {}",
            nodes.len()
        ));
    }
    for (index, node) in nodes.iter().enumerate() {
        let children: &[u32] = match node {
            wit::FilterNode::Condition(_) => &[],
            wit::FilterNode::All(children) | wit::FilterNode::Any(children) => children,
            wit::FilterNode::Not(child) => std::slice::from_ref(child),
        };
        if let Some(bad) = children.iter().find(|&&c| c as usize >= index) {
            return Err(format!(
                "filter node {index} refers to node {bad}; nodes may only refer to earlier nodes"
            ));
        }
    }
    let mut expanded = 0;
    tree(nodes, nodes.len() - 1, &mut expanded)
}

fn tree(nodes: &[wit::FilterNode], index: usize, expanded: &mut usize) -> Result<Filter, String> {
    *expanded += 1;
    if *expanded > MAX_EXPANDED_NODES {
        return Err("the filter is too complex".into());
    }
    let children = |list: &[u32], expanded: &mut usize| {
        list.iter()
            .map(|&child| tree(nodes, child as usize, expanded))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match &nodes[index] {
        wit::FilterNode::Condition(condition) => Filter::Condition(Condition {
            field: condition.field.clone(),
            op: op(condition.op),
            values: condition.values.iter().cloned().map(Value::from).collect(),
        }),
        wit::FilterNode::All(list) => Filter::All(children(list, expanded)?),
        wit::FilterNode::Any(list) => Filter::Any(children(list, expanded)?),
        wit::FilterNode::Not(child) => {
            Filter::Not(Box::new(tree(nodes, *child as usize, expanded)?))
        }
    })
}

/// Orders, as given.
pub fn orders(orders: &[wit::Order]) -> Vec<Order> {
    orders
        .iter()
        .map(|o| Order {
            field: o.field.clone(),
            descending: o.descending,
        })
        .collect()
}

/// An aggregate query, its filter checked as [`filter`] checks it.
pub fn aggregate_query(query: &wit::AggregateQuery) -> Result<AggregateQuery, String> {
    Ok(AggregateQuery {
        filter: filter(&query.filter)?,
        group_by: query
            .group_by
            .iter()
            .map(|key| match key {
                wit::GroupKey::Field(field) => GroupKey::Field(field.clone()),
                wit::GroupKey::Bucket((field, bucket)) => GroupKey::Bucket(
                    field.clone(),
                    match bucket {
                        wit::TimeBucket::Hour => TimeBucket::Hour,
                        wit::TimeBucket::Day => TimeBucket::Day,
                        wit::TimeBucket::Week => TimeBucket::Week,
                        wit::TimeBucket::Month => TimeBucket::Month,
                    },
                ),
            })
            .collect(),
        aggregates: query
            .aggregates
            .iter()
            .map(|a| Aggregate {
                function: match a.function {
                    wit::AggregateFunction::Count => AggregateFunction::Count,
                    wit::AggregateFunction::CountDistinct => AggregateFunction::CountDistinct,
                    wit::AggregateFunction::Sum => AggregateFunction::Sum,
                    wit::AggregateFunction::Min => AggregateFunction::Min,
                    wit::AggregateFunction::Max => AggregateFunction::Max,
                    wit::AggregateFunction::Avg => AggregateFunction::Avg,
                },
                field: a.field.clone(),
            })
            .collect(),
        order: orders(&query.order),
        limit: query.limit,
    })
}

impl From<AggregateRow> for wit::AggregateRow {
    fn from(row: AggregateRow) -> wit::AggregateRow {
        wit::AggregateRow {
            keys: row.keys.into_iter().map(WitValue::from).collect(),
            values: row.values.into_iter().map(WitValue::from).collect(),
        }
    }
}

/// The name a core model has in grants and errors.
pub fn core_model_name(model: CoreModel) -> &'static str {
    match model {
        CoreModel::Collections => "collections",
        CoreModel::Documents => "documents",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Document {
        Document {
            id: "0190a0a0-0000-7000-8000-000000000001".into(),
            collection_id: "0190a0a0-0000-7000-8000-000000000002".into(),
            owner: "0190a0a0-0000-7000-8000-000000000003".into(),
            title: "Plan".into(),
            content: "# Plan".into(),
            format: "md".into(),
            tags: vec!["q4".into()],
            metadata: "{}".into(),
            content_hash: "ab".into(),
            word_count: 2,
            size_bytes: 6,
            version: 3,
            created_at: 1,
            updated_at: 2,
            archived_at: None,
        }
    }

    /// Events waiting in the outbox were stored as the JSON of the WIT
    /// record; an upgraded host must still read them, and what it writes
    /// must be that same JSON.
    #[test]
    fn stored_events_keep_the_wit_records_json() {
        let collection = Collection {
            id: "c".into(),
            owner: "o".into(),
            name: "Research".into(),
            description: String::new(),
            metadata: "{}".into(),
            created_at: 1,
            updated_at: 1,
        };
        for (old, new, principal) in [
            (
                Some(Row::Document(document())),
                Some(Row::Document(document())),
                Some(Principal::new("u1", Role::Admin)),
            ),
            (
                None,
                Some(Row::Collection(collection)),
                Some(Principal::new("u2", Role::Member)),
            ),
            (Some(Row::Document(document())), None, None),
        ] {
            let event = Event {
                id: "e1".into(),
                kind: crate::domain::EventKind::DocumentUpdated,
                subject: "s".into(),
                old,
                new,
                principal,
                occurred_at: 5,
                attempt: 1,
                by_run: false,
            };
            let stored = serde_json::to_string(&WitEvent::from(&event)).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&stored).unwrap(), event);
            assert_eq!(
                serde_json::to_value(&event).unwrap(),
                serde_json::to_value(WitEvent::from(&event)).unwrap()
            );
        }
    }

    fn condition(field: &str) -> wit::FilterNode {
        wit::FilterNode::Condition(wit::Condition {
            field: field.into(),
            op: wit::Op::Eq,
            values: vec![WitValue::Integer(1)],
        })
    }

    #[test]
    fn a_filter_list_becomes_its_tree() {
        let nodes = vec![
            condition("a"),
            condition("b"),
            wit::FilterNode::Any(vec![0, 1]),
            wit::FilterNode::Not(2),
        ];
        let tree = filter(&nodes).unwrap();
        let leaf = |f: &str| Filter::eq(f, Value::Integer(1));
        assert_eq!(
            tree,
            Filter::Not(Box::new(Filter::Any(vec![leaf("a"), leaf("b")])))
        );
        assert_eq!(filter(&[]).unwrap(), Filter::everything());
    }

    #[test]
    fn bad_filter_lists_are_refused_by_what_is_wrong() {
        let forward = vec![wit::FilterNode::Not(1), condition("a")];
        assert!(filter(&forward).unwrap_err().contains("refers to node 1"));
        let long = vec![condition("a"); MAX_FILTER_NODES + 1];
        assert!(filter(&long).unwrap_err().contains("at most 256 nodes"));
        // Each node refers to the one before twice: 2^n leaves.
        let mut doubling = vec![condition("a")];
        for i in 0..40u32 {
            doubling.push(wit::FilterNode::All(vec![i, i]));
        }
        assert_eq!(filter(&doubling).unwrap_err(), "the filter is too complex");
    }
}

mod state {
    //! The StateManager's records, host to guest.
    use crate::domain::state::{Checkpoint, PendingWrite, Thread};
    use crate::wit::bindings::kai::fusion::state as wit;

    impl From<&Thread> for wit::Thread {
        fn from(t: &Thread) -> Self {
            wit::Thread {
                id: t.id.clone(),
                owner: t.owner.clone(),
                metadata: t.metadata.clone(),
                keep_last: t.keep_last,
                head: t.head.as_ref().map(|h| wit::Head {
                    checkpoint_id: h.checkpoint_id.clone(),
                    step: h.step,
                }),
                forked_from: t.forked_from.as_ref().map(|f| wit::CheckpointRef {
                    thread_id: f.thread_id.clone(),
                    checkpoint_id: f.checkpoint_id.clone(),
                }),
                created_at: t.created_at,
                updated_at: t.updated_at,
            }
        }
    }

    impl From<Checkpoint> for wit::Checkpoint {
        fn from(c: Checkpoint) -> Self {
            wit::Checkpoint {
                id: c.id,
                thread_id: c.thread_id,
                parent_id: c.parent_id,
                step: c.step,
                values: c.values,
                metadata: c.metadata,
                created_at: c.created_at,
            }
        }
    }

    impl From<PendingWrite> for wit::PendingWrite {
        fn from(w: PendingWrite) -> Self {
            wit::PendingWrite {
                task: w.task,
                seq: w.seq,
                channel: w.channel,
                value: w.value,
                created_at: w.created_at,
            }
        }
    }
}

mod memory {
    //! The MemoryManager's records, both ways.
    use crate::domain::memory::{
        Message, NewMessage, NewSession, Retention, Role, Session, SessionChange, Summary, Window,
        WindowRequest, WindowSize,
    };
    use crate::wit::bindings::kai::fusion::memory as wit;

    impl From<Role> for wit::Role {
        fn from(role: Role) -> Self {
            match role {
                Role::System => wit::Role::System,
                Role::User => wit::Role::User,
                Role::Assistant => wit::Role::Assistant,
                Role::Tool => wit::Role::Tool,
            }
        }
    }

    impl From<wit::Role> for Role {
        fn from(role: wit::Role) -> Self {
            match role {
                wit::Role::System => Role::System,
                wit::Role::User => Role::User,
                wit::Role::Assistant => Role::Assistant,
                wit::Role::Tool => Role::Tool,
            }
        }
    }

    impl From<Retention> for wit::Retention {
        fn from(r: Retention) -> Self {
            wit::Retention {
                max_messages: r.max_messages,
                max_age_seconds: r.max_age_seconds,
            }
        }
    }

    impl From<wit::Retention> for Retention {
        fn from(r: wit::Retention) -> Self {
            Retention {
                max_messages: r.max_messages,
                max_age_seconds: r.max_age_seconds,
            }
        }
    }

    impl From<Summary> for wit::Summary {
        fn from(s: Summary) -> Self {
            wit::Summary {
                content: s.content,
                through_seq: s.through_seq,
                updated_at: s.updated_at,
            }
        }
    }

    impl From<Session> for wit::Session {
        fn from(s: Session) -> Self {
            wit::Session {
                id: s.id,
                owner: s.owner,
                name: s.name,
                plugin: s.plugin,
                workflow: s.workflow,
                agent: s.agent,
                metadata: s.metadata,
                retention: s.retention.into(),
                summary: s.summary.map(Into::into),
                message_count: s.message_count.max(0) as u64,
                next_seq: s.next_seq,
                created_at: s.created_at,
                updated_at: s.updated_at,
            }
        }
    }

    impl From<Message> for wit::Message {
        fn from(m: Message) -> Self {
            wit::Message {
                session_id: m.session_id,
                seq: m.seq,
                role: m.role.into(),
                content: m.content,
                name: m.name,
                tool_calls: m.tool_calls,
                tool_call_id: m.tool_call_id,
                metadata: m.metadata,
                tokens: m.tokens.clamp(0, i64::from(u32::MAX)) as u32,
                created_at: m.created_at,
            }
        }
    }

    impl From<Window> for wit::Window {
        fn from(w: Window) -> Self {
            wit::Window {
                pinned: w.pinned.map(Into::into),
                summary: w.summary.map(Into::into),
                messages: w.messages.into_iter().map(Into::into).collect(),
                tokens: w.tokens.max(0) as u64,
            }
        }
    }

    impl From<wit::WindowRequest> for WindowRequest {
        fn from(r: wit::WindowRequest) -> Self {
            WindowRequest {
                size: match r.size {
                    wit::WindowSize::Last(n) => WindowSize::Last(n),
                    wit::WindowSize::MaxTokens(n) => WindowSize::Tokens(n),
                },
                pin_system: r.pin_system,
                with_summary: r.with_summary,
            }
        }
    }

    /// A new session as the guest sent it; its JSON is parsed by the caller.
    pub fn new_session(input: wit::NewSession, metadata: Option<serde_json::Value>) -> NewSession {
        NewSession {
            name: Some(input.name),
            workflow: input.workflow,
            agent: input.agent,
            metadata,
            retention: input.retention.into(),
        }
    }

    pub fn session_change(
        change: wit::SessionChange,
        metadata: Option<serde_json::Value>,
    ) -> SessionChange {
        SessionChange {
            name: change.name,
            metadata,
            retention: change.retention.map(Into::into),
        }
    }

    pub fn new_message(
        input: wit::NewMessage,
        tool_calls: Option<serde_json::Value>,
        metadata: Option<serde_json::Value>,
    ) -> NewMessage {
        NewMessage {
            role: Role::from(input.role).as_str().to_string(),
            content: input.content,
            name: input.name,
            tool_calls,
            tool_call_id: input.tool_call_id,
            metadata,
            tokens: input.tokens,
        }
    }
}
pub use memory::{new_message, new_session, session_change};
