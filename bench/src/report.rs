//! The markdown report. Each scenario's section sits between its own
//! markers in `docs/PERFORMANCE.md`, with the machine, commit, date and
//! command of the run that produced it, so running one scenario rewrites
//! only its section and the notes around stay.

use crate::RunArgs;
use crate::scenarios::Section;
use std::process::Command;

fn begin(name: &str) -> String {
    format!("<!-- kai-bench:{name}:begin -->")
}

fn end(name: &str) -> String {
    format!("<!-- kai-bench:{name}:end -->")
}

pub fn write(args: &RunArgs, sections: &[Section]) -> anyhow::Result<()> {
    let mut text = std::fs::read_to_string(&args.out).unwrap_or_default();
    let header = header();
    for section in sections {
        let generated = format!(
            "{}\n{}\n{header}\n{}",
            begin(&section.name),
            section.markdown.trim_end(),
            end(&section.name)
        );
        text = match (
            text.find(&begin(&section.name)),
            text.find(&end(&section.name)),
        ) {
            (Some(b), Some(e)) if b < e => {
                format!(
                    "{}{generated}{}",
                    &text[..b],
                    &text[e + end(&section.name).len()..]
                )
            }
            _ => format!("{}\n{generated}\n", text.trim_end()),
        };
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, text)?;
    Ok(())
}

fn header() -> String {
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
        "_Measured on {cpu}, {cores} cores; commit `{commit}`; {}; command `{command}`._\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    )
}
