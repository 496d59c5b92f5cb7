//! Reading a credential's secret: only with the operator's explicit
//! `reveal-credentials` grant and the credential granted by name. Prefer
//! [`crate::outbound`], which uses a credential without revealing it.

#[cfg(not(target_arch = "wasm32"))]
use crate::__private::native::credentials as wit;
use crate::host::{HostError, host_call};
#[cfg(target_arch = "wasm32")]
use crate::wit::kai::fusion::credentials as wit;

/// The secret (a JSON object, serialized) of the caller's credential.
pub fn reveal(name: &str) -> Result<String, HostError> {
    host_call!(wit::reveal(name))
}
