//! AES-256-GCM for credential secrets and key check values.
//!
//! A sealed value is `version (1 byte) || key id (4 bytes, big endian) ||
//! nonce (12 bytes) || ciphertext and tag`. Each encryption draws a fresh
//! random 96-bit nonce. The associated data binds the ciphertext to what it
//! belongs to: the format version, the key id, and either the credential's
//! id and owner or the key check of that key id. A ciphertext copied into
//! another row, or a tampered header, fails to decrypt. Decryption errors
//! are never swallowed.

use super::keyring::{Key, KeyRing};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// The format version written by this code.
pub const FORMAT_VERSION: u8 = 1;
const HEADER: usize = 1 + 4;
const NONCE: usize = 12;

/// What a ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// The secret of one credential row.
    Credential {
        credential_id: &'a str,
        owner: &'a str,
    },
    /// The check value of a master key (see `secrets::registry`).
    KeyCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("no master key is configured")]
    NoKey,
    #[error("the secret was encrypted with key {0}, which is not in the key ring")]
    UnknownKey(u32),
    #[error("unsupported secret format version {0}")]
    UnknownVersion(u8),
    #[error("the secret is truncated")]
    Truncated,
    #[error("the secret failed authentication (wrong key, tampered, or moved from another row)")]
    Authentication,
}

fn associated_data(version: u8, key_id: u32, binding: Binding<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    match binding {
        Binding::Credential {
            credential_id,
            owner,
        } => {
            aad.extend_from_slice(b"kai-fusion/credential\0");
            aad.push(version);
            aad.extend_from_slice(&key_id.to_be_bytes());
            aad.extend_from_slice(credential_id.as_bytes());
            aad.push(0);
            aad.extend_from_slice(owner.as_bytes());
        }
        Binding::KeyCheck => {
            aad.extend_from_slice(b"kai-fusion/key-check\0");
            aad.push(version);
            aad.extend_from_slice(&key_id.to_be_bytes());
        }
    }
    aad
}

/// Encrypts `plaintext` under key `key_id`.
pub fn seal(key_id: u32, key: &Key, binding: Binding<'_>, plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new_from_slice(key.bytes()).expect("keys are 32 bytes");
    let mut nonce = [0u8; NONCE];
    rand::rng().fill_bytes(&mut nonce);
    let aad = associated_data(FORMAT_VERSION, key_id, binding);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encrypts any input below 64 GiB");
    let mut sealed = Vec::with_capacity(HEADER + NONCE + ciphertext.len());
    sealed.push(FORMAT_VERSION);
    sealed.extend_from_slice(&key_id.to_be_bytes());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

/// The id of the key a sealed value needs.
pub fn key_id(sealed: &[u8]) -> Result<u32, CryptoError> {
    if sealed.len() < HEADER + NONCE + 16 {
        return Err(CryptoError::Truncated);
    }
    Ok(u32::from_be_bytes(
        sealed[1..5].try_into().expect("4 bytes"),
    ))
}

/// Decrypts a sealed secret for the row `binding` describes.
pub fn open(
    ring: &KeyRing,
    binding: Binding<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key_id = key_id(sealed)?;
    let version = sealed[0];
    if version != FORMAT_VERSION {
        return Err(CryptoError::UnknownVersion(version));
    }
    let key = ring.get(key_id).ok_or(CryptoError::UnknownKey(key_id))?;
    let cipher = Aes256Gcm::new_from_slice(key.bytes()).expect("keys are 32 bytes");
    let nonce = &sealed[HEADER..HEADER + NONCE];
    let aad = associated_data(version, key_id, binding);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &sealed[HEADER + NONCE..],
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[u32]) -> (tempfile::TempDir, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let mut ring = KeyRing::default();
        for _ in ids {
            ring.generate_into(&file, 0).unwrap();
        }
        (dir, ring)
    }

    /// Seals under the ring's newest key.
    fn seal_newest(ring: &KeyRing, binding: Binding<'_>, plaintext: &[u8]) -> (u32, Vec<u8>) {
        let (id, key) = ring.newest().unwrap();
        (id, seal(id, key, binding, plaintext))
    }

    const ROW: Binding<'static> = Binding::Credential {
        credential_id: "cred-1",
        owner: "user-1",
    };

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let (_dir, ring) = ring(&[1]);
        let (key_id, a) = seal_newest(&ring, ROW, b"{\"token\":\"s3cret\"}");
        let (_, b) = seal_newest(&ring, ROW, b"{\"token\":\"s3cret\"}");
        assert_eq!(key_id, 1);
        assert_ne!(a[5..17], b[5..17], "nonces differ");
        assert_eq!(&*open(&ring, ROW, &a).unwrap(), b"{\"token\":\"s3cret\"}");
        assert!(
            !a.windows(6).any(|w| w == b"s3cret"),
            "the plaintext is not visible"
        );
    }

    #[test]
    fn any_tampering_fails_authentication() {
        let (_dir, ring) = ring(&[1]);
        let (_, sealed) = seal_newest(&ring, ROW, b"secret value");
        for (what, index) in [("nonce", 6), ("ciphertext", 20), ("tag", sealed.len() - 1)] {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            assert_eq!(
                open(&ring, ROW, &tampered).unwrap_err(),
                CryptoError::Authentication,
                "{what}"
            );
        }
        let mut version = sealed.clone();
        version[0] = 9;
        assert_eq!(
            open(&ring, ROW, &version).unwrap_err(),
            CryptoError::UnknownVersion(9)
        );
        let mut key = sealed.clone();
        key[4] = 2;
        assert_eq!(
            open(&ring, ROW, &key).unwrap_err(),
            CryptoError::UnknownKey(2)
        );
        assert_eq!(
            open(&ring, ROW, &sealed[..20]).unwrap_err(),
            CryptoError::Truncated
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_fails() {
        let (_dir, ring) = ring(&[1]);
        let (_, sealed) = seal_newest(&ring, ROW, b"secret value");
        let other_id = Binding::Credential {
            credential_id: "cred-2",
            owner: "user-1",
        };
        let other_owner = Binding::Credential {
            credential_id: "cred-1",
            owner: "user-2",
        };
        assert_eq!(
            open(&ring, other_id, &sealed).unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            open(&ring, other_owner, &sealed).unwrap_err(),
            CryptoError::Authentication
        );
        // A key check value is bound to its purpose too.
        assert_eq!(
            open(&ring, Binding::KeyCheck, &sealed).unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn the_newest_key_encrypts_and_old_keys_still_decrypt() {
        let (dir, mut ring) = ring(&[1]);
        let (_, old) = seal_newest(&ring, ROW, b"v1");
        ring.generate_into(&dir.path().join("master.key"), 0)
            .unwrap();
        let (key_id, new) = seal_newest(&ring, ROW, b"v2");
        assert_eq!(key_id, 2);
        assert_eq!(&*open(&ring, ROW, &old).unwrap(), b"v1");
        assert_eq!(&*open(&ring, ROW, &new).unwrap(), b"v2");
    }

    #[test]
    fn a_wrong_key_fails() {
        let (_dir, ring_a) = ring(&[1]);
        let (_dir2, ring_b) = ring(&[1]);
        let (_, sealed) = seal_newest(&ring_a, ROW, b"secret");
        assert_eq!(
            open(&ring_b, ROW, &sealed).unwrap_err(),
            CryptoError::Authentication
        );
    }
}
