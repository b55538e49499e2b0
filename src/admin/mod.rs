//! The admin listener: the admin API, the web console and its timeline, the inventory's JSON
//! (the metrics they serve are `crate::metrics`).

pub mod alertmanager;
pub mod api;
pub mod console;
pub mod inventory;
pub mod timeline;
