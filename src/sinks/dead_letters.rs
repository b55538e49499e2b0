//! The dead-letter file: one JSON line per page given up on, with why and what its sink would
//! have sent (no secret in it).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::page::StoredPage;
use super::sink::Sink;
use crate::metrics::{Metrics, PageFailure};
use crate::storage::OutboxEvent;

/// The dead-letter file.
pub struct DeadLetters {
    path: PathBuf,
    metrics: Arc<Metrics>,
}

impl DeadLetters {
    pub fn new(path: PathBuf, metrics: Arc<Metrics>) -> DeadLetters {
        DeadLetters { path, metrics }
    }

    /// Appends the page with what its sink had still to send (no secret in it: the requests
    /// after the `accepted` first ones); returns whether it was written (if not, it stays in the
    /// outbox).
    pub(super) fn write(
        &self,
        event: &OutboxEvent,
        sink: &dyn Sink,
        accepted: usize,
        failure: PageFailure,
        detail: &str,
    ) -> bool {
        self.metrics.page_failed(failure);
        tracing::error!(
            dedup_key = %event.dedup_key,
            destination = %event.destination,
            sink = sink.name(),
            reason = failure.as_str(),
            %detail,
            file = %self.path.display(),
            "page not delivered: written to the dead-letter file"
        );
        let requests = StoredPage::parse(&event.body)
            .and_then(|page| sink.requests(&page, None))
            .map(|requests| requests.into_iter().skip(accepted).collect::<Vec<_>>());
        let shown = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).ok();
        let (sent, requests) = match &requests {
            // One request: the event itself, as PagerDuty's dead letters always showed it.
            Ok(requests) if requests.len() == 1 => (shown(&requests[0].body), None),
            Ok(requests) => (
                None,
                Some(
                    requests
                        .iter()
                        .map(|request| {
                            serde_json::json!({
                                "method": request.method.as_str(),
                                "url": request.url,
                                "body": shown(&request.body),
                            })
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
            Err(_) => (None, None),
        };
        let mut line = serde_json::json!({
            "dead_lettered_at": crate::clock::now().to_string(),
            "reason": failure.as_str(),
            "detail": detail,
            "at": event.at.to_string(),
            "sink": sink.name(),
            "destination": &*event.destination,
        });
        if let Some(fields) = line.as_object_mut() {
            match (sent, requests) {
                (Some(sent), _) => fields.insert("event".to_owned(), sent),
                (None, Some(requests)) => fields.insert("requests".to_owned(), requests.into()),
                // Unreadable: the page as stored, so nothing is lost.
                (None, None) => fields.insert("page".to_owned(), event.body.clone().into()),
            };
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| writeln!(file, "{line}").and_then(|()| file.sync_data()));
        match written {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, file = %self.path.display(), "cannot write the dead-letter file; the page stays in the outbox");
                false
            }
        }
    }
}
