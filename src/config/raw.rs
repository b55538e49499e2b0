//! The config file as written: serde structs that reject unknown fields. `validate` turns them
//! into typed config; every default lives there, next to its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub route: RawRoute,
    #[serde(default)]
    pub pagerduty: RawPagerDuty,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub shutdown_grace: Option<String>,
    pub tick: Option<String>,
    pub engine_queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<usize>,
    pub max_records_per_request: Option<usize>,
    pub max_labels: Option<usize>,
    pub max_label_name_bytes: Option<usize>,
    pub max_label_value_bytes: Option<usize>,
    pub max_annotation_value_bytes: Option<usize>,
    pub body_read_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    pub exclude_labels: Option<Vec<String>>,
    pub resolve_timeout: Option<String>,
    pub default_severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[serde(default)]
    pub matchers: Vec<String>,
    pub group_by: Option<Vec<String>>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    pub routing_key: Option<String>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDuty {
    pub url: Option<String>,
    #[serde(default)]
    pub routing_keys: BTreeMap<String, RawSecret>,
    pub pages_file: Option<String>,
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: RawRetry,
    pub queue_capacity: Option<usize>,
    pub client_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub initial_backoff: Option<String>,
    pub max_backoff: Option<String>,
    pub max_attempts: Option<u32>,
}

/// Where a secret comes from: exactly one of the three.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<String>,
    pub file: Option<String>,
    pub value: Option<String>,
}
