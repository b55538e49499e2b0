//! The pages file: one JSON line per PagerDuty event that was (or would have been) sent, with
//! the event time of the decision. `replay --pages-out` writes it; `serve` writes it instead of
//! calling PagerDuty when no routing key is set.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::pagerduty::dto::EventBody;
use noisegate_engine::Page;
use noisegate_engine::model::EventTime;

#[derive(Serialize)]
struct Line<'a> {
    at: String,
    event: EventBody<'a>,
}

pub struct PagesWriter {
    out: Box<dyn Write + Send + Sync>,
}

impl PagesWriter {
    pub fn stdout() -> PagesWriter {
        PagesWriter { out: Box::new(io::stdout()) }
    }

    pub fn create(path: &Path) -> io::Result<PagesWriter> {
        let file = File::create(path)?;
        Ok(PagesWriter { out: Box::new(BufWriter::new(file)) })
    }

    /// Writes one page. The routing key field holds the key's *name* from the config, never
    /// the secret.
    pub fn write(&mut self, page: &Page, client_url: Option<&str>) -> io::Result<()> {
        let line =
            Line { at: page.at.to_string(), event: EventBody::new(page, &page.routing_key, client_url) };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    /// Writes one event as the outbox keeps it (already JSON, the routing key's name in it).
    pub fn write_raw(&mut self, at: EventTime, event: &str) -> io::Result<()> {
        writeln!(self.out, r#"{{"at":"{at}","event":{event}}}"#)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
