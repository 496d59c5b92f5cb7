//! What every command that calls a server's admin API needs: the admin
//! token, and the server's refusal as an error that names the flag which
//! changes its mind.

use crate::cli::RemoteArgs;
use anyhow::bail;
use serde_json::Value;
use std::path::PathBuf;

/// Where the token is read from when no flag or variable names one.
const DEFAULT_TOKEN_FILE: &str = "data/admin.token";

/// The token from `--token` / `KAI_TOKEN`, `--token-file` /
/// `KAI_TOKEN_FILE`, or the bootstrap token file.
pub fn token(remote: &RemoteArgs) -> anyhow::Result<String> {
    if let Some(token) = &remote.token {
        return Ok(token.trim().to_string());
    }
    let (file, named) = match &remote.token_file {
        Some(file) => (file.clone(), true),
        None => (PathBuf::from(DEFAULT_TOKEN_FILE), false),
    };
    match std::fs::read_to_string(&file) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        Ok(_) => bail!("the token file {} is empty", file.display()),
        Err(error) if named => {
            Err(anyhow::Error::new(error)
                .context(format!("reading the token file {}", file.display())))
        }
        Err(error) => bail!(
            "no token: pass --token or --token-file, or set KAI_TOKEN \
             (tried {}: {error})",
            file.display()
        ),
    }
}

/// The server's refusal as an error, with the flag that changes its mind
/// when there is one.
pub fn refusal(status: reqwest::StatusCode, body: &Value, text: &str) -> anyhow::Error {
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| text.trim().to_string());
    let hint = match code {
        "version_not_newer" => "; pass --force to install an equal or older version",
        "unauthorized" => "; check the token (--token, --token-file or KAI_TOKEN)",
        _ => "",
    };
    anyhow::anyhow!("the server answered {}: {message}{hint}", status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_name_the_cli_flag() {
        let body = json!({"error": {"code": "version_not_newer", "message": "hello 1.0.0 is installed; 1.0.0 is not newer"}});
        let error = refusal(reqwest::StatusCode::CONFLICT, &body, "");
        assert_eq!(
            error.to_string(),
            "the server answered 409: hello 1.0.0 is installed; 1.0.0 is not newer; pass --force to install an equal or older version"
        );
    }
}
