//! The `kai` command line: `kai serve` runs the server; the other commands
//! administer it, against its database (users, tokens, keys).

use crate::config::ServeArgs;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// KAI-Fusion: a backend host that runs sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "kai", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server with the bundled plugins (embedded SQLite by default)
    Serve(ServeArgs),
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

/// A running server to talk to.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The server's base URL
    #[arg(
        long,
        env = "KAI_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// An admin token [default: the contents of ./data/admin.token]
    #[arg(long, env = "KAI_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install or upgrade a plugin from its .wasm file
    Install {
        file: PathBuf,
        /// Reinstall an equal or older version
        #[arg(long)]
        force: bool,
        /// Run a destructive model migration (needs a new major version)
        #[arg(long)]
        confirm_destructive: bool,
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
    /// Re-encrypt every credential under the newest key, in batches
    Rotate {
        /// Credentials per transaction
        #[arg(long, default_value_t = 100)]
        batch: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a key from the key file (refused while credentials use it)
    Remove {
        id: u32,
        #[command(flatten)]
        store: StoreArgs,
    },
}
