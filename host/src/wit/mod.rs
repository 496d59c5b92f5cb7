//! The WIT contract as the host sees it: the generated bindings of the
//! `kai:fusion` world and the plugin manifest read from a component.
//!
//! - [`bindings`]: the host-side bindings of the WIT world.
//! - [`manifest`]: checking what a plugin says about itself.
//! - [`convert`]: between the generated types and the host's own.
//! - [`models`]: the models a manifest declares, checked.
//! - [`columnar`], [`packed`]: a page of rows in the two column forms
//!   plugins read.

pub mod bindings;
pub mod columnar;
pub mod convert;
pub mod manifest;
pub mod models;
pub mod packed;
