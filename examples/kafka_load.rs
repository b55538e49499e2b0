//! Kafka load for `benches/kafka.sh`, in two steps:
//!
//! ```sh
//! # Fill a topic: messages of OTLP ExportLogsServiceRequest (protobuf), each `records` log
//! # records of about 300 bytes (1 in 50 an alert), spread over the topic's partitions.
//! cargo run --release --example kafka_load -- produce 127.0.0.1:9092 logs 4 2000 250
//! #                                                    brokers        topic partitions messages records
//! # Watch a noisegate consuming it, until it accepted `total` records; prints the rate.
//! cargo run --release --example kafka_load -- watch http://127.0.0.1:9464/metrics 500000
//! ```

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

const SERVICES: [&str; 8] =
    ["checkout", "cart", "payment", "shipping", "frontend", "catalog", "currency", "recommendation"];
const TEMPLATES: [&str; 6] = [
    "GET /api/products/{} 200 in {}ms",
    "connection to redis-cart:6379 failed: timeout after {}ms (attempt {})",
    "order {} placed for user {}",
    "payment declined for order {}: card expired ({})",
    "cache miss for key product:{} after {}us",
    "slow query on orders table: {} rows in {}ms",
];

fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) })
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), value: text(value), ..Default::default() }
}

/// One message: `records` records of one service, like an OTel SDK's batch.
fn message(index: u64, records: usize) -> Vec<u8> {
    let service = SERVICES[(index % SERVICES.len() as u64) as usize];
    let mut log_records = Vec::with_capacity(records);
    for record in 0..records as u64 {
        let n = index * records as u64 + record;
        let template = TEMPLATES[(n % TEMPLATES.len() as u64) as usize];
        let body =
            template.replacen("{}", &(n % 9973).to_string(), 1).replacen("{}", &(n % 97).to_string(), 1);
        let mut attributes = vec![
            kv("http.route", "/api/products"),
            kv("k8s.pod.name", &format!("{service}-7d9f8b6c5-{:05}", n % 3)),
            kv("thread.name", "worker-3"),
        ];
        if n % 50 == 0 {
            attributes.push(kv("alertname", &format!("{service}ErrorRate")));
            attributes.push(kv("severity", "warning"));
        }
        log_records.push(LogRecord {
            time_unix_nano: 1_793_577_604_000_000_000 + n * 1_000_000,
            observed_time_unix_nano: 1_793_577_604_000_000_000 + n * 1_000_000,
            severity_number: if n % 7 == 0 { 17 } else { 9 },
            severity_text: if n % 7 == 0 { "ERROR".into() } else { "INFO".into() },
            body: text(&body),
            attributes,
            trace_id: vec![7; 16],
            span_id: vec![3; 8],
            ..Default::default()
        });
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", service),
                    kv("k8s.namespace.name", "shop"),
                    kv("k8s.cluster.name", "prod-eu-1"),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn produce(brokers: &str, topic: &str, partitions: i32, messages: u64, records: usize) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    let admin: AdminClient<DefaultClientContext> = config.create().expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics([&new], &AdminOptions::new()).await.expect("create topic") {
        result.expect("topic created");
    }
    let producer: FutureProducer = config
        .clone()
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "100000")
        .create()
        .expect("producer");
    let started = Instant::now();
    let mut bytes = 0;
    let mut deliveries = Vec::new();
    for index in 0..messages {
        let payload = message(index, records);
        bytes += payload.len();
        let record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).payload(&payload[..]).partition((index % partitions as u64) as i32);
        deliveries.push(producer.send_result(record).map_err(|(error, _)| error).expect("queued"));
        if deliveries.len() >= 500 {
            for delivery in deliveries.drain(..) {
                delivery.await.expect("not cancelled").map_err(|(error, _)| error).expect("delivered");
            }
        }
    }
    for delivery in deliveries {
        delivery.await.expect("not cancelled").map_err(|(error, _)| error).expect("delivered");
    }
    println!(
        "produced {messages} messages, {} records, {} MB, in {:.1}s",
        messages * records as u64,
        bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
}

async fn accepted(client: &reqwest::Client, url: &str) -> f64 {
    let Ok(response) = client.get(url).send().await else { return 0.0 };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("noisegate_accepted_records_total{source=\"kafka\"} "))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn watch(url: &str, total: f64) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    // From the first record accepted (the group join is not part of the rate).
    let (mut first, mut started) = (0.0, None);
    let mut last = 0.0;
    while Instant::now() < deadline {
        let now = accepted(&client, url).await;
        if started.is_none() && now > 0.0 {
            (first, started) = (now, Some(Instant::now()));
        }
        if now >= total {
            let elapsed = started.map_or(0.0, |started| started.elapsed().as_secs_f64());
            println!(
                "accepted {now} records; {:.0} records/s over {elapsed:.2}s",
                (now - first) / elapsed.max(1e-9)
            );
            return;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("gave up: {last} of {total} records accepted");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize| args.get(index).map(String::as_str).unwrap_or_default();
    match arg(0) {
        "produce" => {
            produce(
                arg(1),
                arg(2),
                arg(3).parse().expect("partitions"),
                arg(4).parse().expect("messages"),
                arg(5).parse().expect("records per message"),
            )
            .await
        }
        "watch" => watch(arg(1), arg(2).parse().expect("total records")).await,
        _ => {
            eprintln!(
                "usage: kafka_load produce BROKERS TOPIC PARTITIONS MESSAGES RECORDS | watch METRICS_URL TOTAL"
            );
            std::process::exit(2);
        }
    }
}
