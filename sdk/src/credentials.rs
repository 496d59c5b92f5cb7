//! Reading a credential's secret: only with the operator's explicit
//! `reveal-credentials` grant and the credential granted by name. Prefer
//! [`crate::outbound`], which uses a credential without revealing it.

use crate::host::{HostError, host_call};

/// The secret (a JSON object, serialized) of the caller's credential.
pub fn reveal(name: &str) -> Result<String, HostError> {
    host_call!(crate::wit::kai::fusion::credentials::reveal(name))
}
