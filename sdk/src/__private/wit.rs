//! The bindings generated from `wit/` (the `kai:fusion/plugin` world). The
//! SDK's modules wrap every host call in them; plugins never name them.

wit_bindgen::generate!({
    path: "wit",
    world: "kai:fusion/plugin",
    pub_export_macro: true,
    export_macro_name: "__export_plugin_bindings",
    default_bindings_module: "kai_sdk::__private::wit",
    // Serde: natively, host calls travel to a test host serialized
    // (`super::native`).
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});
