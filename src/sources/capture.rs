//! The capture file: what `serve --record` writes and `replay` reads. JSON Lines, one request a
//! line: `{"received_at": RFC 3339, "source": NAME, "body": REQUEST BODY}`, optionally gzip.
//!
//! `source` names its `ingest::WireFormat`: `alertmanager_v2`, `alertmanager_webhook`,
//! `pagerduty_v2`, `otlp_logs_json` or `otlp_traces_json` (OTLP arriving as protobuf is recorded
//! as OTLP/JSON). Replay decodes each body with the same decoder the live endpoint used.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ingest::{Decoded, IngestError, Limits, Reason, WireFormat};
use noisegate_engine::model::EventTime;

/// Decodes a recorded body exactly as its live endpoint decoded it.
pub fn decode_body(source: &str, body: &str, limits: &Limits) -> Result<Decoded, IngestError> {
    match WireFormat::from_capture_name(source) {
        Some(format) => super::decode_text(format, body, limits),
        None => Err(IngestError::new(Reason::InvalidValue, format!("unknown capture source {source:?}"))),
    }
}

/// Appends captured requests to a file, gzip-compressed when its name ends in `.gz`.
pub struct CaptureWriter {
    out: Box<dyn Write + Send>,
}

impl CaptureWriter {
    pub fn create(path: &Path) -> io::Result<CaptureWriter> {
        let file = BufWriter::new(File::create(path)?);
        let out: Box<dyn Write + Send> = if path.extension().is_some_and(|extension| extension == "gz") {
            Box::new(GzEncoder::new(file, Compression::fast()))
        } else {
            Box::new(file)
        };
        Ok(CaptureWriter { out })
    }

    /// Writes one line; `json` must be a single-line JSON document.
    pub fn write(&mut self, received_at: EventTime, source: &str, json: &str) -> io::Result<()> {
        writeln!(self.out, "{{\"received_at\":\"{received_at}\",\"source\":\"{source}\",\"body\":{json}}}")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and, for gzip, writes the trailer.
    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()?;
        drop(self.out);
        Ok(())
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    received_at: &'a str,
    source: &'a str,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// One line of a capture file.
pub struct Record<'a> {
    pub received_at: EventTime,
    pub source: &'a str,
    pub body: &'a str,
}

/// A capture line that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// Reads a capture file line by line (gzip when its name ends in `.gz`).
pub struct CaptureReader {
    input: Box<dyn BufRead>,
    buffer: String,
    line: usize,
}

impl CaptureReader {
    pub fn open(path: &Path) -> io::Result<CaptureReader> {
        let file = File::open(path)?;
        let input: Box<dyn BufRead> = if path.extension().is_some_and(|extension| extension == "gz") {
            Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file)))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        Ok(CaptureReader { input, buffer: String::new(), line: 0 })
    }

    /// The next record: `None` at the end, `Some(Err)` for a line that is not a capture record
    /// (the caller counts it and goes on).
    pub fn next_record(&mut self) -> io::Result<Option<Result<Record<'_>, LineError>>> {
        loop {
            self.buffer.clear();
            if self.input.read_line(&mut self.buffer)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buffer.trim().is_empty() {
                break;
            }
        }
        let line = self.line;
        let parsed: Line = match serde_json::from_str(&self.buffer) {
            Ok(parsed) => parsed,
            Err(error) => {
                return Ok(Some(Err(LineError { line, message: format!("not a capture record: {error}") })));
            }
        };
        let received_at = match EventTime::parse_rfc3339(parsed.received_at) {
            Ok(Some(time)) => time,
            Ok(None) => {
                return Ok(Some(Err(LineError { line, message: "received_at is before 1970".to_owned() })));
            }
            Err(error) => {
                return Ok(Some(Err(LineError { line, message: format!("received_at: {error}") })));
            }
        };
        Ok(Some(Ok(Record { received_at, source: parsed.source, body: parsed.body.get() })))
    }
}
