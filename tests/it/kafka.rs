//! Kafka against a real Kafka-protocol broker: tansu, started on 127.0.0.1 for each test (and
//! fetched by `tools/fetch-tansu` when missing), with rdkafka clients on both sides.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

use crate::otlp::{kv, record, request};
use crate::support::{FakePagerDuty, PATIENCE, Process, TestServer, alert_names, config_with};

/// The broker binary: `$NOISEGATE_TANSU`, or the one `tools/fetch-tansu` fetches.
fn tansu() -> &'static PathBuf {
    static TANSU: OnceLock<PathBuf> = OnceLock::new();
    TANSU.get_or_init(|| {
        if let Some(path) = std::env::var_os("NOISEGATE_TANSU") {
            return PathBuf::from(path);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/fetch-tansu");
        let output = std::process::Command::new(script).output().expect("tools/fetch-tansu runs");
        assert!(
            output.status.success(),
            "tools/fetch-tansu failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// A tansu broker on a free loopback port, in memory, stopped when dropped.
pub struct Broker {
    child: std::process::Child,
    /// Where clients bootstrap: its own port, or what it advertises.
    pub address: String,
    /// librdkafka properties of the test's clients (`security.protocol`, ...).
    pub properties: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Broker {
    pub fn start() -> Broker {
        let port = free_port();
        Broker::start_on(port, &format!("127.0.0.1:{port}"))
    }

    /// A broker listening on `port` in plain text that tells clients to connect to `advertised`
    /// (a TLS terminator in front of it), which is its `address`.
    pub fn start_on(port: u16, advertised: &str) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://{advertised}");
        // An empty working directory: tansu reads a `.env` file from it.
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &advertised_url])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu starts");
        let stdout = child.stdout.take().unwrap();
        let (ready, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready in") {
                    let _ = ready.send(());
                }
            }
        });
        wait.recv_timeout(PATIENCE).expect("tansu is ready in time");
        Broker { child, address: advertised.to_owned(), properties: Vec::new(), _dir: dir }
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.address);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.client().create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin.create_topics([&topic], &AdminOptions::new()).await.unwrap();
        for result in results {
            result.unwrap_or_else(|(topic, error)| panic!("cannot create {topic}: {error}"));
        }
    }

    pub fn producer(&self) -> FutureProducer {
        self.client().create().unwrap()
    }

    /// Reads `topic` from the beginning until `done` holds for what was read.
    pub fn read(&self, topic: &str, partitions: i32, done: impl Fn(&[Read]) -> bool) -> Vec<Read> {
        let consumer: BaseConsumer =
            self.client().set("group.id", "test-reader").set("enable.auto.commit", "false").create().unwrap();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut read = Vec::new();
        while !done(&read) {
            assert!(std::time::Instant::now() < deadline, "{topic} did not get what was awaited: {read:#?}");
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let headers = message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|header| {
                                let value = header.value.map(String::from_utf8_lossy).unwrap_or_default();
                                (header.key.to_owned(), value.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                read.push(Read {
                    key: message.key().map(|key| String::from_utf8_lossy(key).into_owned()),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
        }
        read
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Read {
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

pub async fn produce(producer: &FutureProducer, topic: &str, partition: i32, payload: &[u8]) {
    let record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(payload).partition(partition);
    producer.send(record, PATIENCE).await.map_err(|(error, _)| error).expect("the broker takes the message");
}

/// The `kafka:` section: the group's timing shortened (tansu waits half the session timeout
/// before a join completes) and checkpoints frequent.
pub fn kafka_yaml(broker: &Broker, group: &str, sources: &str, extra: &str) -> String {
    format!(
        r#"
kafka:
  brokers: "{}"
  group_id: {group}
  checkpoint_interval: 100ms
  properties:
    session.timeout.ms: "2000"
    heartbeat.interval.ms: "500"
  sources:
{sources}
{extra}
route:
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
"#,
        broker.address
    )
}

fn alertmanager(name: &str, resolved: bool) -> Vec<u8> {
    let ends = if resolved { r#","endsAt":"2020-01-01T00:00:00Z""# } else { "" };
    format!(r#"[{{"labels":{{"alertname":"{name}","severity":"critical"}}{ends}}}]"#).into_bytes()
}

/// Per dedup key: the actions PagerDuty received, in order.
fn actions(events: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut actions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in events {
        actions
            .entry(event["dedup_key"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(event["event_action"].as_str().unwrap_or_default().to_owned());
    }
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_messages_are_paged_decisions_published_and_a_malformed_one_dead_lettered() {
    let broker = Broker::start();
    broker.create_topic("otlp-proto", 2).await;
    broker.create_topic("otlp-json", 1).await;
    broker.create_topic("dead", 1).await;
    broker.create_topic("decisions", 1).await;
    let pagerduty = FakePagerDuty::start().await;
    let sources =
        "    - {topic: otlp-proto, encoding: otlp_proto}\n    - {topic: otlp-json, encoding: otlp_json}";
    let extra = "  dead_letter_topic: dead\n  decisions_topic: decisions";
    let config = config_with(&pagerduty.url, "", &kafka_yaml(&broker, "first", sources, extra));
    let server = TestServer::start(&config).await;

    let producer = broker.producer();
    // Garbage first: the partition must move past it.
    produce(&producer, "otlp-proto", 0, b"\xff\xffnot protobuf").await;
    let proto = request("checkout", vec![record(vec![kv("alertname", "KafkaProto")], "down", 17)]);
    produce(&producer, "otlp-proto", 0, &proto.encode_to_vec()).await;
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},
        "scopeLogs":[{"logRecords":[{"severityNumber":17,"body":{"stringValue":"cart down"},
        "attributes":[{"key":"alertname","value":{"stringValue":"KafkaJson"}}]}]}]}]}"#;
    produce(&producer, "otlp-json", 0, json.as_bytes()).await;

    let events = pagerduty.wait_events(2).await;
    let mut names: Vec<String> = events.iter().flat_map(alert_names).collect();
    names.sort();
    assert_eq!(names, ["KafkaJson", "KafkaProto"]);

    let dead = broker.read("dead", 1, |read| !read.is_empty());
    assert_eq!(dead[0].payload, b"\xff\xffnot protobuf");
    assert_eq!(dead[0].headers["noisegate.source"], "otlp-proto/0/0");
    assert_eq!(dead[0].headers["noisegate.reason"], "malformed");
    assert!(dead[0].headers["noisegate.error"].contains("ExportLogsServiceRequest"), "{:?}", dead[0].headers);
    assert_eq!(server.metric("noisegate_kafka_dead_lettered_total").await, 1.0);
    assert_eq!(server.metric("noisegate_accepted_records_total{source=\"kafka\"}").await, 2.0);

    // Every decision, keyed by incident, readable by any consumer.
    let keys: Vec<String> =
        events.iter().map(|event| event["dedup_key"].as_str().unwrap().to_owned()).collect();
    let decisions = broker.read("decisions", 1, |read| {
        keys.iter().all(|key| {
            read.iter().any(|message| {
                let decision: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
                message.key.as_deref() == Some(key.as_str()) && decision["decision"] == "paged"
            })
        })
    });
    let opened: Value = serde_json::from_slice(&decisions[0].payload).unwrap();
    assert_eq!(opened["decision"], "opened");
    assert!(opened["why"].is_array(), "{opened}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_stream_and_restarted_it_neither_loses_nor_repeats_a_page() {
    const KINDS: usize = 8;
    let broker = Broker::start();
    broker.create_topic("storm", 2).await;
    let pagerduty = FakePagerDuty::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sources = "    - {topic: storm, encoding: alertmanager_v2}";
    let yaml = config_with(&pagerduty.url, "", &kafka_yaml(&broker, "storm", sources, ""));
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("{yaml}\nstorage:\n  dir: data\n")).unwrap();
    let producer = broker.producer();
    let name = |kind: usize| format!("Storm{kind}");
    let send = |kinds: std::ops::Range<usize>, resolved: bool| {
        let producer = producer.clone();
        async move {
            for kind in kinds {
                produce(&producer, "storm", (kind % 2) as i32, &alertmanager(&name(kind), resolved)).await;
            }
        }
    };
    let start = || {
        let (config, dir) = (config.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || Process::serve(&config, &dir))
    };
    let kill = |process: Process| tokio::task::spawn_blocking(move || process.kill());
    let triggered = |events: &[Value], kinds: std::ops::Range<usize>| {
        let actions = actions(events);
        let names: Vec<String> = events.iter().flat_map(alert_names).collect();
        kinds.clone().all(|kind| names.contains(&name(kind))) && actions.values().all(|list| !list.is_empty())
    };

    // Killed while it reads the first half.
    let process = start().await.unwrap();
    send(0..KINDS / 2, false).await;
    kill(process).await.unwrap();
    let process = start().await.unwrap();
    pagerduty.wait_for("the first half paged", |events| triggered(events, 0..KINDS / 2)).await;

    // Killed while it reads the second half and the first half again.
    send(KINDS / 2..KINDS, false).await;
    send(0..KINDS / 2, false).await;
    kill(process).await.unwrap();
    let process = start().await.unwrap();
    pagerduty.wait_for("everything paged", |events| triggered(events, 0..KINDS)).await;

    // Killed while it reads the resolves.
    send(0..KINDS, true).await;
    kill(process).await.unwrap();
    let process = start().await.unwrap();
    let events = pagerduty
        .wait_for("everything resolved", |events| {
            let actions = actions(events);
            actions.len() == KINDS
                && actions.values().all(|list| list.last().map(String::as_str) == Some("resolve"))
        })
        .await;
    let (code, _) = tokio::task::spawn_blocking(move || process.terminate()).await.unwrap();
    assert_eq!(code, Some(0));
    for (key, list) in actions(&pagerduty.events()) {
        assert_eq!(list, ["trigger", "resolve"], "{key}: {events:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_partitions_and_one_takes_over_the_others_incidents() {
    const PARTITIONS: i32 = 4;
    let broker = Broker::start();
    broker.create_topic("shared", PARTITIONS).await;
    let pagerduty = FakePagerDuty::start().await;
    let sources = "    - {topic: shared, encoding: alertmanager_v2}";
    let replica = |name: &str| {
        config_with(
            &pagerduty.url,
            &format!("  client_url: \"http://{name}\""),
            &kafka_yaml(&broker, "replicas", sources, ""),
        )
    };
    let producer = broker.producer();
    let first = TestServer::start(&replica("first")).await;

    // One incident per partition, all on the first replica.
    for partition in 0..PARTITIONS {
        produce(&producer, "shared", partition, &alertmanager(&format!("Open{partition}"), false)).await;
    }
    let opened: Vec<String> = pagerduty
        .wait_events(PARTITIONS as usize)
        .await
        .iter()
        .map(|event| event["dedup_key"].as_str().unwrap().to_owned())
        .collect();

    // A second replica joins: the group splits the partitions. Probes find out when.
    let second = TestServer::start(&replica("second")).await;
    let mut round = 0;
    loop {
        round += 1;
        assert!(round <= 30, "the second replica never got a partition");
        for partition in 0..PARTITIONS {
            produce(
                &producer,
                "shared",
                partition,
                &alertmanager(&format!("Probe{round}x{partition}"), false),
            )
            .await;
        }
        let probe = format!("Probe{round}x");
        let events = pagerduty
            .wait_for("the probes paged", |events| {
                events.iter().flat_map(alert_names).filter(|name| name.starts_with(&probe)).count()
                    == PARTITIONS as usize
            })
            .await;
        let senders: std::collections::BTreeSet<&str> = events
            .iter()
            .filter(|event| alert_names(event).iter().any(|name| name.starts_with(&probe)))
            .filter_map(|event| event["client_url"].as_str())
            .collect();
        if senders.len() == 2 {
            break;
        }
    }

    // The first stops; the second takes over its partitions with their state.
    first.stop().await;
    for partition in 0..PARTITIONS {
        produce(&producer, "shared", partition, &alertmanager(&format!("Open{partition}"), true)).await;
    }
    let events = pagerduty
        .wait_for("every first incident resolved", |events| {
            opened.iter().all(|key| {
                events
                    .iter()
                    .any(|event| event["event_action"] == "resolve" && event["dedup_key"] == key.as_str())
            })
        })
        .await;
    second.stop().await;
    // Never paged twice, whoever sent it.
    for (key, list) in actions(&events) {
        assert_eq!(list.iter().filter(|action| *action == "trigger").count(), 1, "{key}: {list:?}");
    }
    let resolvers: Vec<&str> = events
        .iter()
        .filter(|event| event["event_action"] == "resolve")
        .filter_map(|event| event["client_url"].as_str())
        .collect();
    assert!(resolvers.iter().all(|sender| *sender == "http://second"), "{resolvers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_alert_cap_consumption_pauses_until_the_state_shrinks() {
    let broker = Broker::start();
    broker.create_topic("capped", 1).await;
    let pagerduty = FakePagerDuty::start().await;
    let sources = "    - {topic: capped, encoding: alertmanager_v2}";
    let yaml = format!("{}\nlimits:\n  max_active_alerts: 1\n", kafka_yaml(&broker, "capped", sources, ""));
    let server = TestServer::start(&config_with(&pagerduty.url, "", &yaml)).await;
    let producer = broker.producer();

    // The first alert fills the cap until it ends by itself, a few seconds on.
    let ends = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(8);
    let first = format!(r#"[{{"labels":{{"alertname":"First","severity":"critical"}},"endsAt":"{ends}"}}]"#);
    produce(&producer, "capped", 0, first.as_bytes()).await;
    pagerduty
        .wait_for("the first alert paged", |events| {
            events.iter().any(|event| alert_names(event) == ["First"])
        })
        .await;
    produce(&producer, "capped", 0, &alertmanager("Second", false)).await;
    server.wait_metric("noisegate_limit_hits_total{limit=\"kafka_paused\"}", |hits| hits >= 1.0).await;

    // Once the first has ended and its incident resolved, the second is read and paged.
    let events = pagerduty
        .wait_for("the second alert paged", |events| {
            events.iter().any(|event| alert_names(event) == ["Second"])
        })
        .await;
    let resolved =
        events.iter().position(|event| event["event_action"] == "resolve").expect("the first resolved");
    let second = events.iter().position(|event| alert_names(event) == ["Second"]).unwrap();
    assert!(resolved < second, "{events:#?}");
    server.stop().await;
}

/// What spans teach one partition's engine, the engine of another partition (another topic)
/// knows: a pod's alert arriving there goes with the failure of the node the spans placed it on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_partition_learns_correlates_the_alerts_of_another() {
    let broker = Broker::start();
    broker.create_topic("traces", 1).await;
    broker.create_topic("alerts", 1).await;
    let pagerduty = FakePagerDuty::start().await;
    let sources =
        "    - {topic: traces, encoding: otlp_traces_json}\n    - {topic: alerts, encoding: alertmanager_v2}";
    let config = config_with(&pagerduty.url, "", &kafka_yaml(&broker, "learning", sources, ""));
    let server = TestServer::start(&config).await;
    let producer = broker.producer();
    let traces = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"db"}},
        {"key":"k8s.pod.name","value":{"stringValue":"db-0"}},
        {"key":"k8s.node.name","value":{"stringValue":"node-b"}}]},
      "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "name":"query","kind":2}]}]}]}"#;
    produce(&producer, "traces", 0, traces.as_bytes()).await;
    server.wait_metric("noisegate_inventory_entries{kind=\"pod\"}", |pods| pods >= 1.0).await;

    let alerts = r#"[{"labels": {"alertname": "KubeNodeNotReady", "node": "node-b", "severity": "critical"}},
                     {"labels": {"alertname": "KubePodNotReady", "pod": "db-0", "severity": "critical"}}]"#;
    produce(&producer, "alerts", 0, alerts.as_bytes()).await;
    let events = pagerduty.wait_events(1).await;
    let mut names = alert_names(&events[0]);
    names.sort();
    assert_eq!(names, ["KubeNodeNotReady", "KubePodNotReady/db-0"], "{events:#?}");
    assert_eq!(events.len(), 1, "{events:#?}");
    server.stop().await;
}
