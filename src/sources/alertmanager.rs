//! Alertmanager-compatible ingest: the API v2 `POST /api/v2/alerts` that Prometheus sends to,
//! and the webhook receiver payload (`version: "4"`) an existing Alertmanager forwards.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Decoded, IngestError, Limits, Reason, Rejection, check_annotations, check_labels, labels_from_map,
};
use crate::model::{Alert, Event, EventTime, Expiry, Labels, Severity};

/// An alert as Prometheus posts it (Alertmanager's `postableAlert`) or as a webhook carries it
/// (which adds `status`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlert {
    #[serde(default)]
    status: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

#[derive(Deserialize)]
struct WebhookMessage<'a> {
    version: Option<String>,
    #[serde(borrow)]
    alerts: Option<Vec<&'a RawValue>>,
}

/// Decodes an API v2 body: a JSON array of alerts. Alerts that fail validation are rejected
/// one by one; the others are accepted.
pub fn decode_v2(body: &str, limits: &Limits) -> Result<Decoded, IngestError> {
    let items: Vec<&RawValue> = serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("body is not a JSON array of alerts: {error}"))
    })?;
    check_count(items.len(), limits)?;
    let mut decoded = Decoded { events: Vec::with_capacity(items.len()), rejected: Vec::new() };
    for (index, item) in items.into_iter().enumerate() {
        let result = serde_json::from_str::<RawAlert>(item.get())
            .map_err(|error| (Reason::Malformed, format!("invalid alert: {error}")))
            .and_then(|alert| {
                build_alert(
                    alert.labels,
                    &alert.annotations,
                    alert.starts_at.as_deref(),
                    alert.ends_at.as_deref(),
                    alert.generator_url,
                    Lifecycle::PostedState,
                    limits,
                )
            });
        push(&mut decoded, index, result);
    }
    Ok(decoded)
}

/// Decodes a webhook notification (`version: "4"`).
pub fn decode_webhook(body: &str, limits: &Limits) -> Result<Decoded, IngestError> {
    let message: WebhookMessage = serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("body is not an Alertmanager webhook message: {error}"))
    })?;
    match message.version.as_deref() {
        Some("4") => {}
        Some(other) => {
            return Err(IngestError::new(
                Reason::InvalidValue,
                format!("unsupported webhook version {other:?}: expected \"4\""),
            ));
        }
        None => return Err(IngestError::new(Reason::MissingField, "missing field `version`")),
    }
    let items =
        message.alerts.ok_or_else(|| IngestError::new(Reason::MissingField, "missing field `alerts`"))?;
    check_count(items.len(), limits)?;
    let mut decoded = Decoded { events: Vec::with_capacity(items.len()), rejected: Vec::new() };
    for (index, item) in items.into_iter().enumerate() {
        let result = serde_json::from_str::<RawAlert>(item.get())
            .map_err(|error| (Reason::Malformed, format!("invalid alert: {error}")))
            .and_then(|alert| {
                let lifecycle = match alert.status.as_deref() {
                    Some("firing") => Lifecycle::Firing,
                    Some("resolved") => Lifecycle::Resolved,
                    Some(other) => {
                        return Err((
                            Reason::InvalidValue,
                            format!("invalid status {other:?}: expected \"firing\" or \"resolved\""),
                        ));
                    }
                    None => return Err((Reason::MissingField, "missing field `status`".to_owned())),
                };
                build_alert(
                    alert.labels,
                    &alert.annotations,
                    alert.starts_at.as_deref(),
                    alert.ends_at.as_deref(),
                    alert.generator_url,
                    lifecycle,
                    limits,
                )
            });
        push(&mut decoded, index, result);
    }
    Ok(decoded)
}

fn check_count(count: usize, limits: &Limits) -> Result<(), IngestError> {
    if count > limits.max_records_per_request {
        return Err(IngestError::new(
            Reason::TooManyRecords,
            format!("{count} alerts exceed the limit of {} per request", limits.max_records_per_request),
        ));
    }
    Ok(())
}

fn push(decoded: &mut Decoded, index: usize, result: Result<Alert, (Reason, String)>) {
    match result {
        Ok(alert) => decoded.events.push(Event::Alert(alert)),
        Err((reason, message)) => decoded.rejected.push(Rejection { index, reason, message }),
    }
}

/// How the sender expresses an alert's state.
enum Lifecycle {
    /// API v2: state is implied by `endsAt` (absent: resolve timeout).
    PostedState,
    /// Webhook `status: firing`: fires until a resolved notification (its `endsAt` is unset).
    Firing,
    /// Webhook `status: resolved`.
    Resolved,
}

fn build_alert(
    labels: Option<BTreeMap<String, String>>,
    annotations: &BTreeMap<String, String>,
    starts_at: Option<&str>,
    ends_at: Option<&str>,
    generator_url: Option<String>,
    lifecycle: Lifecycle,
    limits: &Limits,
) -> Result<Alert, (Reason, String)> {
    let labels = labels.ok_or_else(|| (Reason::MissingField, "missing field `labels`".to_owned()))?;
    if labels.is_empty() {
        return Err((Reason::InvalidValue, "labels must not be empty".to_owned()));
    }
    let labels: Labels = labels_from_map(labels.iter().map(|(name, value)| (name.as_str(), value.as_str())));
    check_labels(&labels, limits, "labels")?;
    let annotations =
        labels_from_map(annotations.iter().map(|(name, value)| (name.as_str(), value.as_str())));
    check_annotations(&annotations, limits)?;
    let starts_at = parse_time("startsAt", starts_at)?;
    let ends_at = parse_time("endsAt", ends_at)?;
    let (ends_at, resolved, expiry) = match lifecycle {
        Lifecycle::PostedState => (ends_at, false, Expiry::ResolveTimeout),
        Lifecycle::Firing => (None, false, Expiry::UntilResolved),
        Lifecycle::Resolved => (ends_at, true, Expiry::UntilResolved),
    };
    let severity = labels.get("severity").and_then(Severity::parse);
    Ok(Alert {
        labels,
        annotations,
        starts_at,
        ends_at,
        resolved,
        expiry,
        severity,
        generator_url: generator_url.filter(|url| !url.is_empty()).map(String::into_boxed_str),
        external_key: None,
    })
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<EventTime>, (Reason, String)> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => EventTime::parse_rfc3339(text)
            .map_err(|error| (Reason::InvalidValue, format!("{field}: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_limits;

    #[test]
    fn v2_accepts_good_alerts_and_names_the_bad_ones() {
        let body = r#"[
            {"labels": {"alertname": "A", "severity": "critical"}, "startsAt": "2026-11-02T00:00:00Z"},
            {"annotations": {"summary": "no labels"}},
            {"labels": {"alertname": "B"}, "endsAt": "not a time"},
            {"labels": {"alertname": "C", "x": "VERY-LONG-VALUE-VERY-LONG-VALUE-VERY-LONG-VALUE-VERY-LONG-VALUE-VERY-LONG-VALUE"}}
        ]"#;
        let decoded = decode_v2(body, &test_limits()).unwrap();
        assert_eq!(decoded.events.len(), 1);
        let reasons: Vec<_> =
            decoded.rejected.iter().map(|rejection| (rejection.index, rejection.reason)).collect();
        assert_eq!(
            reasons,
            vec![(1, Reason::MissingField), (2, Reason::InvalidValue), (3, Reason::LabelTooLong)]
        );
        assert!(decoded.rejected[1].message.contains("endsAt"), "{}", decoded.rejected[1].message);
        let Event::Alert(alert) = &decoded.events[0] else { panic!("not an alert") };
        assert_eq!(alert.severity, Some(Severity::Critical));
        assert_eq!(alert.expiry, Expiry::ResolveTimeout);
    }

    #[test]
    fn webhook_requires_version_4() {
        let error = decode_webhook(r#"{"version": "3", "alerts": []}"#, &test_limits()).unwrap_err();
        assert_eq!(error.reason, Reason::InvalidValue);
        let decoded = decode_webhook(
            r#"{"version": "4", "status": "resolved", "alerts": [
                {"status": "resolved", "labels": {"alertname": "A"}, "startsAt": "2026-11-02T00:00:00Z", "endsAt": "2026-11-02T00:05:00Z"},
                {"status": "firing", "labels": {"alertname": "B"}, "endsAt": "0001-01-01T00:00:00Z"}
            ]}"#,
            &test_limits(),
        )
        .unwrap();
        let alerts: Vec<_> = decoded
            .events
            .iter()
            .map(|event| match event {
                Event::Alert(alert) => (alert.resolved, alert.ends_at.is_some(), alert.expiry),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(alerts, vec![(true, true, Expiry::UntilResolved), (false, false, Expiry::UntilResolved)]);
    }
}
