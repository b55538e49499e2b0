use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn the_embedded_default_is_valid() {
    let config = parse(DEFAULT_CONFIG, &no_env).unwrap();
    assert_eq!(config.server.http_listen.port(), 4318);
    assert_eq!(config.server.grpc_listen.port(), 4317);
    assert_eq!(config.engine.exclude_labels, vec![Box::<str>::from("prometheus_replica")]);
    // No routing key in the environment: a warning, pages go to stdout.
    assert_eq!(config.pagerduty.pages_file, PagesOutput::Stdout);
    assert!(config.warnings.iter().any(|warning| warning.contains("routing key")));
}

#[test]
fn every_error_is_reported_with_its_path() {
    let text = r#"
server:
  http_listen: "not an address"
engine:
  default_severity: loud
route:
  group_wait: soon
  routes:
    - matchers: ['severity=~~"critical"', 'team=~"("']
    - routing_key: db-team
      repeat_interval: 0s
pagerduty:
  url: ftp://example.com
  routing_keys:
    default: { env: A, file: /x }
"#;
    let errors = parse(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errors.0.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "server.http_listen",
            "engine.default_severity",
            "pagerduty.url",
            "pagerduty.routing_keys.default",
            "route.group_wait",
            "route.routes[0].matchers[0]",
            "route.routes[0].matchers[1]",
            "route.routes[1].routing_key",
            "route.routes[1].repeat_interval",
        ]
    );
    let rendered = errors.to_string();
    assert!(rendered.contains("route.routes[0].matchers[0]: unknown operator \"=~~\""), "{rendered}");
    assert!(rendered.contains("invalid regex"), "{rendered}");
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let errors = parse("route:\n  group_wiat: 30s\n", &no_env).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].path, "route.group_wiat");
    assert!(errors.0[0].message.contains("unknown field `group_wiat`"), "{}", errors.0[0].message);
}

#[test]
fn secrets_come_from_the_environment_and_are_never_printed() {
    let env = |name: &str| (name == "PD_KEY").then(|| "s3cr3t-routing-key".to_owned());
    let config = parse("pagerduty:\n  routing_keys:\n    default: { env: PD_KEY }\n", &env).unwrap();
    let secret = config.pagerduty.routing_keys["default"].as_ref().unwrap();
    assert_eq!(secret.expose(), "s3cr3t-routing-key");
    assert!(!format!("{config:?}").contains("s3cr3t"));
    assert!(config.warnings.is_empty());
}

#[test]
fn child_routes_inherit_from_the_root() {
    let text = "route:\n  group_by: [cluster]\n  group_wait: 1m\n  routes:\n    - matchers: ['team=\"db\"']\n      group_interval: 1m\n";
    let config = parse(text, &no_env).unwrap();
    let child = config.engine.routes.get(1);
    assert_eq!(child.group_by, GroupBy::Labels(vec!["cluster".into()]));
    assert_eq!(child.group_wait, Duration::from_secs(60));
    assert_eq!(child.group_interval, Duration::from_secs(60));
    assert_eq!(child.repeat_interval, Duration::from_secs(4 * 3600));
}

#[test]
fn a_secret_in_the_wrong_shape_is_not_echoed() {
    let errors =
        parse("pagerduty:\n  routing_keys:\n    default: \"R0UT1NG-SECRET\"\n", &no_env).unwrap_err();
    let rendered = errors.to_string();
    assert!(!rendered.contains("R0UT1NG-SECRET"), "{rendered}");
    assert!(rendered.starts_with("pagerduty.routing_keys.default: expected { env: NAME }"), "{rendered}");
}

#[test]
fn bad_correlation_rules_are_refused_with_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inventory.json"),
        r#"{"services": {"web": {"depends_on": ["db"]}, "db": {"depends_on": ["web"]}},
            "nodes": ["n1"],
            "maintenance_windows": [
              {"matchers": {"service": "payments"}, "start": "2026-11-02T07:00:00Z", "end": "2026-11-02T08:00:00Z"}]}"#,
    )
    .unwrap();
    let text = r#"
topology:
  file: inventory.json
inhibit_rules:
  - source_matchers: ['severity=~~"critical"']
    target_matchers: ['severity="warning"']
silences:
  - matchers: ['alertname=~"(unclosed"']
    start: 2026-11-02T07:00:00Z
    end: 2026-11-02T08:00:00Z
  - matchers: ['node="n9"']
    weekly: {days: [someday], from: "25:00", to: "02:00"}
patterns:
  - {phrases: [x], action: shout}
"#;
    let context =
        Context { base_dir: Some(dir.path().to_owned()), overrides: Overrides::default(), env: &no_env };
    let errors = parse_in(text, &context).unwrap_err();
    let rendered: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    let file = format!("topology.file ({})", dir.path().join("inventory.json").display());
    let expect = [
        format!("{file}: services.db.depends_on: cycle in depends_on: db -> web -> db"),
        format!(
            "{file}: maintenance_windows[0].matchers.service: unknown service \"payments\": not in the inventory"
        ),
        "inhibit_rules[0].source_matchers[0]: unknown operator \"=~~\"".to_owned(),
        "silences[0].matchers[0]: invalid regex \"(unclosed\"".to_owned(),
        "silences[1].matchers[0]: unknown node \"n9\": not in the inventory".to_owned(),
        "silences[1].weekly.days[0]: unknown day \"someday\"".to_owned(),
        "silences[1].weekly.from: invalid time of day \"25:00\"".to_owned(),
        "patterns[0].action: unknown action \"shout\"".to_owned(),
    ];
    for expected in &expect {
        assert!(
            rendered.iter().any(|error| error.starts_with(expected.as_str())),
            "missing {expected:?} in {rendered:#?}"
        );
    }
}

#[test]
fn the_command_line_topology_overrides_the_config_file_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.json");
    std::fs::write(&path, r#"{"services": {"cart": {"kind": "app"}}}"#).unwrap();
    let overrides = Overrides { topology: Some(path), ..Overrides::default() };
    let context = Context { base_dir: None, overrides, env: &no_env };
    let config = parse_in("topology:\n  file: does-not-exist.json\n", &context).unwrap();
    assert!(config.engine.topology.service_id("cart").is_some());
}

#[test]
fn kafka_defaults_and_errors() {
    let text = "kafka:\n  brokers: k0:9092,k1:9092\n  sources: [{topic: logs, encoding: otlp_proto}]\n  \
                secret_properties:\n    sasl.password: {env: KAFKA_PASSWORD}\n";
    let env = |name: &str| (name == "KAFKA_PASSWORD").then(|| "hunter2".to_owned());
    let kafka = parse(text, &env).unwrap().kafka.unwrap();
    assert_eq!(kafka.group_id, "noisegate");
    assert_eq!(kafka.changelog_topic, "noisegate-changelog");
    assert_eq!(kafka.control_topic, "noisegate-control");
    assert_eq!(kafka.views_topic, "noisegate-views");
    assert_eq!(kafka.forward, None);
    let text = "kafka:\n  brokers: k0:9092\n  forward: {topic: alerts}\n";
    let errors = parse(text, &no_env).unwrap_err();
    assert_eq!(errors.0[0].path, "kafka.forward", "{errors}");
    let text = "kafka:\n  brokers: k0:9092\n  sources: [{topic: alerts, encoding: alertmanager_v2}]\n  forward: {topic: alerts}\n";
    let forward = parse(text, &no_env).unwrap().kafka.unwrap().forward.unwrap();
    assert_eq!((forward.topic.as_str(), forward.key_label.as_str()), ("alerts", "cluster"));
    assert_eq!(kafka.checkpoint_interval, Duration::from_secs(1));
    assert_eq!(kafka.dead_letter, DeadLetter::File(PathBuf::from("noisegate-data/kafka-dead-letter.jsonl")));
    assert_eq!(kafka.sources, [KafkaSource { topic: "logs".into(), encoding: WireFormat::OtlpLogsProto }]);
    assert!(kafka.client().get("sasl.password") == Some("hunter2"));
    // The secret stays out of debug output.
    assert!(!format!("{kafka:?}").contains("hunter2"));

    let text = "kafka:\n  sources:\n    - {topic: a, encoding: avro}\n    - {topic: b, encoding: otlp_json}\n    \
                - {topic: b, encoding: otlp_json}\n  dead_letter_topic: d\n  dead_letter_file: d.jsonl\n  \
                checkpoint_interval: 0s\n";
    let errors = parse(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errors.0.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "kafka.sources[0].encoding",
            "kafka.sources",
            "kafka.dead_letter_topic",
            "kafka.brokers",
            "kafka.checkpoint_interval"
        ]
    );
    assert!(errors.0[0].message.contains("otlp_proto"), "{}", errors.0[0].message);
}

#[test]
fn kafka_tls_properties_are_taken_and_librdkafka_refusals_are_errors() {
    let text = "kafka:\n  brokers: k0:9093\n  sources: [{topic: logs, encoding: otlp_proto}]\n  \
                properties:\n    security.protocol: SSL\n    ssl.ca.location: /etc/kafka/ca.pem\n    \
                ssl.certificate.location: /etc/kafka/client.pem\n    ssl.key.location: /etc/kafka/client-key.pem\n  \
                secret_properties:\n    ssl.key.pem: {env: KEY_PEM}\n    ssl.key.password: {value: s3cret}\n    \
                ssl.certificate.pem: {value: CERT}\n    ssl.ca.pem: {value: CA}\n";
    let env = |name: &str| (name == "KEY_PEM").then(|| "-----BEGIN PRIVATE KEY-----".to_owned());
    let kafka = parse(text, &env).unwrap().kafka.unwrap();
    let client = kafka.client();
    assert_eq!(client.get("security.protocol"), Some("SSL"));
    assert_eq!(client.get("ssl.key.pem"), Some("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(client.get("ssl.key.password"), Some("s3cret"));
    assert_eq!(kafka.connect_timeout, Duration::from_secs(10));
    assert!(!format!("{kafka:?}").contains("BEGIN PRIVATE KEY"));
    let text = "kafka:\n  brokers: k0:9093\n  connect_timeout: 2s\n  properties: {security.protocol: SASL_SSL, sasl.mechanism: SCRAM-SHA-512}\n";
    assert_eq!(parse(text, &no_env).unwrap().kafka.unwrap().connect_timeout, Duration::from_secs(2));

    // What librdkafka refuses is refused by `check`, a secret's value not quoted.
    let text = "kafka:\n  brokers: k0:9093\n  properties: {security.protocol: TLS}\n  \
                secret_properties:\n    ssl.endpoint.identification.algorithm: {value: N0TALGORITHM}\n";
    let errors = parse(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errors.0.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "kafka.properties.security.protocol",
            "kafka.secret_properties.ssl.endpoint.identification.algorithm"
        ]
    );
    assert!(errors.0[0].message.contains("TLS"), "{}", errors.0[0].message);
    assert!(!errors.to_string().contains("N0TALGORITHM"), "{errors}");
}

#[test]
fn secrets_elsewhere_are_not_read_but_their_shape_is_checked() {
    let text = "auth:\n  ingest_tokens:\n    - file: /nonexistent/ingest-token\n    - env: UNSET_TOKEN_VARIABLE\n\
                pagerduty:\n  routing_keys:\n    default: {file: /nonexistent/key, env: BOTH}\n";
    let errors = parse(text, &no_env).unwrap_err().to_string();
    assert!(errors.contains("cannot read secret file"), "{errors}");
    let overrides = Overrides { secrets_elsewhere: true, ..Overrides::default() };
    let context = Context { base_dir: None, overrides, env: &no_env };
    let errors = parse_in(text, &context).unwrap_err().0;
    let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(paths, vec!["pagerduty.routing_keys.default"], "only the misshapen secret: {errors:?}");
    let fixed = text.replace("{file: /nonexistent/key, env: BOTH}", "{file: /nonexistent/key}");
    assert!(parse_in(&fixed, &context).is_ok());
}

#[test]
fn the_standard_catalog_is_whole_and_the_config_extends_and_overrides_it() {
    use noisegate_engine::catalog::AlertClass;
    let standard = rules::standard_catalog().unwrap();
    assert!(standard.len() >= 130, "{} entries", standard.len());
    for (name, class) in [
        ("KubePodCrashLooping", AlertClass::Availability),
        ("KubeNodeUnreachable", AlertClass::Availability),
        ("KubeCPUOvercommit", AlertClass::Saturation),
        ("CPUThrottlingHigh", AlertClass::Saturation),
        ("KubeClientCertificateExpiration", AlertClass::Deadline),
        ("NodeFilesystemSpaceFillingUp", AlertClass::Deadline),
        ("Watchdog", AlertClass::Meta),
        ("InfoInhibitor", AlertClass::Meta),
    ] {
        assert_eq!(standard.class(name), Some(class), "{name}");
    }
    assert!(standard.get("KubeNodeNotReady").is_some_and(|entry| entry.down));
    assert!(standard.get("KubeNodeUnschedulable").is_some_and(|entry| entry.cordon));
    assert_eq!(&*standard.get("TargetDown").unwrap().source, "kube-prometheus");

    let config = parse(
        "catalog:\n  alerts:\n    - {name: CheckoutBurn, class: availability}\n    - {name: KubeCPUOvercommit, class: availability}\n",
        &no_env,
    )
    .unwrap();
    let catalog = &config.engine.catalog;
    assert_eq!(catalog.class("CheckoutBurn"), Some(AlertClass::Availability));
    assert_eq!(&*catalog.get("CheckoutBurn").unwrap().source, "config");
    assert_eq!(catalog.class("KubeCPUOvercommit"), Some(AlertClass::Availability), "the config overrides");
    assert_eq!(catalog.class("KubePodNotReady"), Some(AlertClass::Availability), "the standard stays");
    // The catalog implies that a cordoned node's down alerts are inhibited.
    assert!(config.engine.inhibit_rules.iter().any(|rule| rule.name.contains("cordoned")));

    let without =
        parse("catalog: {standard: false, alerts: [{name: Mine, class: meta}]}\n", &no_env).unwrap();
    assert_eq!(without.engine.catalog.len(), 1);

    let errors = parse(
        "catalog:\n  alerts:\n    - {name: X, class: urgent}\n    - {name: '', class: meta}\n    - {name: Y, class: meta, source: mine}\n",
        &no_env,
    )
    .unwrap_err();
    let paths: Vec<&str> = errors.0.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(paths, vec!["catalog.alerts[0].class", "catalog.alerts[1].name", "catalog.alerts[2]"]);
    assert!(errors.to_string().contains("unknown class \"urgent\""), "{errors}");
}

#[test]
fn opsgenie_destinations_regions_and_priorities() {
    let text = r#"
opsgenie:
  region: eu
  api_keys:
    ops: { value: "0b5e55ed" }
  priority: { low: P4 }
route:
  destination: ops
"#;
    let config = parse(text, &no_env).unwrap();
    assert_eq!(config.opsgenie.url, crate::sinks::opsgenie::EU_URL);
    assert_eq!(config.opsgenie.priority, Priorities { high: Priority::P1, low: Priority::P4 });
    assert_eq!(config.opsgenie.delivery.rate_limit.events_per_minute, 60);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let text = r#"
pagerduty:
  routing_keys:
    ops: { value: "R0UT1NG" }
opsgenie:
  region: mars
  api_keys:
    ops: { value: "0b5e55ed" }
  priority: { high: urgent }
  rate_limit: { burst: 0 }
route:
  routes:
    - destination: ops
      routing_key: ops
    - destination: nowhere
"#;
    let errors = parse(text, &no_env).unwrap_err();
    let paths: Vec<&str> = errors.0.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "opsgenie.region",
            "opsgenie.priority.high",
            "opsgenie.rate_limit.burst",
            "opsgenie.api_keys.ops",
            "route.routes[0].destination",
            "route.routes[1].destination",
        ]
    );
    let rendered = errors.to_string();
    assert!(rendered.contains("unknown destination \"nowhere\""), "{rendered}");
    assert!(rendered.contains("destination's name must be unique"), "{rendered}");
}
