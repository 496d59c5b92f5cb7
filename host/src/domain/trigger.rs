//! Workflow triggers: what starts a workflow's runs besides a request.
//!
//! - `event`: a core event of a document in one collection
//!   (`document.created`, `document.updated`, `document.deleted`); the run
//!   is queued in the transaction of the change, so a change that is kept
//!   starts its runs exactly once. Changes that a run's own steps make
//!   trigger nothing, so a workflow cannot feed itself.
//! - `schedule`: a cron expression in UTC (five fields, or six with
//!   seconds first). A tick missed while no server ran runs once on start,
//!   not once per missed tick.
//! - `webhook`: `POST /api/v1/hooks/{workflow}/{secret}`, public; the
//!   secret is shown once and only its hash is kept.
//!
//! Each run's input says what started it: `{"trigger": "event", "event",
//! "document", "old"}`, `{"trigger": "schedule", "scheduled_at"}` or
//! `{"trigger": "webhook", "body"}`.

use super::EventKind;
use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

/// Most triggers one workflow may have.
pub const MAX_TRIGGERS: usize = 20;

/// The events a trigger may wait for.
pub const TRIGGER_EVENTS: [EventKind; 3] = [
    EventKind::DocumentCreated,
    EventKind::DocumentUpdated,
    EventKind::DocumentDeleted,
];

/// One trigger of a workflow, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    Event {
        event: EventKind,
        collection_id: String,
    },
    Schedule {
        cron: String,
    },
    Webhook,
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Event { .. } => "event",
            Trigger::Schedule { .. } => "schedule",
            Trigger::Webhook => "webhook",
        }
    }
}

/// A trigger as a request gives it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct TriggerSpec {
    pub kind: String,
    pub event: Option<String>,
    pub collection_id: Option<String>,
    pub cron: Option<String>,
}

/// Why a trigger was refused: the field (`triggers[2].cron`) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerError {
    pub field: String,
    pub message: String,
}

/// `specs` checked: known types with the fields each needs and no other,
/// events a trigger may wait for, cron expressions that parse, at most one
/// webhook and [`MAX_TRIGGERS`] in all. Collections are the services' to
/// check (they must be visible to the workflow's owner).
pub fn check(specs: &[TriggerSpec]) -> Result<Vec<Trigger>, TriggerError> {
    if specs.len() > MAX_TRIGGERS {
        return Err(TriggerError {
            field: "triggers".into(),
            message: format!("at most {MAX_TRIGGERS}, got {}", specs.len()),
        });
    }
    let mut triggers = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let error = |field: &str, message: String| TriggerError {
            field: if field.is_empty() {
                format!("triggers[{i}]")
            } else {
                format!("triggers[{i}].{field}")
            },
            message,
        };
        let allowed: &[&str] = match spec.kind.as_str() {
            "event" => &["event", "collection_id"],
            "schedule" => &["cron"],
            "webhook" => &[],
            other => {
                return Err(error(
                    "type",
                    format!("unknown trigger type `{other}`; use event, schedule or webhook"),
                ));
            }
        };
        for (name, given) in [
            ("event", spec.event.is_some()),
            ("collection_id", spec.collection_id.is_some()),
            ("cron", spec.cron.is_some()),
        ] {
            if given && !allowed.contains(&name) {
                return Err(error(
                    name,
                    format!("is not a field of a {} trigger", spec.kind),
                ));
            }
            if !given && allowed.contains(&name) {
                return Err(error(
                    name,
                    format!("is required by a {} trigger", spec.kind),
                ));
            }
        }
        let trigger = match spec.kind.as_str() {
            "event" => {
                let name = spec.event.as_deref().unwrap_or_default();
                let event = EventKind::parse(name)
                    .filter(|kind| TRIGGER_EVENTS.contains(kind))
                    .ok_or_else(|| {
                        error(
                            "event",
                            format!(
                                "`{name}` is not an event a workflow may wait for; use one of {}",
                                TRIGGER_EVENTS.map(EventKind::as_str).join(", ")
                            ),
                        )
                    })?;
                Trigger::Event {
                    event,
                    collection_id: spec.collection_id.clone().unwrap_or_default(),
                }
            }
            "schedule" => {
                let cron = spec.cron.as_deref().unwrap_or_default().trim().to_string();
                parse_cron(&cron).map_err(|message| error("cron", message))?;
                Trigger::Schedule { cron }
            }
            _ => {
                if triggers.contains(&Trigger::Webhook) {
                    return Err(error("", "a workflow has at most one webhook".into()));
                }
                Trigger::Webhook
            }
        };
        triggers.push(trigger);
    }
    Ok(triggers)
}

/// A cron expression in UTC: five fields (minute hour day-of-month month
/// day-of-week), or six with seconds first; the reason when it is none.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .map_err(|e| format!("`{text}` is not a cron expression: {e}"))
}

/// The first tick of `cron` strictly after `after` (microseconds since the
/// epoch), if it has one.
pub fn next_tick(cron: &Cron, after: i64) -> Option<i64> {
    // Whole seconds: croner keeps the fraction of the time it starts from.
    let after = DateTime::<Utc>::from_timestamp(after.div_euclid(1_000_000), 0)?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|at| at.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str) -> TriggerSpec {
        TriggerSpec {
            kind: kind.into(),
            ..TriggerSpec::default()
        }
    }

    #[test]
    fn triggers_are_checked_field_by_field() {
        let event = TriggerSpec {
            event: Some("document.created".into()),
            collection_id: Some("c".into()),
            ..spec("event")
        };
        let schedule = TriggerSpec {
            cron: Some("*/5 * * * *".into()),
            ..spec("schedule")
        };
        let checked = check(&[event.clone(), schedule, spec("webhook")]).unwrap();
        assert_eq!(checked[0].kind(), "event");
        assert_eq!(checked[2], Trigger::Webhook);

        let refused = |specs: &[TriggerSpec]| check(specs).unwrap_err();
        let e = refused(&[spec("webhook"), spec("webhook")]);
        assert_eq!(e.field, "triggers[1]");
        let e = refused(&[TriggerSpec {
            cron: Some("61 * * * *".into()),
            ..spec("schedule")
        }]);
        assert_eq!(e.field, "triggers[0].cron");
        let e = refused(&[TriggerSpec {
            event: Some("collection.created".into()),
            ..event.clone()
        }]);
        assert!(e.message.contains("document.created"), "{}", e.message);
        let e = refused(&[TriggerSpec {
            cron: Some("* * * * *".into()),
            ..event
        }]);
        assert_eq!(e.field, "triggers[0].cron");
        assert_eq!(refused(&[spec("email")]).field, "triggers[0].type");
        assert_eq!(refused(&[spec("schedule")]).field, "triggers[0].cron");
    }

    #[test]
    fn the_next_tick_is_strictly_after() {
        let cron = parse_cron("0 * * * *").unwrap();
        let hour = 3_600_000_000;
        assert_eq!(next_tick(&cron, 5 * hour), Some(6 * hour));
        assert_eq!(next_tick(&cron, 5 * hour + 1), Some(6 * hour));
        let every_second = parse_cron("* * * * * *").unwrap();
        assert_eq!(next_tick(&every_second, 0), Some(1_000_000));
    }
}
