//! Master keys. A key ring holds keys by id; the newest (highest id)
//! encrypts, any decrypts. Keys come from `KAI_MASTER_KEY` and from a key
//! file (`<data-dir>/master.key` unless configured), one `id:base64` per
//! line; 32 random bytes each. The bytes are zeroized when dropped.
//!
//! There is never a default key: with no key configured, the server
//! generates one into the key file (0600) on first start and says so.

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

/// One 256-bit key.
pub struct Key(Zeroizing<[u8; 32]>);

impl Key {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn random() -> Key {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Key(bytes)
    }
}

/// Keys by id.
#[derive(Default)]
pub struct KeyRing {
    keys: BTreeMap<u32, Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: key bytes never reach a log line.
        f.debug_struct("KeyRing").field("ids", &self.ids()).finish()
    }
}

impl KeyRing {
    /// Reads keys from `env` (the value of `KAI_MASTER_KEY`, if set) and
    /// from `file` (if it exists).
    pub fn load(env: Option<&str>, file: &Path) -> anyhow::Result<KeyRing> {
        let mut ring = KeyRing::default();
        if let Some(text) = env {
            ring.add_lines(text, "KAI_MASTER_KEY")?;
        }
        if file.exists() {
            let text = Zeroizing::new(
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?,
            );
            ring.add_lines(&text, &file.display().to_string())?;
        }
        Ok(ring)
    }

    /// Parses `id:base64` entries (separated by newlines or commas); a bare
    /// base64 value is key 1.
    fn add_lines(&mut self, text: &str, origin: &str) -> anyhow::Result<()> {
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (id, encoded) = match entry.split_once(':') {
                Some((id, encoded)) => (
                    id.trim()
                        .parse::<u32>()
                        .with_context(|| format!("{origin}: key ids are numbers"))?,
                    encoded.trim(),
                ),
                None => (1, entry),
            };
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded)
                    .with_context(|| format!("{origin}: key {id} is not valid base64"))?,
            );
            if bytes.len() != 32 {
                bail!("{origin}: key {id} must be 32 bytes, it is {}", bytes.len());
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&bytes);
            if let Some(existing) = self.keys.get(&id)
                && existing.0 != key
            {
                bail!("{origin}: key id {id} is defined twice with different values");
            }
            self.keys.insert(id, Key(key));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    pub fn get(&self, id: u32) -> Option<&Key> {
        self.keys.get(&id)
    }

    /// The key that encrypts: the highest id.
    pub fn newest(&self) -> Option<(u32, &Key)> {
        self.keys.iter().next_back().map(|(id, key)| (*id, key))
    }

    /// Generates a new key with an id above every id in the ring and above
    /// `above` (ids the database has seen, retired ones included, so an id
    /// is never given to two keys), appends it to `file` (created 0600),
    /// adds it to the ring, and returns its id.
    pub fn generate_into(&mut self, file: &Path, above: u32) -> anyhow::Result<u32> {
        let newest = self.keys.keys().next_back().copied().unwrap_or(0);
        let id = newest.max(above) + 1;
        let key = Key::random();
        let line = Zeroizing::new(format!("{id}:{}\n", STANDARD.encode(key.bytes())));
        crate::files::append_private(file, &line)?;
        self.keys.insert(id, key);
        Ok(id)
    }

    /// Drops key `id` from `file` (the ring must no longer need it).
    pub fn remove_from(file: &Path, id: u32) -> anyhow::Result<()> {
        let text = Zeroizing::new(std::fs::read_to_string(file)?);
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.split_once(':')
                    .is_none_or(|(k, _)| k.trim().parse::<u32>().ok() != Some(id))
            })
            .collect();
        let rewritten = Zeroizing::new(kept.join("\n") + "\n");
        crate::files::write_private(file, &rewritten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_load_from_env_and_file_and_the_newest_encrypts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let mut ring = KeyRing::load(None, &file).unwrap();
        assert!(ring.is_empty());
        assert_eq!(ring.generate_into(&file, 0).unwrap(), 1);
        assert_eq!(ring.generate_into(&file, 0).unwrap(), 2);
        // Ids the database has seen are skipped.
        let mut other = KeyRing::default();
        assert_eq!(
            other
                .generate_into(&dir.path().join("other.key"), 4)
                .unwrap(),
            5
        );
        let env_key = format!("7:{}", STANDARD.encode([9u8; 32]));
        let ring = KeyRing::load(Some(&env_key), &file).unwrap();
        assert_eq!(ring.ids(), vec![1, 2, 7]);
        assert_eq!(ring.newest().unwrap().0, 7);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        KeyRing::remove_from(&file, 1).unwrap();
        assert_eq!(KeyRing::load(None, &file).unwrap().ids(), vec![2]);
    }

    #[test]
    fn malformed_keys_are_refused_by_origin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("none");
        let short = STANDARD.encode([1u8; 16]);
        let error = KeyRing::load(Some(&short), &file).unwrap_err();
        assert!(
            error.to_string().contains("KAI_MASTER_KEY") && error.to_string().contains("32 bytes")
        );
        assert!(KeyRing::load(Some("x:abc"), &file).is_err());
        let debug = format!(
            "{:?}",
            KeyRing::load(Some(&STANDARD.encode([3u8; 32])), &file).unwrap()
        );
        assert_eq!(debug, "KeyRing { ids: [1] }");
    }
}
