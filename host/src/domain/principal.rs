//! Who acts: the one identity every layer passes around, whether the call
//! came from a REST client's token, a plugin acting for its caller, or an
//! event delivered on behalf of whoever made the change.

use serde::{Deserialize, Serialize};

/// A user's role. Admins see and manage everything; members only what
/// they own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The role stored as `text`; anything but `admin` is a member, so an
    /// unknown value never grants more.
    pub fn parse(text: &str) -> Role {
        if text == "admin" {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

impl From<String> for Role {
    fn from(text: String) -> Role {
        Role::parse(&text)
    }
}

/// The user on whose behalf something runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
}

impl Principal {
    pub fn new(user_id: impl Into<String>, role: Role) -> Self {
        Self {
            user_id: user_id.into(),
            role,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the principal may see a row owned by `owner`.
    pub fn can_see(&self, owner: &str) -> bool {
        self.is_admin() || self.user_id == owner
    }
}
