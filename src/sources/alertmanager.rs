//! Alertmanager-compatible ingest: the API v2 `POST /api/v2/alerts` that Prometheus sends to,
//! and the webhook receiver payload (`version: "4"`) an existing Alertmanager forwards.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{check_annotations, check_labels};
use crate::ingest::{Decoded, IngestError, Limits, Reason, Rejection};
use noisegate_engine::model::{Alert, Event, EventTime, Expiry, Labels, LabelsBuilder, Severity};

/// An alert as Prometheus posts it (Alertmanager's `postableAlert`) or as a webhook carries it
/// (which adds `status`). Strings are borrowed from the body and label maps go straight into
/// `Labels`: no allocation per label.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlert<'a> {
    #[serde(default, borrow)]
    status: Option<Text<'a>>,
    #[serde(default)]
    labels: Option<WireLabels>,
    #[serde(default)]
    annotations: Option<WireLabels>,
    #[serde(default, borrow)]
    starts_at: Option<Text<'a>>,
    #[serde(default, borrow)]
    ends_at: Option<Text<'a>>,
    #[serde(default, borrow, rename = "generatorURL")]
    generator_url: Option<Text<'a>>,
}

/// A JSON string, borrowed from the body unless it holds escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'a>, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// A string field's text; absent and empty are alike.
fn text<'b>(field: &'b Option<Text<'_>>) -> Option<&'b str> {
    field.as_ref().map(|text| &*text.0).filter(|text| !text.is_empty())
}

/// A JSON object of strings, read into `Labels` (a repeated name: the last value wins).
struct WireLabels(Labels);

impl<'de> Deserialize<'de> for WireLabels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireLabels, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = WireLabels;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object of string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireLabels, A::Error> {
                let mut builder = LabelsBuilder::with_capacity(map.size_hint().unwrap_or(16).min(64));
                while let Some((name, value)) = map.next_entry::<Text<'de>, Text<'de>>()? {
                    builder.push(&*name.0, &*value.0);
                }
                Ok(WireLabels(builder.build()))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
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
    // One pass when every item has the shape of an alert (the usual case); otherwise item by
    // item, to reject only the malformed ones.
    if let Ok(alerts) = serde_json::from_str::<Vec<RawAlert>>(body) {
        check_count(alerts.len(), limits)?;
        let mut decoded = Decoded { events: Vec::with_capacity(alerts.len()), rejected: Vec::new(), read: 0 };
        for (index, alert) in alerts.into_iter().enumerate() {
            push(&mut decoded, index, build_alert(alert, Lifecycle::PostedState, limits));
        }
        return Ok(decoded);
    }
    let items: Vec<&RawValue> = serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("body is not a JSON array of alerts: {error}"))
    })?;
    check_count(items.len(), limits)?;
    let mut decoded = Decoded { events: Vec::with_capacity(items.len()), rejected: Vec::new(), read: 0 };
    for (index, item) in items.into_iter().enumerate() {
        let result = serde_json::from_str::<RawAlert>(item.get())
            .map_err(|error| (Reason::Malformed, format!("invalid alert: {error}")))
            .and_then(|alert| build_alert(alert, Lifecycle::PostedState, limits));
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
    let mut decoded = Decoded { events: Vec::with_capacity(items.len()), rejected: Vec::new(), read: 0 };
    for (index, item) in items.into_iter().enumerate() {
        let result = serde_json::from_str::<RawAlert>(item.get())
            .map_err(|error| (Reason::Malformed, format!("invalid alert: {error}")))
            .and_then(|alert| {
                let lifecycle = match alert.status.as_ref().map(|status| &*status.0) {
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
                build_alert(alert, lifecycle, limits)
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
    alert: RawAlert<'_>,
    lifecycle: Lifecycle,
    limits: &Limits,
) -> Result<Alert, (Reason, String)> {
    let WireLabels(labels) =
        alert.labels.ok_or_else(|| (Reason::MissingField, "missing field `labels`".to_owned()))?;
    if labels.is_empty() {
        return Err((Reason::InvalidValue, "labels must not be empty".to_owned()));
    }
    check_labels(&labels, limits, "labels")?;
    let annotations = alert.annotations.map(|WireLabels(annotations)| annotations).unwrap_or_default();
    check_annotations(&annotations, limits)?;
    let starts_at = parse_time("startsAt", text(&alert.starts_at))?;
    let ends_at = parse_time("endsAt", text(&alert.ends_at))?;
    let generator_url = text(&alert.generator_url).map(Box::from);
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
        generator_url,
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
    use crate::ingest::test_limits;

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
    fn v2_reads_escapes_repeated_names_and_null_annotations_and_rejects_only_a_misshapen_alert() {
        let body = r#"[
            {"labels": {"alertname": "A\u00e9\"q", "job": "x", "job": "y"}, "annotations": null,
             "generatorURL": ""},
            {"labels": {"alertname": "B", "replicas": 3}},
            {"labels": {"alertname": "C"}, "annotations": {"summary": "line\nbreak"}, "startsAt": ""}
        ]"#;
        let decoded = decode_v2(body, &test_limits()).unwrap();
        let reasons: Vec<_> =
            decoded.rejected.iter().map(|rejection| (rejection.index, rejection.reason)).collect();
        assert_eq!(reasons, vec![(1, Reason::Malformed)]);
        assert!(decoded.rejected[0].message.contains("string"), "{}", decoded.rejected[0].message);
        let alerts: Vec<&Alert> = decoded
            .events
            .iter()
            .map(|event| match event {
                Event::Alert(alert) => alert,
                other => panic!("not an alert: {other:?}"),
            })
            .collect();
        assert_eq!(alerts[0].labels.get("alertname"), Some("A\u{e9}\"q"));
        assert_eq!(alerts[0].labels.get("job"), Some("y"), "the last value of a repeated name wins");
        assert!(alerts[0].annotations.is_empty());
        assert_eq!(alerts[0].generator_url, None);
        assert_eq!(alerts[1].annotations.get("summary"), Some("line\nbreak"));
        assert_eq!(alerts[1].starts_at, None);
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
