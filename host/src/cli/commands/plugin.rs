//! `kai plugin ...`: calls the admin API of a running server and prints a
//! summary of its answer (`--json` prints the answer itself).
//!
//! Exit codes: 0 done; 1 refused or failed (the server's message, with the
//! flag that would change its mind where there is one); 3 installed but
//! waiting for an operator's grant.

use super::admin_api::{refusal, token};
use crate::cli::{Exit, PluginArgs, PluginCommand, RemoteArgs};
use anyhow::Context;
use serde_json::Value;

pub async fn plugin(remote: RemoteArgs, args: PluginArgs) -> anyhow::Result<()> {
    match &args.command {
        PluginCommand::Build { dir } => return super::build::build(dir, args.json).await,
        PluginCommand::New { name, dir, sdk } => return super::new::new(name, dir, sdk.as_deref()),
        PluginCommand::Dev { dir } => return super::dev::dev(&remote, dir).await,
        _ => {}
    }
    let token = token(&remote)?;
    let base = format!(
        "{}/api/v1/admin/plugins",
        remote.server.trim_end_matches('/')
    );
    let client = reqwest::Client::new();
    let request = match &args.command {
        PluginCommand::Install {
            file,
            force,
            confirm_destructive,
            component,
        } => {
            let wasm =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let mut query = vec![
                ("force", force.to_string()),
                ("confirm_destructive", confirm_destructive.to_string()),
            ];
            query.extend(component.query());
            client
                .post(&base)
                .query(&query)
                .header("content-type", "application/wasm")
                .body(wasm)
        }
        PluginCommand::Build { .. } | PluginCommand::New { .. } | PluginCommand::Dev { .. } => {
            unreachable!("handled above")
        }
        PluginCommand::List => client.get(&base),
        PluginCommand::Show { name } => client.get(format!("{base}/{name}")),
        PluginCommand::Rollback { name } => client.post(format!("{base}/{name}/rollback")),
        PluginCommand::Remove { name, purge } => {
            client.delete(format!("{base}/{name}?purge={purge}"))
        }
        PluginCommand::Grant { name } => client
            .post(format!("{base}/{name}/grants"))
            .json(&serde_json::json!({ "accept_requested": true })),
        PluginCommand::Disable { name } => client.post(format!("{base}/{name}/disable")),
        PluginCommand::Enable { name } => client.post(format!("{base}/{name}/enable")),
    };
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("calling the server at {}", remote.server))?;
    let status = response.status();
    let text = response.text().await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(refusal(status, &body, &text));
    }
    if args.json {
        if !body.is_null() {
            println!(
                "{}",
                serde_json::to_string_pretty(&body).expect("JSON prints")
            );
        }
    } else {
        print!("{}", summary(&args.command, &body));
    }
    match (&args.command, body["status"].as_str()) {
        (PluginCommand::Install { .. }, Some("awaiting_grant")) => {
            Err(Exit::AwaitingGrant(body["name"].as_str().unwrap_or_default().to_string()).into())
        }
        _ => Ok(()),
    }
}

/// A readable summary of an answer.
fn summary(command: &PluginCommand, body: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    match command {
        PluginCommand::Build { .. } | PluginCommand::New { .. } | PluginCommand::Dev { .. } => {
            unreachable!("handled above")
        }
        PluginCommand::List => list_table(body),
        PluginCommand::Show { .. } => show(body),
        PluginCommand::Install { .. } => {
            let mut out = format!(
                "{} {} {}",
                text(&body["action"]).replace('_', " "),
                text(&body["name"]),
                text(&body["version"])
            );
            if let Some(previous) = body["previous_version"].as_str() {
                out.push_str(&format!(" (was {previous})"));
            }
            if let Some(mount) = body["manifest"]["mount"]["mount"].as_str() {
                out.push_str(&format!(", mounted at {mount}"));
            }
            out.push('\n');
            if body["status"] == "awaiting_grant" {
                out.push_str(&format!(
                    "it waits for a grant of: {}\n",
                    grant_summary(&body["missing"])
                ));
            }
            out
        }
        PluginCommand::Grant { .. } => format!(
            "{} {} is active with: {}\n",
            text(&body["name"]),
            text(&body["version"]),
            grant_summary(&body["granted"])
        ),
        PluginCommand::Rollback { .. } => format!(
            "rolled back {} to {}\n",
            text(&body["name"]),
            text(&body["version"])
        ),
        PluginCommand::Remove { name, .. } => format!("removed {name}\n"),
        PluginCommand::Disable { name } => format!("disabled {name}\n"),
        PluginCommand::Enable { name } => format!("enabled {name}\n"),
    }
}

/// What runs, and what waits for a grant.
fn list_table(body: &Value) -> String {
    let empty = Vec::new();
    let array = |v: &Value| v.as_array().unwrap_or(&empty).clone();
    let mut rows = vec![[
        "NAME".to_string(),
        "VERSION".to_string(),
        "STATUS".to_string(),
        "ROUTES".to_string(),
        "SOURCE".to_string(),
    ]];
    for plugin in array(&body["plugins"]) {
        rows.push([
            plugin["name"].as_str().unwrap_or("-").to_string(),
            plugin["version"].as_str().unwrap_or("-").to_string(),
            plugin["status"].as_str().unwrap_or("-").to_string(),
            array(&plugin["routes"]).len().to_string(),
            source_name(&plugin["source"]),
        ]);
    }
    for pending in array(&body["pending"]) {
        rows.push([
            pending["name"].as_str().unwrap_or("-").to_string(),
            pending["version"].as_str().unwrap_or("-").to_string(),
            "awaiting grant".to_string(),
            "-".to_string(),
            source_name(&pending["source"]),
        ]);
    }
    let mut out = table(&rows);
    for pending in array(&body["pending"]) {
        out.push_str(&format!(
            "\n{} waits for a grant of: {} (kai plugin grant {})\n",
            pending["name"].as_str().unwrap_or("-"),
            grant_summary(&pending["missing"]),
            pending["name"].as_str().unwrap_or("-"),
        ));
    }
    for refused in array(&body["refused"]) {
        out.push_str(&format!(
            "\nrefused at start: {}: {}\n",
            refused["origin"].as_str().unwrap_or("-"),
            refused["error"].as_str().unwrap_or("-"),
        ));
    }
    out
}

/// One plugin: what it is, its routes and its history.
fn show(body: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::new();
    for (label, key) in [
        ("name", "name"),
        ("version", "version"),
        ("status", "status"),
        ("kind", "kind"),
        ("mount", "mount"),
        ("description", "description"),
        ("host api", "host_api"),
        ("sha256", "sha256"),
    ] {
        if !body[key].is_null() {
            out.push_str(&format!("{label:<12} {}\n", text(&body[key])));
        }
    }
    if !body["source"].is_null() {
        out.push_str(&format!(
            "{:<12} {}\n",
            "source",
            source_name(&body["source"])
        ));
    }
    if !body["granted"].is_null() {
        out.push_str(&format!(
            "{:<12} {}\n",
            "granted",
            grant_summary(&body["granted"])
        ));
    }
    if let Some(routes) = body["routes"].as_array() {
        out.push_str("routes:\n");
        for route in routes {
            out.push_str(&format!(
                "  {:<7} {}{}\n",
                text(&route["method"]),
                text(&route["path"]),
                if route["public"] == true {
                    " (public)"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(history) = body["history"].as_array() {
        out.push_str("history:\n");
        for event in history {
            out.push_str(&format!(
                "  {} {} {} -> {} by {}\n",
                text(&event["at"]),
                text(&event["action"]),
                text(&event["from_version"]),
                text(&event["to_version"]),
                text(&event["actor"]),
            ));
        }
    }
    out
}

/// Where a plugin came from, in a word.
fn source_name(source: &Value) -> String {
    match source {
        Value::String(s) => s.clone(),
        Value::Object(map) => map
            .get("kind")
            .or_else(|| map.keys().next().and_then(|k| map.get(k)))
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string(),
        _ => "-".to_string(),
    }
}

/// A grant as a list of what it holds: `kv, outbound hosts [...]`.
fn grant_summary(grant: &Value) -> String {
    let Some(map) = grant.as_object() else {
        return "nothing".into();
    };
    let parts: Vec<String> = map
        .iter()
        .filter_map(|(key, value)| match value {
            Value::Bool(true) => Some(key.replace('_', " ")),
            Value::Array(items) if !items.is_empty() => {
                let items: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => s.clone(),
                        Value::Object(o) => format!(
                            "{}{}",
                            o.get("model").and_then(Value::as_str).unwrap_or("?"),
                            if o.get("write") == Some(&Value::Bool(true)) {
                                " (write)"
                            } else {
                                ""
                            }
                        ),
                        other => other.to_string(),
                    })
                    .collect();
                Some(format!("{} [{}]", key.replace('_', " "), items.join(", ")))
            }
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// Rows as aligned columns.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_list_is_a_table_of_what_runs_and_what_waits() {
        let body = json!({
            "plugins": [{"name": "hello", "version": "1.0.0", "status": "active",
                         "routes": [{}, {}], "source": "bundled"}],
            "pending": [{"name": "probe", "version": "0.2.0", "source": "upload",
                         "missing": {"kv": true, "outbound_hosts": ["https://x.test:443"]}}],
            "refused": [{"origin": "directory: bad.wasm", "error": "not a component"}],
        });
        let text = list_table(&body);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME   VERSION  STATUS          ROUTES  SOURCE");
        assert_eq!(lines[1], "hello  1.0.0    active          2       bundled");
        assert_eq!(lines[2], "probe  0.2.0    awaiting grant  -       upload");
        assert!(text.contains(
            "probe waits for a grant of: kv, outbound hosts [https://x.test:443] (kai plugin grant probe)"
        ));
        assert!(text.contains("refused at start: directory: bad.wasm: not a component"));
    }
}
