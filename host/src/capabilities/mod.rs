//! The host side of every imported WIT interface, one module each. Each
//! implements the generated `Host` trait on [`CallState`], checks the
//! calling plugin's grants, and applies the request's principal.
//!
//! - [`log`]: `kai:fusion/log`, into the host's tracing output.

pub mod log;

use crate::runtime::bindings::kai::fusion as wit;
use crate::runtime::call::CallState;
use wasmtime::component::{HasSelf, Linker};

/// Links every host interface into `linker`. Grants are enforced per call,
/// inside each function, so an ungranted call is an error the guest sees.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::query::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    wit::log::add_to_linker::<_, HasSelf<CallState>>(linker, |state| state)?;
    Ok(())
}

impl wit::types::Host for CallState {}
impl wit::query::Host for CallState {}
