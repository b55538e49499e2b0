//! The digest: incidents that deserve a look but not a page, batched and posted periodically to
//! a webhook as Slack-compatible JSON (`{"text": ...}`), or logged when no webhook is set.

use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use noisegate_engine::Page;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    pub webhook_url: Option<String>,
    pub interval: Duration,
}

pub struct DigestSink {
    config: DigestConfig,
    client: reqwest::Client,
    pending: Vec<String>,
}

impl DigestSink {
    pub fn new(config: DigestConfig, client: reqwest::Client) -> DigestSink {
        DigestSink { config, client, pending: Vec::new() }
    }

    /// Collects digest items and sends them every interval, and once more when the engine
    /// closes the channel (or shutdown is called).
    pub async fn run(mut self, mut items: mpsc::Receiver<Page>, cancel: CancellationToken) {
        let mut interval = tokio::time::interval(self.config.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                item = items.recv() => match item {
                    Some(page) => self.pending.push(line(&page)),
                    None => break,
                },
                _ = interval.tick() => self.send().await,
                () = cancel.cancelled() => break,
            }
        }
        self.send().await;
    }

    async fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let count = self.pending.len();
        let text =
            format!("noisegate digest: {count} incident(s) that did not page\n{}", self.pending.join("\n"));
        let Some(url) = &self.config.webhook_url else {
            tracing::info!(incidents = count, digest = %text, "digest (no digest.webhook_url set)");
            self.pending.clear();
            return;
        };
        let body = json!({ "text": text });
        for attempt in 1..=3u32 {
            match self.client.post(url).json_body(&body).send().await {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(incidents = count, "digest sent");
                    self.pending.clear();
                    return;
                }
                Ok(response) => {
                    tracing::warn!(status = response.status().as_u16(), attempt, "digest webhook refused")
                }
                Err(error) => tracing::warn!(%error, attempt, "digest webhook unreachable"),
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        tracing::error!(incidents = count, "digest not delivered; kept for the next one");
    }
}

/// One incident's line: score, severity, summary.
fn line(page: &Page) -> String {
    let incident = &page.incident;
    let names: Vec<&str> = incident.alerts.iter().filter_map(|alert| alert.labels.get("alertname")).collect();
    let mut unique: Vec<&str> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    let context: Vec<&str> = incident.group_labels.iter().map(|(_, value)| value).collect();
    format!(
        "• [{}] {} ({}) score {:.2} since {} ({})",
        incident.severity.as_str(),
        unique.join(", "),
        context.join(", "),
        incident.score,
        incident.opened_at,
        page.dedup_key
    )
}

/// `reqwest` is built without its `json` feature; this sets the body and content type.
trait JsonBody {
    fn json_body(self, value: &serde_json::Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &serde_json::Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json").body(value.to_string())
    }
}
