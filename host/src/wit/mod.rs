//! The WIT contract as the host sees it: the generated bindings of the
//! `kai:fusion` world and the plugin manifest read from a component.
//!
//! - [`bindings`]: the host-side bindings of the WIT world.
//! - [`manifest`]: checking what a plugin says about itself.
//! - [`convert`]: between the generated types and the host's own.

pub mod bindings;
pub mod convert;
pub mod manifest;
