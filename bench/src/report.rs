//! The markdown report: machine, commit, date and command, then every
//! section. Written between markers in `docs/BENCHMARKS.md`, so the notes
//! around the generated part are kept.

use crate::RunArgs;
use crate::scenarios::Section;
use std::process::Command;

const BEGIN: &str = "<!-- kai-bench:begin -->";
const END: &str = "<!-- kai-bench:end -->";

pub fn write(args: &RunArgs, sections: &[Section]) -> anyhow::Result<()> {
    let mut generated = format!("{BEGIN}\n## Latest run\n\n{}\n", header(args));
    for section in sections {
        generated.push_str(&section.markdown);
        generated.push('\n');
    }
    generated.push_str(END);
    let existing = std::fs::read_to_string(&args.out).unwrap_or_default();
    let text = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!(
                "{}{generated}{}",
                &existing[..begin],
                &existing[end + END.len()..]
            )
        }
        _ => format!("{existing}\n{generated}\n"),
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, text)?;
    Ok(())
}

fn header(args: &RunArgs) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut command = "cargo run --release -p kai-bench".to_string();
    let extra: Vec<String> = std::env::args().skip(1).collect();
    if !extra.is_empty() {
        command.push_str(" -- ");
        command.push_str(&extra.join(" "));
    }
    format!(
        "- machine: {cpu}, {cores} cores\n- commit: `{commit}`\n- date: {}\n- command: `{command}`\n- load: {} connections, {} s per measurement, {} rounds\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.connections,
        args.seconds,
        args.rounds
    )
}
