//! Load from `wrk` (Debian's package), when installed: a C load generator
//! costs the measured server less CPU than ours on a 2-core machine. Falls
//! back to [`crate::load`] when `wrk` is not on the PATH.

use crate::load::{self, Stats};
use std::process::Command;
use std::time::Duration;

/// Whether `wrk` can be used.
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// GETs `url` (with an optional bearer token) from `connections`
/// connections for `seconds`, after a one-second warm-up.
pub async fn get(
    url: &str,
    token: Option<&str>,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Stats> {
    if !available() {
        let (client, url, token) = (
            reqwest::Client::new(),
            url.to_string(),
            token.map(str::to_string),
        );
        return Ok(load::run(
            connections,
            Duration::from_secs(1),
            Duration::from_secs(seconds),
            move |_, _| {
                let mut request = client.get(&url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
            },
        )
        .await);
    }
    let url = url.to_string();
    let token = token.map(str::to_string);
    let output = tokio::task::spawn_blocking(move || {
        let run = |secs: u64| {
            let mut command = Command::new("wrk");
            command
                .args([
                    "-t1",
                    &format!("-c{connections}"),
                    &format!("-d{secs}s"),
                    "--latency",
                ])
                .arg(&url);
            if let Some(token) = &token {
                command.args(["-H", &format!("Authorization: Bearer {token}")]);
            }
            command.output()
        };
        run(1)?; // warm-up
        run(seconds)
    })
    .await??;
    parse(&String::from_utf8_lossy(&output.stdout), seconds)
}

/// Reads requests per second, p50, p99 and errors from wrk's report.
fn parse(report: &str, seconds: u64) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    for line in report.lines().map(str::trim) {
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            stats.per_second = rate.trim().parse()?;
        } else if let Some(latency) = line.strip_prefix("50%") {
            stats.p50_us = micros(latency.trim());
        } else if let Some(latency) = line.strip_prefix("99%") {
            stats.p99_us = micros(latency.trim());
        } else if let Some(errors) = line.strip_prefix("Non-2xx or 3xx responses:") {
            stats.errors += errors.trim().parse::<u64>().unwrap_or(0);
        } else if line.starts_with("Socket errors:") {
            stats.errors += line
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    anyhow::ensure!(
        stats.per_second > 0.0,
        "wrk reported nothing over {seconds} s:\n{report}"
    );
    Ok(stats)
}

/// `1.23ms`, `850.00us` or `1.02s` in microseconds.
fn micros(text: &str) -> u64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let value: f64 = number.parse().unwrap_or(0.0);
    (match unit {
        "us" => value,
        "ms" => value * 1_000.0,
        "s" => value * 1_000_000.0,
        _ => value,
    }) as u64
}

/// Runs a wrk Lua `script` (which builds each request) against `base`.
pub async fn script(
    base: &str,
    script: &std::path::Path,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Stats> {
    anyhow::ensure!(
        available(),
        "this scenario needs wrk (Debian package `wrk`)"
    );
    let base = base.to_string();
    let script = script.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        let run = |secs: u64| {
            Command::new("wrk")
                .args([
                    "-t1",
                    &format!("-c{connections}"),
                    &format!("-d{secs}s"),
                    "--latency",
                    "-s",
                ])
                .arg(&script)
                .arg(&base)
                .output()
        };
        run(1)?;
        run(seconds)
    })
    .await??;
    parse(&String::from_utf8_lossy(&output.stdout), seconds)
}
