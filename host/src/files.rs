//! Files the server keeps to itself: the data directory, the database, keys
//! and tokens. Directories are created 0700 and files 0600, whatever the
//! umask, so that token hashes, ciphertexts and documents are the server
//! user's alone. An existing data directory others can read is reported.

use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// Creates `dir` (and missing parents) readable by the owner only; an
/// existing directory is left as it is, with a warning if group or others
/// can read it.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        warn_if_shared(dir);
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the directory {}", dir.display()))
}

/// Creates `file` empty, readable by the owner only, unless it exists.
pub fn touch_private(file: &Path) -> anyhow::Result<()> {
    open_private(file, true).map(drop)
}

/// Writes `contents` to `file` (created 0600, replaced if it exists).
pub fn write_private(file: &Path, contents: &str) -> anyhow::Result<()> {
    open_private(file, false)?
        .write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", file.display()))
}

/// Appends `contents` to `file` (created 0600 if missing).
pub fn append_private(file: &Path, contents: &str) -> anyhow::Result<()> {
    open_private(file, true)?
        .write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", file.display()))
}

fn open_private(file: &Path, append: bool) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(file)
        .with_context(|| format!("opening {}", file.display()))
}

/// Warns when group or others may read or enter `dir`.
fn warn_if_shared(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(dir) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    directory = %dir.display(),
                    mode = format!("{mode:o}"),
                    "the data directory is readable by other users; run `chmod 700` on it"
                );
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_private_whatever_the_umask() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        let file = dir.join("secret");
        write_private(&file, "x").unwrap();
        append_private(&file, "y").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "xy");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&temp.path().join("a")), 0o700);
        touch_private(&file).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "xy");
    }
}
