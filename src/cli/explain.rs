//! `noisegate explain ID`: why an incident was paged, digested or suppressed, from a running
//! instance's admin API or from a decisions log (`replay --decisions-out`, `decisions.file`).

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

pub fn run(id: &str, url: &str, decisions: Option<&Path>) -> anyhow::Result<()> {
    let text = match decisions {
        Some(path) => from_log(id, path)?,
        None => from_instance(id, url)?,
    };
    print!("{text}");
    Ok(())
}

fn from_log(id: &str, path: &Path) -> anyhow::Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut records = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let record: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a decisions log line", path.display(), number + 1))?;
        if record["dedup_key"].as_str() == Some(id) {
            records.push(record);
        }
    }
    let Some(last) =
        records.iter().rev().find(|record| record["why"].as_array().is_some_and(|why| !why.is_empty()))
    else {
        anyhow::bail!("no decision about {id:?} in {}", path.display());
    };
    let mut out = format!("incident {id}\n  group: {}\n  decisions:\n", labels(&last["group_labels"]));
    for record in &records {
        let _ = writeln!(
            out,
            "    {}  {:<12} tier {:<9} score {:.2}",
            record["at"].as_str().unwrap_or(""),
            record["decision"].as_str().unwrap_or(""),
            record["tier"].as_str().unwrap_or(""),
            record["score"].as_f64().unwrap_or(0.0)
        );
    }
    out.push_str("  why (latest):\n");
    out.push_str(&why(&last["why"]));
    Ok(out)
}

fn from_instance(id: &str, url: &str) -> anyhow::Result<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let address = format!("{}/api/v1/incidents/{id}", url.trim_end_matches('/'));
    let (status, body) = runtime
        .block_on(async {
            let response = reqwest::get(&address).await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        })
        .with_context(|| format!("cannot reach {address}"))?;
    let incident: Value =
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {address}"))?;
    if !status.is_success() {
        anyhow::bail!("{}", incident["error"].as_str().unwrap_or("request failed"));
    }
    let mut out = format!(
        "incident {id}\n  group: {}\n  opened {}; tier {}, score {:.2}{}\n",
        labels(&incident["group_labels"]),
        incident["opened_at"].as_str().unwrap_or(""),
        incident["tier"].as_str().unwrap_or(""),
        incident["score"].as_f64().unwrap_or(0.0),
        if incident["on_pagerduty"] == true { ", open on PagerDuty" } else { "" }
    );
    if let Some(cause) = incident["probable_cause"].as_object() {
        let _ = writeln!(
            out,
            "  probable cause: {} {}",
            cause["kind"].as_str().unwrap_or(""),
            cause["entity"].as_str().unwrap_or("")
        );
    }
    out.push_str("  why:\n");
    out.push_str(&why(&incident["why"]));
    out.push_str("  alerts:\n");
    for alert in incident["alerts"].as_array().into_iter().flatten() {
        let state = if alert["firing"] == true { "firing" } else { "resolved" };
        let _ = writeln!(out, "    {state:<8} {}", labels(&alert["labels"]));
    }
    let similar = incident["similar"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !similar.is_empty() {
        out.push_str("  seen before:\n");
    }
    for past in similar {
        let _ = writeln!(
            out,
            "    {:.0}% like {} ({}), opened {}, {:.0} minutes; {}",
            past["similarity"].as_f64().unwrap_or(0.0) * 100.0,
            past["dedup_key"].as_str().unwrap_or(""),
            past["title"].as_str().unwrap_or(""),
            past["opened_at"].as_str().unwrap_or(""),
            past["minutes"].as_f64().unwrap_or(0.0),
            past["ended"].as_str().unwrap_or("")
        );
        for note in past["notes"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "      note: {}", note.as_str().unwrap_or(""));
        }
    }
    Ok(out)
}

fn labels(value: &Value) -> String {
    let pairs: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| format!("{name}={}", value.as_str().unwrap_or("")))
        .collect();
    pairs.join(", ")
}

fn why(value: &Value) -> String {
    let mut out = String::new();
    for part in value.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "    {:<17} {:+.2}  {}",
            part["feature"].as_str().unwrap_or(""),
            part["contribution"].as_f64().unwrap_or(0.0),
            part["note"].as_str().unwrap_or("")
        );
    }
    out
}
