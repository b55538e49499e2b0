//! A config as others may see or keep it: its text with every secret value redacted (the
//! console's "config in force"), and the record the log and the snapshot keep of it
//! (`storage::RecordedConfig`), from which the engine's settings are rebuilt at recovery without
//! reading a file or the environment.

use serde_yaml_ng::Value;

use super::{Config, ConfigErrors, Context, FieldError, Files, Overrides};
use crate::storage::RecordedConfig;
use noisegate_engine::EngineConfig;

/// The top-level sections the engine does not read: left out of the record (listeners,
/// certificates, tokens, the store and Kafka are taken up by a restart, not replayed).
const NOT_ENGINE: [&str; 8] =
    ["server", "limits", "auth", "storage", "kafka", "digest", "decisions", "oncall"];

impl Config {
    /// What the log records of this config: its engine's settings, with no secret in them.
    pub fn recorded(&self) -> Result<RecordedConfig, String> {
        let text = if self.text.trim().is_empty() {
            String::new()
        } else {
            let mut value: Value = serde_yaml_ng::from_str(&self.text)
                .map_err(|error| format!("cannot read the config: {error}"))?;
            if let Value::Mapping(sections) = &mut value {
                sections.retain(|name, _| !name.as_str().is_some_and(|name| NOT_ENGINE.contains(&name)));
            }
            hide(&mut value, false);
            serde_yaml_ng::to_string(&value).map_err(|error| format!("cannot write the config: {error}"))?
        };
        Ok(RecordedConfig { text, topology: self.topology_text.as_deref().map(str::to_owned) })
    }
}

/// The engine's settings of a recorded config: its inventory from the record, secrets not read
/// (their values are redacted), no file opened.
pub fn recorded_engine(recorded: &RecordedConfig) -> Result<EngineConfig, ConfigErrors> {
    let context = Context {
        base_dir: None,
        overrides: Overrides { topology: None, secrets_elsewhere: true },
        env: &|_| None,
    };
    let files = Files::Recorded { topology: recorded.topology.clone() };
    super::parse_with(&recorded.text, &context, files).map(|config| config.engine).map_err(
        |ConfigErrors(errors)| {
            ConfigErrors(
                errors
                    .into_iter()
                    .map(|FieldError { path, message }| FieldError {
                        path,
                        message: format!("{message} (in the recorded config)"),
                    })
                    .collect(),
            )
        },
    )
}

/// The config with every secret value replaced: `value:` of a secret (`{env|file|value}`),
/// and Kafka properties whose name says password, secret or token.
pub fn redact(text: &str) -> String {
    if text.trim().is_empty() {
        return "# (empty: every setting at its default)\n".to_owned();
    }
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(text) else {
        return "# (cannot be shown)\n".to_owned();
    };
    hide(&mut value, false);
    serde_yaml_ng::to_string(&value).unwrap_or_else(|_| "# (cannot be shown)\n".to_owned())
}

fn hide(value: &mut Value, sensitive_names: bool) {
    match value {
        Value::Mapping(mapping) => {
            let secret = mapping.contains_key("value")
                && mapping
                    .keys()
                    .all(|key| matches!(key.as_str(), Some("env" | "file" | "value" | "expires")));
            for (key, entry) in mapping.iter_mut() {
                let name = key.as_str().unwrap_or_default();
                let lowered = name.to_ascii_lowercase();
                if (secret && name == "value")
                    || (sensitive_names
                        && ["password", "secret", "token", "key"].iter().any(|word| lowered.contains(word)))
                {
                    *entry = Value::String("<redacted>".to_owned());
                } else {
                    hide(entry, sensitive_names || name == "properties");
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|item| hide(item, sensitive_names)),
        Value::Tagged(tagged) => hide(&mut tagged.value, sensitive_names),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_config_holds_no_secret_and_rebuilds_the_same_engine_without_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = r#"{"services": {"db": {"kind": "postgres"}, "api": {"depends_on": ["db"]}},
            "maintenance_windows": [{"matchers": {"service": "db"}, "start": "2026-11-02T07:00:00Z", "end": "2026-11-02T08:00:00Z"}]}"#;
        std::fs::write(dir.path().join("inventory.json"), inventory).unwrap();
        std::fs::write(dir.path().join("webhook-secret"), "wh00k").unwrap();
        let text = format!(
            "pagerduty:\n  routing_keys:\n    default: {{value: R0UT1NG}}\n    team: {{env: TEAM_KEY}}\n\
             auth:\n  ingest_tokens: [{{value: t0ken}}]\n\
             feedback:\n  webhook_secrets: [{{file: {}}}]\n\
             storage: {{dir: data}}\n\
             topology: {{file: inventory.json, nodes: [n1]}}\n\
             route:\n  group_wait: 7s\n  routes: [{{matchers: ['team=\"a\"'], routing_key: team}}]\n\
             silences: [{{matchers: ['alertname=\"Muted\"'], start: 2026-01-01T00:00:00Z, end: 2027-01-01T00:00:00Z}}]\n\
             correlation: {{window: 3m}}\n",
            dir.path().join("webhook-secret").display()
        );
        let env = |name: &str| (name == "TEAM_KEY").then(|| "T3AM".to_owned());
        let context =
            Context { base_dir: Some(dir.path().to_owned()), overrides: Overrides::default(), env: &env };
        let config = super::super::parse_in(&text, &context).unwrap();
        let recorded = config.recorded().unwrap();
        for secret in ["R0UT1NG", "T3AM", "t0ken", "wh00k", "storage", "data"] {
            assert!(!recorded.text.contains(secret), "{secret} in {}", recorded.text);
        }
        assert_eq!(recorded.topology.as_deref(), Some(inventory));
        // Rebuilt with the files gone and no environment: the same engine settings.
        drop(dir);
        let engine = recorded_engine(&recorded).unwrap();
        let settings = |engine: &EngineConfig| {
            // Field by field: the catalog and the inventory's indexes are hash maps, whose
            // `Debug` order differs between two maps of the same content.
            let topology = &engine.topology;
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {}",
                engine.exclude_labels,
                engine.routes,
                engine.learning,
                engine.correlation,
                engine.flapping,
                engine.inhibit_rules,
                engine.silences,
                engine.logs,
                engine.scoring,
                engine.novelty,
                engine.memory,
                engine.feedback,
                ["db", "api", "web"].map(|name| topology.service_id(name)),
                topology
                    .service_id("api")
                    .zip(topology.service_id("db"))
                    .map(|(api, db)| topology.depends_on(api, db)),
                topology.declares_node("n1"),
            )
        };
        assert_eq!(settings(&engine), settings(&config.engine));
    }

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let text = "pagerduty:\n  routing_keys:\n    default: {value: R0UT1NG}\n    team: {env: TEAM_KEY}\n\
                    opsgenie:\n  api_keys:\n    ops: {value: G3N1EKEY}\n\
                    auth:\n  admin_tokens: [{value: t0ken, expires: '2030-01-01T00:00:00Z'}]\n\
                    kafka:\n  brokers: k:9092\n  properties: {sasl.password: hunter2, security.protocol: SASL_SSL}\n\
                    route: {group_wait: 30s}\n";
        let shown = redact(text);
        for secret in ["R0UT1NG", "G3N1EKEY", "t0ken", "hunter2"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        for kept in ["TEAM_KEY", "SASL_SSL", "group_wait: 30s", "k:9092", "2030-01-01"] {
            assert!(shown.contains(kept), "{kept} missing from {shown}");
        }
    }
}
