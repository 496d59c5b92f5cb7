//! The master keys a server holds while it runs.
//!
//! The key ring is read from its sources (`KAI_MASTER_KEY` and the key
//! file) at start and read again whenever the key file changes: before every
//! seal (a `stat` of the file), every few seconds from the key-registry
//! heartbeat, and when a secret names a key the ring lacks. New secrets are
//! sealed under the newest key the database has not retired, so a server
//! never seals under a key `kai keys remove` took away, and starts sealing
//! under a key `kai keys generate` added without a restart.

use super::cipher::{self, Binding, CryptoError};
use super::keyring::KeyRing;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The key ring and what the database said about its keys.
pub struct Keys {
    ring: RwLock<KeyRing>,
    /// Keys the database retired (`kai keys remove`): they still open
    /// secrets, but never seal new ones.
    retired: RwLock<BTreeSet<u32>>,
    /// The value of `KAI_MASTER_KEY` at start, if set.
    env: Option<Zeroizing<String>>,
    /// The key file.
    file: PathBuf,
    /// The key file as it was when last read, to notice a change cheaply.
    stamp: Mutex<Option<FileStamp>>,
}

/// What changes when the key file is appended to or rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl FileStamp {
    fn of(file: &Path) -> Option<FileStamp> {
        let metadata = std::fs::metadata(file).ok()?;
        Some(FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&metadata),
        })
    }
}

impl Keys {
    /// Keys read from `env` and `file` just now (`ring`).
    pub fn new(ring: KeyRing, env: Option<Zeroizing<String>>, file: PathBuf) -> Self {
        Self {
            stamp: Mutex::new(FileStamp::of(&file)),
            ring: RwLock::new(ring),
            retired: RwLock::default(),
            env,
            file,
        }
    }

    /// Reads the key sources now: `KAI_MASTER_KEY` (if set) and `file`.
    pub fn load(file: PathBuf) -> anyhow::Result<Self> {
        let env = std::env::var("KAI_MASTER_KEY").ok().map(Zeroizing::new);
        let ring = KeyRing::load(env.as_deref().map(|s| s.as_str()), &file)?;
        Ok(Self::new(ring, env, file))
    }

    /// The key file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Reads the key sources again if the key file changed since the last
    /// read; returns whether it did.
    pub fn refresh(&self) -> bool {
        let now = FileStamp::of(&self.file);
        if *self.stamp.lock().expect("key file stamp") == now {
            return false;
        }
        self.reload();
        true
    }

    /// Reads the key sources again, keeping the current ring if that fails
    /// (a half-written file, say; its next change is read again).
    pub fn reload(&self) {
        *self.stamp.lock().expect("key file stamp") = FileStamp::of(&self.file);
        match KeyRing::load(self.env.as_deref().map(|s| s.as_str()), &self.file) {
            Ok(ring) if !ring.is_empty() => *self.ring.write().expect("key ring lock") = ring,
            Ok(_) => tracing::error!(
                file = %self.file.display(),
                "the key file holds no master key; keeping the keys already loaded"
            ),
            Err(error) => tracing::error!(error = %error, "reloading the master keys failed"),
        }
    }

    /// Ids of the keys in the ring.
    pub fn ids(&self) -> Vec<u32> {
        self.ring.read().expect("key ring lock").ids()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.ring.read().expect("key ring lock").is_empty()
    }

    /// The key new secrets are sealed under: the newest one not retired.
    pub fn sealing_key_id(&self) -> Option<u32> {
        let retired = self.retired.read().expect("retired keys lock");
        self.ring
            .read()
            .expect("key ring lock")
            .ids()
            .into_iter()
            .rev()
            .find(|id| !retired.contains(id))
    }

    /// Records the keys the database has retired.
    pub fn set_retired(&self, ids: impl IntoIterator<Item = u32>) {
        *self.retired.write().expect("retired keys lock") = ids.into_iter().collect();
    }

    /// Whether the database retired key `id`, as last heard.
    pub fn is_retired(&self, id: u32) -> bool {
        self.retired
            .read()
            .expect("retired keys lock")
            .contains(&id)
    }

    /// Seals `plaintext` under the sealing key, after reading the key file
    /// again if it changed.
    pub fn seal(
        &self,
        binding: Binding<'_>,
        plaintext: &[u8],
    ) -> Result<(u32, Vec<u8>), CryptoError> {
        self.refresh();
        let id = self.sealing_key_id().ok_or(CryptoError::NoKey)?;
        Ok((id, self.seal_under(id, binding, plaintext)?))
    }

    /// Seals `plaintext` under key `id` of the ring.
    pub fn seal_under(
        &self,
        id: u32,
        binding: Binding<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ring = self.ring.read().expect("key ring lock");
        let key = ring.get(id).ok_or(CryptoError::UnknownKey(id))?;
        Ok(cipher::seal(id, key, binding, plaintext))
    }

    /// Opens a sealed value, reading the key sources again first if it
    /// names a key the ring lacks (added by `kai keys generate`).
    pub fn open(
        &self,
        binding: Binding<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let first = cipher::open(&self.ring.read().expect("key ring lock"), binding, sealed);
        match first {
            Err(CryptoError::UnknownKey(_)) if self.refresh() => {
                cipher::open(&self.ring.read().expect("key ring lock"), binding, sealed)
            }
            other => other,
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: key bytes never reach a log line.
        f.debug_struct("Keys")
            .field("ids", &self.ids())
            .field("sealing", &self.sealing_key_id())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Binding<'static> = Binding::Credential {
        credential_id: "c",
        owner: "o",
    };

    #[test]
    fn a_key_added_to_the_file_seals_the_next_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        KeyRing::default().generate_into(&file, 0).unwrap();
        let keys = Keys::new(KeyRing::load(None, &file).unwrap(), None, file.clone());
        assert_eq!(keys.seal(ROW, b"a").unwrap().0, 1);
        // Another process (kai keys generate) appends key 2.
        KeyRing::load(None, &file)
            .unwrap()
            .generate_into(&file, 0)
            .unwrap();
        let (id, sealed) = keys.seal(ROW, b"b").unwrap();
        assert_eq!(id, 2);
        assert_eq!(&*keys.open(ROW, &sealed).unwrap(), b"b");
        // A retired key never seals.
        keys.set_retired([2]);
        assert_eq!(keys.seal(ROW, b"c").unwrap().0, 1);
        keys.set_retired([1, 2]);
        assert_eq!(keys.seal(ROW, b"d").unwrap_err(), CryptoError::NoKey);
    }

    #[test]
    fn a_broken_key_file_keeps_the_loaded_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        KeyRing::default().generate_into(&file, 0).unwrap();
        let keys = Keys::new(KeyRing::load(None, &file).unwrap(), None, file.clone());
        std::fs::write(&file, "not a key\n").unwrap();
        assert!(keys.refresh());
        assert_eq!(keys.ids(), vec![1]);
        assert_eq!(keys.seal(ROW, b"x").unwrap().0, 1);
    }
}
