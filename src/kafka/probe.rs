//! The brokers probed once at startup, before anything is consumed: a wrong CA, a refused client
//! certificate, bad SASL credentials or brokers out of reach are a startup error naming the
//! brokers and librdkafka's own words, not a client retrying quietly forever.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};

use super::KafkaConfig;

/// How long one metadata request may wait before the errors seen so far are looked at.
const STEP: Duration = Duration::from_millis(250);

/// Asks the brokers for the metadata of the first source topic (no topic is created) until
/// one answers, for at most `timeout`. TLS and authentication failures end it at once; other
/// failures (refused, unreachable) are retried until the timeout. Blocking.
pub fn probe(config: &KafkaConfig, timeout: Duration) -> Result<(), String> {
    let protocol = config.client().get("security.protocol").unwrap_or("PLAINTEXT").to_ascii_uppercase();
    let what = format!("kafka: cannot connect to {} over {protocol}", config.brokers);
    let producer: BaseProducer<Probe> = config
        .client()
        .set("allow.auto.create.topics", "false")
        .create_with_context(Probe::default())
        .map_err(|error| format!("{what}: cannot create a client: {error}"))?;
    let topic = config.sources.first().map_or(config.changelog_topic.as_str(), |source| &source.topic);
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = producer.client().fetch_metadata(Some(topic), left.min(STEP));
        // Serves the error callbacks.
        producer.poll(Duration::ZERO);
        let context = producer.context();
        match answer {
            Ok(_) => return Ok(()),
            Err(error) => {
                if let Some(fatal) = context.fatal() {
                    return Err(format!("{what}: {fatal}{}", hint(&fatal)));
                }
                if Instant::now() >= deadline {
                    let seen = context.seen();
                    let why = if seen.is_empty() { error.to_string() } else { seen.join("; ") };
                    return Err(format!("{what} within {timeout:?}: {why}{}", hint(&why)));
                }
            }
        }
    }
}

/// What to look at, for the failures whose cause is known.
fn hint(reason: &str) -> &'static str {
    if reason.contains("certificate verify failed") {
        " (the brokers' certificate is not signed by the configured CA: check ssl.ca.location or ssl.ca.pem)"
    } else if reason.contains("unknown ca")
        || reason.contains("certificate required")
        || reason.contains("bad certificate")
    {
        " (the brokers refused the client certificate: check ssl.certificate.location and ssl.key.location, or their .pem properties)"
    } else if reason.contains("might be caused by incorrect security.protocol") {
        " (check security.protocol)"
    } else if reason.contains("SASL authentication") || reason.contains("Authentication failed") {
        " (check sasl.mechanism, sasl.username and sasl.password)"
    } else {
        ""
    }
}

/// The probe client's errors, kept for the report (and logged as every client's are).
#[derive(Default)]
struct Probe {
    errors: Mutex<Vec<(RDKafkaErrorCode, String)>>,
}

impl Probe {
    fn errors(&self) -> std::sync::MutexGuard<'_, Vec<(RDKafkaErrorCode, String)>> {
        self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A TLS or authentication failure (the handshake's, or an alert the broker sent after it,
    /// as for a refused client certificate): retrying does not mend it.
    fn fatal(&self) -> Option<String> {
        self.errors()
            .iter()
            .find(|(code, reason)| {
                matches!(code, RDKafkaErrorCode::SSL | RDKafkaErrorCode::Authentication)
                    || (reason.contains("SSL routines") && !reason.contains("unexpected eof"))
            })
            .map(|(_, reason)| reason.clone())
    }

    /// Every distinct reason (told apart without librdkafka's "(after 3ms in state ...)"), but
    /// "all brokers are down", which the others explain.
    fn seen(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let mut keys: Vec<&str> = Vec::new();
        let errors = self.errors();
        for (code, reason) in errors.iter() {
            let key = reason.split(" (after ").next().unwrap_or(reason);
            if *code != RDKafkaErrorCode::AllBrokersDown && !keys.contains(&key) {
                keys.push(key);
                seen.push(reason.clone());
            }
        }
        seen
    }
}

impl ClientContext for Probe {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        super::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        self.errors().push((code, reason.to_owned()));
    }
}

impl ProducerContext for Probe {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}
