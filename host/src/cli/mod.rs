//! The `kai` command line: `kai serve` runs the server; the other commands
//! administer it, against its database (users, tokens, keys) or its admin
//! API (plugins).
//!
//! - [`commands`]: what each administrative command does.

pub mod commands;

use crate::config::ServeArgs;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// KAI-Fusion: a backend host that runs sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "kai", version, about, long_about = None)]
pub struct Cli {
    /// The running server `kai plugin` talks to.
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server with the bundled plugins (embedded SQLite by default)
    Serve(Box<ServeArgs>),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the master keys of the credential store
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Install, list, roll back and remove plugins on a running server
    Plugin(PluginArgs),
}

/// How to install a `wasi:http/proxy` component, which carries no manifest
/// of its own (a kai:fusion plugin takes none of these).
#[derive(Debug, Clone, Args)]
pub struct ComponentArgs {
    /// Install a wasi:http component under this plugin name (an upgrade
    /// that gives only the name keeps the mount, --public and --outbound)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The path the component serves, with every path under it; it sees
    /// paths without this prefix
    #[arg(long, value_name = "PATH", requires = "name")]
    pub mount: Option<String>,
    /// Serve the mount without a token (an operator must grant it)
    #[arg(long, requires = "mount")]
    pub public: bool,
    /// An origin the component may call, e.g. https://api.example.com (an
    /// operator must grant it; repeat for several)
    #[arg(long, value_name = "ORIGIN", requires = "mount")]
    pub outbound: Vec<String>,
    /// The version to record (default: the next patch)
    #[arg(long = "component-version", value_name = "SEMVER", requires = "name")]
    pub version: Option<String>,
}

impl ComponentArgs {
    /// The install API's query parameters for these flags.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(name) = &self.name {
            query.push(("name", name.clone()));
        }
        if let Some(mount) = &self.mount {
            query.push(("mount", mount.clone()));
            query.push(("public", self.public.to_string()));
            query.push(("outbound", self.outbound.join(",")));
        }
        if let Some(version) = &self.version {
            query.push(("version", version.clone()));
        }
        query
    }
}

/// A running server to talk to; the flags go before or after the
/// subcommand.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The server's base URL (for `kai plugin`)
    #[arg(
        long,
        global = true,
        env = "KAI_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// An admin token (for `kai plugin`)
    #[arg(
        long,
        global = true,
        env = "KAI_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// A file holding an admin token (for `kai plugin`) [default: ./data/admin.token]
    #[arg(long, global = true, env = "KAI_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    /// Print the server's JSON answer instead of a summary
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Build the plugin crate in DIR for wasm32-wasip2 (adding the target
    /// when missing), check it as a server would load it, and print the
    /// .wasm path and its manifest; needs no server
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build the plugin crate in DIR, install it on the running server, and
    /// build and reinstall it on every saved change, until interrupted
    Dev {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Create a plugin crate NAME (builds outside any workspace: a route,
    /// native tests, its own Cargo workspace); needs no server
    New {
        name: String,
        /// Where to create it [default: the current directory]
        #[arg(long, default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// The kai-sdk to depend on [default: the checkout kai was built from]
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Install or upgrade a plugin from its .wasm file (exit code 3 when it
    /// waits for a grant)
    Install {
        file: PathBuf,
        /// Reinstall an equal or older version
        #[arg(long)]
        force: bool,
        /// Run a destructive model migration (needs a new major version)
        #[arg(long)]
        confirm_destructive: bool,
        #[command(flatten)]
        component: ComponentArgs,
    },
    /// List the plugins and those awaiting grants
    List,
    /// Show one plugin with its version history
    Show { name: String },
    /// Go back to the previously installed version
    Rollback { name: String },
    /// Remove a plugin (its tables stay unless --purge)
    Remove {
        name: String,
        #[arg(long)]
        purge: bool,
    },
    /// Grant a plugin everything it requests
    Grant { name: String },
    /// Stop serving a plugin
    Disable { name: String },
    /// Serve a disabled plugin again
    Enable { name: String },
}

/// Where the database and keys are (as for `kai serve`).
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded database and key file [default: ./data]
    #[arg(long, env = "KAI_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database, when not the embedded SQLite
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Read settings from this TOML file
    #[arg(long, env = "KAI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// File of master keys [default: <data-dir>/master.key]
    #[arg(long, env = "KAI_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl StoreArgs {
    pub fn serve_args(&self) -> ServeArgs {
        ServeArgs {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            config: self.config.clone(),
            master_key_file: self.master_key_file.clone(),
            ..ServeArgs::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (a member unless --admin)
    Create {
        email: String,
        /// Make the user an admin
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; it is printed once
    Create {
        /// The user's email
        #[arg(long)]
        user: String,
        /// A name to recognise the token by
        #[arg(long, default_value = "cli")]
        name: String,
        /// Expire after this many days
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List key ids and how many credentials each encrypts
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Generate a new key into the key file; it becomes the one that encrypts
    Generate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Re-encrypt every credential under the newest key, in batches;
    /// credentials that cannot be opened are listed (exit code 4)
    Rotate {
        /// Credentials per transaction
        #[arg(long, default_value_t = 100)]
        batch: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check every configured key against the database and open every
    /// credential; lists damaged credentials (exit code 4 if any)
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a key from the key file (refused while credentials or running
    /// servers use it)
    Remove {
        id: u32,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// How a command ended, when not with plain success or failure: carried to
/// `main` through `anyhow` and turned into the process's exit code.
#[derive(Debug, thiserror::Error)]
pub enum Exit {
    /// Exit code 3: the plugin is installed but waits for an operator's
    /// grant before it serves.
    #[error("the plugin waits for a grant: run `kai plugin grant {0}` to let it serve")]
    AwaitingGrant(String),
    /// Exit code 4: the command did what it could; the items it could not
    /// do are listed above.
    #[error("some items could not be processed (listed above)")]
    Partial,
}

impl Exit {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Exit::AwaitingGrant(_) => 3,
            Exit::Partial => 4,
        }
    }
}
