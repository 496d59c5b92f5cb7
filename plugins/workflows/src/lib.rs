//! The first-party plugin behind the workflow nodes that compute: jq
//! expressions (the jaq crates) run here, in the sandbox, under the
//! plugin's deadline and memory limit, never in the host.
//!
//! - `transform` (`{"expression": ".a | {b: .}"}`): the expression's output
//!   for the step's input. No output gives `null`, one gives itself,
//!   several give an array of them.
//! - `choose` (`{"conditions": [".n > 1", ...]}`): which condition first
//!   holds for the input (jq's truth: all but `false` and `null`), as
//!   `{"index": n}`, or `{"index": null}` when none does. The runner asks
//!   it to pick a branch's or a loop's way on.
//! - `render` (`{"template": <any JSON>}`): the template with every string
//!   in it rendered as a MiniJinja template whose variables are the step's
//!   input (an object: the runner gives `{"input": <the node's input>,
//!   "run": <the execution's input>}`), bounded by fuel. The runner renders
//!   the config of `http`, `memory.append` and `document.*` nodes with it.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use kai_sdk::prelude::*;
use serde_json::{Value as Json, json};

/// The plugin: its two node kinds.
pub fn plugin() -> Plugin {
    Plugin::new("workflows", env!("CARGO_PKG_VERSION"))
        .description("Runs the workflow nodes that compute: jq transforms and conditions")
        .node(
            NodeKind::new("transform")
                .summary("The output of a jq expression for the step's input")
                .config_schema(json!({
                    "type": "object",
                    "properties": {"expression": {"type": "string", "minLength": 1}},
                    "required": ["expression"]
                })),
            transform,
        )
        .node(
            NodeKind::new("choose")
                .summary("The index of the first jq condition that holds for the input")
                .config_schema(json!({
                    "type": "object",
                    "properties": {
                        "conditions": {"type": "array", "items": {"type": "string", "minLength": 1}}
                    },
                    "required": ["conditions"]
                })),
            choose,
        )
        .node(
            NodeKind::new("render")
                .summary("The config's `template` with its strings rendered from the input")
                .config_schema(json!({
                    "type": "object",
                    "required": ["template"]
                })),
            render,
        )
}

/// Template instructions one render may spend: far more than any request
/// template needs, far less than a loop that would hold the step to its
/// deadline.
const RENDER_FUEL: u64 = 1_000_000;

fn render(step: &NodeRequest) -> NodeResult {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(RENDER_FUEL));
    let context = minijinja::Value::from(minijinja::value::Serde(&step.input));
    fill(&env, &step.config["template"], &context)
}

/// `value` with each string that holds a template rendered.
fn fill(env: &minijinja::Environment, value: &Json, context: &minijinja::Value) -> NodeResult {
    Ok(match value {
        Json::String(text) if text.contains("{{") || text.contains("{%") => Json::String(
            env.render_str(text, context.clone())
                .map_err(|e| NodeError::failed(format!("the template `{text}` failed: {e}")))?,
        ),
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|item| fill(env, item, context))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), fill(env, v, context)?)))
                .collect::<Result<_, NodeError>>()?,
        ),
        other => other.clone(),
    })
}

fn transform(step: &NodeRequest) -> NodeResult {
    let expression = config_text(&step.config, "expression")?;
    let outputs = run(expression, &step.input)?;
    Ok(match outputs.len() {
        0 => Json::Null,
        1 => outputs.into_iter().next().unwrap_or(Json::Null),
        _ => Json::Array(outputs),
    })
}

fn choose(step: &NodeRequest) -> NodeResult {
    let conditions = step.config["conditions"]
        .as_array()
        .ok_or_else(|| NodeError::failed("config.conditions must be an array of jq expressions"))?;
    for (index, condition) in conditions.iter().enumerate() {
        let condition = condition
            .as_str()
            .ok_or_else(|| NodeError::failed(format!("config.conditions[{index}] must be text")))?;
        let holds = run(condition, &step.input)?
            .first()
            .is_some_and(|value| !matches!(value, Json::Null | Json::Bool(false)));
        if holds {
            return Ok(json!({ "index": index }));
        }
    }
    Ok(json!({ "index": null }))
}

fn config_text<'a>(config: &'a Json, name: &str) -> Result<&'a str, NodeError> {
    config[name]
        .as_str()
        .ok_or_else(|| NodeError::failed(format!("config.{name} must be a jq expression")))
}

/// Every output of `code` for `input`; a jq error fails the step (it would
/// fail the same way again).
fn run(code: &str, input: &Json) -> Result<Vec<Json>, NodeError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|_| NodeError::failed(format!("`{code}` does not parse as a jq expression")))?;
    let funs = jaq_core::funs::<data::JustLut<Val>>()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|_| NodeError::failed(format!("`{code}` does not compile as a jq expression")))?;
    let input = jaq_json::read::parse_single(input.to_string().as_bytes())
        .map_err(|e| NodeError::failed(format!("the input is not JSON: {e}")))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    filter
        .id
        .run((ctx, input))
        .map(unwrap_valr)
        .map(|output| {
            let output = output.map_err(|e| NodeError::failed(format!("`{code}` failed: {e}")))?;
            serde_json::from_str(&output.to_string()).map_err(|_| {
                NodeError::failed(format!("`{code}` gave a value that is not JSON: {output}"))
            })
        })
        .collect()
}

kai_sdk::plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kind: &str, config: Json, input: Json) -> NodeRequest {
        NodeRequest {
            kind: kind.into(),
            config,
            input,
            execution_id: "e".into(),
            node_id: "n".into(),
            attempt: 1,
            idempotency_key: "k".into(),
            principal: None,
            request_id: "r".into(),
            received_at: 0,
        }
    }

    #[test]
    fn transforms_give_none_one_or_many_outputs() {
        let plugin = plugin();
        let run = |expression: &str, input: Json| {
            plugin.run_node(&step("transform", json!({"expression": expression}), input))
        };
        assert_eq!(run("{b: .a}", json!({"a": 1})), Ok(json!({"b": 1})));
        assert_eq!(run("empty", json!(1)), Ok(Json::Null));
        assert_eq!(run(".[]", json!([1, 2])), Ok(json!([1, 2])));
        assert_eq!(
            run(".s | ascii_upcase", json!({"s": "ab"})),
            Ok(json!("AB"))
        );
        let Err(NodeError::Failed(message)) = run(".a + 1", json!({"a": "x"})) else {
            panic!("adding text to a number must fail");
        };
        assert!(message.contains("failed"), "{message}");
    }

    #[test]
    fn render_fills_every_template_string_and_stops_an_endless_one() {
        let plugin = plugin();
        let render = |template: Json, input: Json| {
            plugin.run_node(&step("render", json!({ "template": template }), input))
        };
        assert_eq!(
            render(
                json!({ "url": "https://x/{{ input.id }}", "body": { "q": ["{{ input.q | upper }}", 3] } }),
                json!({ "input": { "id": 7, "q": "hi" } })
            ),
            Ok(json!({ "url": "https://x/7", "body": { "q": ["HI", 3] } }))
        );
        let Err(NodeError::Failed(message)) = render(
            json!(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
            ),
            json!(null),
        ) else {
            panic!("fuel must stop a template that never ends");
        };
        assert!(message.contains("failed"), "{message}");
    }

    #[test]
    fn choose_gives_the_first_condition_that_holds() {
        let plugin = plugin();
        let choose = |input: Json| {
            plugin.run_node(&step(
                "choose",
                json!({"conditions": [".n > 10", ".n > 1", "null"]}),
                input,
            ))
        };
        assert_eq!(choose(json!({"n": 20})), Ok(json!({"index": 0})));
        assert_eq!(choose(json!({"n": 5})), Ok(json!({"index": 1})));
        assert_eq!(choose(json!({"n": 0})), Ok(json!({"index": null})));
    }
}
