//! The pages file: one JSON line per page that was (or would have been) sent, as a PagerDuty
//! Events API event, with the event time of the decision. `replay --pages-out` writes it;
//! `serve` writes it for pages whose destination has no key set.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::page::{PageBody, StoredPage};
use super::pagerduty;
use noisegate_engine::Page;
use noisegate_engine::model::EventTime;

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

    /// Writes one page as the outbox would keep it and PagerDuty would get it. The routing key
    /// field holds the destination's *name* from the config, never a secret.
    pub fn write(&mut self, page: &Page, client_url: Option<&str>) -> io::Result<()> {
        let stored = serde_json::to_string(&PageBody::new(page))?;
        let stored = StoredPage::parse(&stored).map_err(io::Error::other)?;
        self.write_stored(page.at, &stored, client_url)
    }

    /// Writes one page read back from the outbox.
    pub fn write_stored(
        &mut self,
        at: EventTime,
        page: &StoredPage,
        client_url: Option<&str>,
    ) -> io::Result<()> {
        let event = pagerduty::event(page, &page.destination, client_url).map_err(io::Error::other)?;
        write!(self.out, r#"{{"at":"{at}","event":"#)?;
        self.out.write_all(&event)?;
        self.out.write_all(b"}\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
