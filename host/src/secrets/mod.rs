//! The encrypted credential store.
//!
//! - [`keyring`]: master keys (ids, loading, generation), zeroized on drop.
//! - [`cipher`]: AES-256-GCM with a fresh nonce per encryption and
//!   associated data binding each ciphertext to its row.
//! - [`store`]: credentials in the database: create, read (never the
//!   secret), update, delete, key rotation, the start-up check.

pub mod cipher;
pub mod keyring;
pub mod store;

pub use keyring::KeyRing;
