//! `kai:fusion/credentials`: `reveal` hands a plugin the secret of a
//! credential, only with three keys turned: the operator granted the
//! plugin `reveal-credentials` and that credential name, the request's
//! principal owns a credential of that name, and its owner allowed the
//! plugin. Most plugins need none of this: `outbound-http` injects a
//! credential into a request without the guest seeing it.

use super::CallState;
use super::Caller;
use crate::services::secrets::store::{self, CredentialError};
use crate::wit::bindings::kai::fusion::credentials::Host;
use crate::wit::bindings::kai::fusion::types::Error as WitError;
use zeroize::Zeroizing;

impl Caller {
    /// The secret of the caller's credential `name`, after every check.
    pub(crate) async fn credential_secret(
        &self,
        name: &str,
    ) -> Result<Zeroizing<String>, WitError> {
        if !self.grants()?.credentials.iter().any(|c| c == name) {
            return Err(WitError::Denied(format!(
                "plugin `{}` was not granted the credential `{name}`",
                self.plugin_name
            )));
        }
        let owner = self.principal().ok_or_else(|| {
            WitError::Denied("credentials belong to a principal; this call has none".into())
        })?;
        let core = &self.host.services.core;
        store::reveal(&core.db, &core.keys, &owner.user_id, name, &self.plugin_name)
            .await
            .map_err(|error| match error {
                CredentialError::NotFound(m) => WitError::NotFound(m),
                CredentialError::Denied(m) => WitError::Denied(m),
                e @ CredentialError::Unreadable { .. } => {
                    tracing::warn!(plugin = %self.plugin_name, error = %e, "a credential is damaged");
                    WitError::Conflict(e.to_string())
                }
                other => {
                    // Never the secret: errors here carry none, but say less
                    // to the guest than to the operator.
                    tracing::error!(plugin = %self.plugin_name, error = %other, "credential could not be opened");
                    WitError::Unavailable("the credential could not be opened".into())
                }
            })
    }
}

/// Counts a plugin's use of a credential (never which, never its value).
pub(super) fn count_use(plugin: &str, kind: &'static str) {
    metrics::counter!(
        crate::telemetry::metrics::CREDENTIAL_USES,
        "plugin" => plugin.to_string(),
        "use" => kind
    )
    .increment(1);
}

impl Host for CallState {
    async fn reveal(&mut self, name: String) -> wasmtime::Result<Result<String, WitError>> {
        let caller = self.caller();
        Ok(async move {
            let caller = caller?;
            if !caller.grants()?.reveal_credentials {
                return Err(WitError::Denied(format!(
                    "plugin `{}` was not granted reveal-credentials",
                    caller.plugin_name
                )));
            }
            let secret = caller.credential_secret(&name).await?;
            count_use(&caller.plugin_name, "reveal");
            Ok(secret.to_string())
        }
        .await)
    }
}
