//! Who performs a model operation. Members see and change only their own
//! rows; admins see all. Every query of the core models is scoped by the
//! actor here, whether it came from REST or from a plugin.

use crate::store::query::select::Scope;
use crate::store::users::Principal;
use crate::wit::bindings::WitPrincipal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub admin: bool,
}

impl Actor {
    pub fn from_principal(principal: &Principal) -> Self {
        Self {
            user_id: principal.user_id.clone(),
            admin: principal.is_admin(),
        }
    }

    pub fn from_wit(principal: &WitPrincipal) -> Self {
        Self {
            user_id: principal.id.clone(),
            admin: principal.roles.iter().any(|r| r == "admin"),
        }
    }

    pub fn to_wit(&self) -> WitPrincipal {
        WitPrincipal {
            id: self.user_id.clone(),
            roles: vec![if self.admin { "admin" } else { "member" }.to_string()],
        }
    }

    /// The condition that limits a query to the actor's rows (none for admins).
    pub fn scope(&self) -> Option<Scope> {
        (!self.admin).then(|| Scope {
            column: "owner",
            value: self.user_id.clone(),
        })
    }

    /// Whether the actor may see a row owned by `owner`.
    pub fn can_see(&self, owner: &str) -> bool {
        self.admin || self.user_id == owner
    }
}
