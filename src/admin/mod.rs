//! The admin listener: the admin API, the web console and its timeline (the metrics they serve
//! are `crate::metrics`).

pub mod api;
pub mod console;
pub mod timeline;
