//! Kafka load for `benches/kafka.sh`, in two steps:
//!
//! ```sh
//! # Fill a topic: messages of OTLP ExportLogsServiceRequest (protobuf), each `records` OTel SDK
//! # log records of about 300 bytes (1 in 50 an alert, as loadgen's), over the topic's partitions.
//! cargo run --release --example kafka_load -- produce 127.0.0.1:9092 logs 4 2000 250
//! #                                                    brokers        topic partitions messages records
//! # Watch a noisegate consuming it, until it accepted `total` records; prints the rate.
//! cargo run --release --example kafka_load -- watch http://127.0.0.1:9464/metrics 500000
//! ```

use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

#[path = "common/telemetry.rs"]
#[allow(dead_code)] // the alerts are for loadgen
mod telemetry;

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
        let payload = telemetry::logs_request(index * records as u64, records, 100_000, 0.02).encode_to_vec();
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
