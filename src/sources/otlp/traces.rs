//! What OTLP traces say about the inventory: where each service's pods run (from span resources)
//! and which service calls which (from spans). Spans are read for these facts and dropped.
//!
//! A call is seen two ways: a CLIENT (or PRODUCER) span whose SERVER (or CONSUMER) child, in the
//! same request, belongs to another service; or a CLIENT span naming whom it calls, for callees
//! that send no spans of their own (datastores, external APIs): `peer.service`, else, for a
//! database call (`db.system`), `server.address` as a datastore, else `server.address`. A child
//! seen in the request wins over what the attributes name.

use std::collections::{BTreeSet, HashMap};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use noisegate_engine::model::{Edge, Event, FactSource, InventoryFacts, Placement};

use crate::ingest::{Decoded, IngestError, Limits, Reason};

/// What one export request teaches, each fact once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TraceFacts {
    pub spans: usize,
    pub placements: BTreeSet<Placement>,
    pub edges: BTreeSet<Edge>,
}

/// A span of the request, reduced to what the facts need.
struct Seen<'a> {
    service: &'a str,
    kind: SpanKind,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
    attributes: &'a [KeyValue],
}

/// Reads the facts of a whole export request; a request over the record limit is refused.
pub fn facts(request: &ExportTraceServiceRequest, limits: &Limits) -> Result<TraceFacts, IngestError> {
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len())
        .sum();
    if total > limits.max_records_per_request {
        return Err(IngestError::new(
            Reason::TooManyRecords,
            format!("{total} spans exceed the limit of {} per request", limits.max_records_per_request),
        ));
    }
    let mut facts = TraceFacts { spans: total, ..TraceFacts::default() };
    let mut seen = Vec::with_capacity(total);
    for resource_spans in &request.resource_spans {
        let resource: &[KeyValue] =
            resource_spans.resource.as_ref().map_or(&[], |resource| resource.attributes.as_slice());
        let Some(placement) = placement(resource) else { continue };
        let service = attribute(resource, "service.name").unwrap_or_default();
        facts.placements.insert(placement);
        for span in resource_spans.scope_spans.iter().flat_map(|scope| &scope.spans) {
            let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
            // Internal spans say nothing of calls.
            if matches!(kind, SpanKind::Unspecified | SpanKind::Internal) {
                continue;
            }
            seen.push(Seen {
                service,
                kind,
                trace_id: &span.trace_id,
                span_id: &span.span_id,
                parent_span_id: &span.parent_span_id,
                attributes: &span.attributes,
            });
        }
    }
    // Callers by (trace, span): a child in another service is the callee.
    let callers: HashMap<(&[u8], &[u8]), &Seen> = seen
        .iter()
        .filter(|span| matches!(span.kind, SpanKind::Client | SpanKind::Producer))
        .map(|span| ((span.trace_id, span.span_id), span))
        .collect();
    let mut answered = BTreeSet::new();
    for span in seen.iter().filter(|span| matches!(span.kind, SpanKind::Server | SpanKind::Consumer)) {
        let Some(caller) = callers.get(&(span.trace_id, span.parent_span_id)) else { continue };
        answered.insert((caller.trace_id, caller.span_id));
        if caller.service != span.service {
            facts.edges.insert(Edge { from: caller.service.into(), to: span.service.into(), datastore: None });
        }
    }
    for caller in callers.values().filter(|caller| !answered.contains(&(caller.trace_id, caller.span_id))) {
        if let Some(edge) = named_callee(caller) {
            facts.edges.insert(edge);
        }
    }
    Ok(facts)
}

/// The service a resource (of spans or logs) describes, with its pod, node, namespace and
/// cluster when the resource names them. A resource without `service.name` teaches nothing.
pub fn placement(resource: &[KeyValue]) -> Option<Placement> {
    let service = attribute(resource, "service.name").filter(|service| !service.is_empty())?;
    let named = |key: &str| attribute(resource, key).filter(|value| !value.is_empty()).map(Into::into);
    Some(Placement {
        service: service.into(),
        pod: named("k8s.pod.name"),
        node: named("k8s.node.name"),
        namespace: named("k8s.namespace.name"),
        cluster: named("k8s.cluster.name"),
    })
}

/// Maps a whole export request: its spans are read for their facts and dropped; what the engine
/// receives is the facts, once each.
pub fn decode_request(request: &ExportTraceServiceRequest, limits: &Limits) -> Result<Decoded, IngestError> {
    let facts = facts(request, limits)?;
    let mut decoded = Decoded { read: facts.spans, ..Decoded::default() };
    if !facts.placements.is_empty() || !facts.edges.is_empty() {
        decoded.events.push(Event::Inventory(InventoryFacts {
            source: FactSource::Spans,
            placements: facts.placements.into_iter().collect(),
            edges: facts.edges.into_iter().collect(),
        }));
    }
    Ok(decoded)
}

/// The callee a CLIENT span names when no span of the callee's is seen.
fn named_callee(span: &Seen) -> Option<Edge> {
    let named = |key: &str| attribute(span.attributes, key).filter(|value| !value.is_empty());
    let datastore = named("db.system").map(Into::into);
    let to = named("peer.service").or_else(|| named("server.address")).or_else(|| named("net.peer.name"))?;
    (to != span.service).then(|| Edge { from: span.service.into(), to: to.into(), datastore })
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    let value = attributes.iter().find(|attribute| attribute.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(text) => Some(text),
        _ => None,
    }
}

/// Decodes an OTLP/JSON body (`ExportTraceServiceRequest`).
pub fn parse_json(body: &str) -> Result<ExportTraceServiceRequest, IngestError> {
    serde_json::from_str(body).map_err(|error| {
        IngestError::new(Reason::Malformed, format!("invalid OTLP/JSON traces request: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three services of a shop as a Collector forwards their spans: the frontend calls search
    /// (whose SERVER span is in the request, under another name than the address the client
    /// used) and cart (which sends none); cart calls redis.
    const BODY: &str = r#"{"resourceSpans":[
      {"resource":{"attributes":[
         {"key":"service.name","value":{"stringValue":"frontend"}},
         {"key":"k8s.pod.name","value":{"stringValue":"frontend-7d9-abcde"}},
         {"key":"k8s.node.name","value":{"stringValue":"node-1"}},
         {"key":"k8s.namespace.name","value":{"stringValue":"shop"}}]},
       "scopeSpans":[{"spans":[
         {"traceId":"c9124c802d5936b278978d1506d4bb71","spanId":"7e461ee1d9acaae4","name":"search/call","kind":3,
          "attributes":[{"key":"server.address","value":{"stringValue":"search.shop.svc"}}]},
         {"traceId":"c9124c802d5936b278978d1506d4bb71","spanId":"1111111111111111","name":"cart/call","kind":3,
          "attributes":[{"key":"server.address","value":{"stringValue":"cart"}}]},
         {"traceId":"c9124c802d5936b278978d1506d4bb71","spanId":"2222222222222222","name":"render","kind":1}]}]},
      {"resource":{"attributes":[
         {"key":"service.name","value":{"stringValue":"search"}},
         {"key":"k8s.pod.name","value":{"stringValue":"search-5f6-fghij"}},
         {"key":"k8s.node.name","value":{"stringValue":"node-2"}}]},
       "scopeSpans":[{"spans":[
         {"traceId":"c9124c802d5936b278978d1506d4bb71","spanId":"3333333333333333",
          "parentSpanId":"7e461ee1d9acaae4","name":"search","kind":2}]}]},
      {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},
       "scopeSpans":[{"spans":[
         {"traceId":"0000000000000000000000000000abcd","spanId":"4444444444444444","name":"GET","kind":3,
          "attributes":[{"key":"db.system","value":{"stringValue":"redis"}},
                        {"key":"server.address","value":{"stringValue":"redis-cart"}}]}]}]},
      {"resource":{"attributes":[{"key":"k8s.pod.name","value":{"stringValue":"nameless"}}]},
       "scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000001","spanId":"5555555555555555","kind":3}]}]}
    ]}"#;

    fn edge(from: &str, to: &str, datastore: Option<&str>) -> Edge {
        Edge { from: from.into(), to: to.into(), datastore: datastore.map(Into::into) }
    }

    #[test]
    fn calls_and_placements_are_read_from_spans_and_their_resources() {
        let request = parse_json(BODY).unwrap();
        let facts = facts(&request, &crate::ingest::test_limits()).unwrap();
        assert_eq!(facts.spans, 6);
        let edges: Vec<&Edge> = facts.edges.iter().collect();
        assert_eq!(
            edges,
            [
                &edge("cart", "redis-cart", Some("redis")),
                &edge("frontend", "cart", None),
                &edge("frontend", "search", None)
            ],
            "the SERVER child names the callee, not the address the client used"
        );
        let placed: Vec<(&str, Option<&str>, Option<&str>)> = facts
            .placements
            .iter()
            .map(|placement| {
                (&*placement.service, placement.pod.as_deref(), placement.node.as_deref())
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("cart", None, None),
                ("frontend", Some("frontend-7d9-abcde"), Some("node-1")),
                ("search", Some("search-5f6-fghij"), Some("node-2"))
            ],
            "a resource without service.name teaches nothing"
        );
    }

    #[test]
    fn a_request_over_the_record_limit_is_refused_whole() {
        let request = parse_json(BODY).unwrap();
        let limits = Limits { max_records_per_request: 5, ..crate::ingest::test_limits() };
        let error = facts(&request, &limits).unwrap_err();
        assert_eq!(error.reason, Reason::TooManyRecords);
        assert!(error.message.contains("6 spans"), "{}", error.message);
        let error = parse_json("{\"resourceSpans\": 3}").unwrap_err();
        assert_eq!(error.reason, Reason::Malformed);
    }
}
