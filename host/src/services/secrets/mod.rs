//! The encrypted credential store.
//!
//! - [`keyring`]: master keys (ids, loading, generation), zeroized on drop.
//! - [`keys`]: the keys a running server holds, re-read when the key file
//!   changes; which one seals.
//! - [`cipher`]: AES-256-GCM with a fresh nonce per encryption and
//!   associated data binding each ciphertext to its row.
//! - [`registry`]: what the database records about keys (check values,
//!   retired keys) and the servers using them.
//! - [`store`]: credentials in the database: create, read (never the
//!   secret), update, delete, key rotation, finding damaged secrets.

pub mod cipher;
pub mod keyring;
pub mod keys;
pub mod registry;
pub mod store;

pub use keyring::KeyRing;
pub use keys::Keys;
