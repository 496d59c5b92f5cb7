//! Migration plans: what must change in the database to go from the models
//! a plugin's installed version declared to those of a new version.
//!
//! Additive steps (a new model, a new nullable or defaulted field, a new or
//! dropped index, a changed default) apply by themselves. Destructive steps
//! (dropping a model or a field, changing a field's type) lose data, so they
//! are refused unless the plugin's major version grew, and even then run
//! only when the operator confirms. Changes the host cannot make safely on
//! both backends (nullability of an existing field) are refused outright,
//! with the way forward in the message.

use super::definition::{FieldDef, IndexDef, ModelDef};
use semver::Version;
use serde::Serialize;

/// One change to the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    CreateTable {
        model: String,
    },
    DropTable {
        model: String,
    },
    AddColumn {
        model: String,
        field: String,
    },
    DropColumn {
        model: String,
        field: String,
    },
    RetypeColumn {
        model: String,
        field: String,
        from: String,
        to: String,
    },
    ChangeDefault {
        model: String,
        field: String,
    },
    CreateIndex {
        model: String,
        index: IndexDef,
    },
    DropIndex {
        model: String,
        index: IndexDef,
    },
}

impl Step {
    /// Whether the step can lose data.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Step::DropTable { .. } | Step::DropColumn { .. } | Step::RetypeColumn { .. }
        )
    }
}

/// Everything that changes, in the order it will be applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MigrationPlan {
    pub steps: Vec<Step>,
    pub destructive: bool,
}

/// Why a plan may not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "the migration is destructive ({steps}); destructive changes need a new major version, but {from} -> {to} is not one"
    )]
    DestructiveWithoutMajor {
        steps: String,
        from: String,
        to: String,
    },
    #[error(
        "the migration is destructive ({steps}); it loses data, so it runs only when confirmed: \
         `kai plugin install --confirm-destructive`, or `?confirm_destructive=true` on the admin API"
    )]
    NeedsConfirmation { steps: String },
}

impl MigrationPlan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Checks the rules for running this plan when upgrading `from` -> `to`.
    pub fn check(
        &self,
        from: Option<&Version>,
        to: &Version,
        confirmed: bool,
    ) -> Result<(), PlanError> {
        if !self.destructive {
            return Ok(());
        }
        let steps = self
            .steps
            .iter()
            .filter(|s| s.is_destructive())
            .map(describe)
            .collect::<Vec<_>>()
            .join("; ");
        let major_bump = from.is_none_or(|from| to.major > from.major);
        if !major_bump {
            return Err(PlanError::DestructiveWithoutMajor {
                steps,
                from: from.map(ToString::to_string).unwrap_or_default(),
                to: to.to_string(),
            });
        }
        if !confirmed {
            return Err(PlanError::NeedsConfirmation { steps });
        }
        Ok(())
    }
}

/// A human description of a step.
pub fn describe(step: &Step) -> String {
    match step {
        Step::CreateTable { model } => format!("create model `{model}`"),
        Step::DropTable { model } => format!("drop model `{model}` and its data"),
        Step::AddColumn { model, field } => format!("add field `{model}.{field}`"),
        Step::DropColumn { model, field } => format!("drop field `{model}.{field}` and its data"),
        Step::RetypeColumn {
            model,
            field,
            from,
            to,
        } => {
            format!("change `{model}.{field}` from {from} to {to} (its values are lost)")
        }
        Step::ChangeDefault { model, field } => format!("change the default of `{model}.{field}`"),
        Step::CreateIndex { model, index } => format!(
            "create {}index on `{model}` ({})",
            if index.unique { "unique " } else { "" },
            index.fields.join(", ")
        ),
        Step::DropIndex { model, index } => {
            format!("drop index on `{model}` ({})", index.fields.join(", "))
        }
    }
}

/// The steps from `old` to `new` models of one plugin.
pub fn diff(old: &[ModelDef], new: &[ModelDef]) -> Result<MigrationPlan, PlanError> {
    let mut steps = Vec::new();
    for model in new {
        match old.iter().find(|m| m.name == model.name) {
            None => {
                steps.push(Step::CreateTable {
                    model: model.name.clone(),
                });
                for index in model.all_indexes() {
                    steps.push(Step::CreateIndex {
                        model: model.name.clone(),
                        index,
                    });
                }
            }
            Some(previous) => diff_model(previous, model, &mut steps)?,
        }
    }
    for model in old {
        if !new.iter().any(|m| m.name == model.name) {
            steps.push(Step::DropTable {
                model: model.name.clone(),
            });
        }
    }
    let destructive = steps.iter().any(Step::is_destructive);
    Ok(MigrationPlan { steps, destructive })
}

fn diff_model(old: &ModelDef, new: &ModelDef, steps: &mut Vec<Step>) -> Result<(), PlanError> {
    let model = || new.name.clone();
    let old_indexes = old.all_indexes();
    let new_indexes = new.all_indexes();
    let mut changed_columns: Vec<&str> = Vec::new();
    let mut columns = Vec::new();

    for field in &new.fields {
        match old.field(&field.name) {
            None => {
                if !field.nullable && field.default.is_none() {
                    return Err(PlanError::Unsupported(format!(
                        "new field `{}.{}` must be nullable or have a default, since existing rows need a value",
                        new.name, field.name
                    )));
                }
                columns.push(Step::AddColumn {
                    model: model(),
                    field: field.name.clone(),
                });
            }
            Some(previous) => {
                if previous.ty != field.ty {
                    changed_columns.push(&field.name);
                    if !field.nullable && field.default.is_none() {
                        return Err(PlanError::Unsupported(format!(
                            "field `{}.{}` changes type; give it a default or make it nullable so existing rows get a value",
                            new.name, field.name
                        )));
                    }
                    columns.push(Step::RetypeColumn {
                        model: model(),
                        field: field.name.clone(),
                        from: previous.ty.name().into(),
                        to: field.ty.name().into(),
                    });
                    continue;
                }
                if previous.nullable != field.nullable {
                    return Err(PlanError::Unsupported(format!(
                        "field `{}.{}` changes nullability, which cannot be migrated in place; add a new field instead",
                        new.name, field.name
                    )));
                }
                if previous.default != field.default {
                    columns.push(Step::ChangeDefault {
                        model: model(),
                        field: field.name.clone(),
                    });
                }
            }
        }
    }
    let dropped: Vec<&FieldDef> = old
        .fields
        .iter()
        .filter(|f| new.field(&f.name).is_none())
        .collect();
    // Indexes go first (a column in an index cannot be dropped), then
    // columns, then the new indexes.
    let touches = |index: &IndexDef| {
        index
            .fields
            .iter()
            .any(|f| changed_columns.contains(&f.as_str()) || dropped.iter().any(|d| d.name == *f))
    };
    for index in &old_indexes {
        if !new_indexes.contains(index) || touches(index) {
            steps.push(Step::DropIndex {
                model: model(),
                index: index.clone(),
            });
        }
    }
    for field in &dropped {
        steps.push(Step::DropColumn {
            model: model(),
            field: field.name.clone(),
        });
    }
    steps.append(&mut columns);
    for index in &new_indexes {
        if !old_indexes.contains(index) || touches(index) {
            steps.push(Step::CreateIndex {
                model: model(),
                index: index.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query::schema::ColumnType;

    fn field(name: &str, ty: ColumnType, nullable: bool) -> FieldDef {
        FieldDef {
            name: name.into(),
            ty,
            nullable,
            unique: false,
            indexed: false,
            default: None,
            references: None,
        }
    }

    fn model(fields: Vec<FieldDef>) -> ModelDef {
        ModelDef {
            name: "item".into(),
            fields,
            indexes: vec![],
            exported: false,
            owned: false,
        }
    }

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn a_new_model_is_created_with_its_indexes() {
        let mut name = field("name", ColumnType::String, false);
        name.indexed = true;
        let plan = diff(&[], &[model(vec![name])]).unwrap();
        assert!(!plan.destructive);
        assert!(matches!(plan.steps[0], Step::CreateTable { .. }));
        assert!(matches!(plan.steps[1], Step::CreateIndex { .. }));
    }

    #[test]
    fn adding_nullable_or_defaulted_fields_is_additive() {
        let old = model(vec![field("name", ColumnType::String, false)]);
        let mut with_default = field("qty", ColumnType::Int, false);
        with_default.default = Some(serde_json::json!(0));
        let new = model(vec![
            field("name", ColumnType::String, false),
            field("color", ColumnType::String, true),
            with_default,
        ]);
        let plan = diff(&[old], &[new]).unwrap();
        assert!(!plan.destructive);
        assert_eq!(plan.steps.len(), 2);
        assert!(plan.check(Some(&v("1.0.0")), &v("1.1.0"), false).is_ok());
    }

    #[test]
    fn a_required_field_without_default_cannot_be_added() {
        let old = model(vec![field("name", ColumnType::String, false)]);
        let new = model(vec![
            field("name", ColumnType::String, false),
            field("qty", ColumnType::Int, false),
        ]);
        let error = diff(&[old], &[new]).unwrap_err();
        assert!(error.to_string().contains("item.qty"), "{error}");
    }

    #[test]
    fn dropping_or_retyping_is_destructive_and_needs_a_major_version_and_confirmation() {
        let old = model(vec![
            field("name", ColumnType::String, false),
            field("qty", ColumnType::Int, true),
        ]);
        let dropped = model(vec![field("name", ColumnType::String, false)]);
        let plan = diff(std::slice::from_ref(&old), &[dropped]).unwrap();
        assert!(plan.destructive);
        let minor = plan
            .check(Some(&v("1.1.0")), &v("1.2.0"), true)
            .unwrap_err();
        assert!(
            matches!(minor, PlanError::DestructiveWithoutMajor { .. }),
            "{minor}"
        );
        let unconfirmed = plan
            .check(Some(&v("1.1.0")), &v("2.0.0"), false)
            .unwrap_err();
        assert!(
            matches!(unconfirmed, PlanError::NeedsConfirmation { .. }),
            "{unconfirmed}"
        );
        assert!(plan.check(Some(&v("1.1.0")), &v("2.0.0"), true).is_ok());

        let retyped = model(vec![
            field("name", ColumnType::String, false),
            field("qty", ColumnType::Float, true),
        ]);
        let plan = diff(std::slice::from_ref(&old), &[retyped]).unwrap();
        assert!(plan.destructive);
        assert!(matches!(plan.steps[0], Step::RetypeColumn { .. }));

        let plan = diff(&[old], &[]).unwrap();
        assert!(matches!(plan.steps[0], Step::DropTable { .. }));
    }

    #[test]
    fn indexes_on_dropped_fields_are_dropped_first() {
        let mut qty = field("qty", ColumnType::Int, true);
        qty.indexed = true;
        let old = model(vec![field("name", ColumnType::String, false), qty]);
        let new = model(vec![field("name", ColumnType::String, false)]);
        let plan = diff(&[old], &[new]).unwrap();
        assert!(matches!(plan.steps[0], Step::DropIndex { .. }));
        assert!(matches!(plan.steps[1], Step::DropColumn { .. }));
    }

    #[test]
    fn nullability_changes_are_refused_with_the_way_forward() {
        let old = model(vec![field("name", ColumnType::String, false)]);
        let new = model(vec![field("name", ColumnType::String, true)]);
        let error = diff(&[old], &[new]).unwrap_err();
        assert!(
            error.to_string().contains("add a new field instead"),
            "{error}"
        );
    }
}
