//! One REST request's unit of work: the acting principal and a database
//! session. Model operations run in it; [`Unit::commit`] makes their writes
//! (and those of the transactional hooks they triggered) durable together,
//! and dropping the unit without committing rolls everything back.

use crate::domain::Principal;
use crate::services::Ctx;
use crate::services::Session;
use crate::state::AppState;
use std::sync::Arc;

pub struct Unit {
    state: AppState,
    session: Arc<Session>,
    principal: Principal,
}

impl Unit {
    pub fn new(state: &AppState, principal: &Principal) -> Self {
        Self {
            state: state.clone(),
            session: Arc::new(Session::new(state.db.clone())),
            principal: principal.clone(),
        }
    }

    /// The context model operations take.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            core: &self.state.core,
            hooks: &*self.state.hooks,
            session: &self.session,
            principal: &self.principal,
            depth: 0,
        }
    }

    /// Commits, then wakes the event worker if events were queued.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.state.core.commit(&self.session).await
    }
}
