//! The OTLP traces signal (`Traces`, served by `grpc.rs` and `http.rs`), and what traces say
//! about the inventory: where each service's pods run (from span resources) and which service
//! calls which (from spans). Spans are read for these facts and dropped.
//!
//! A call is seen two ways: a CLIENT (or PRODUCER) span whose SERVER (or CONSUMER) child, in the
//! same request, belongs to another service; or a CLIENT span naming whom it calls, for callees
//! that send no spans of their own (datastores, external APIs): `peer.service`, else, for a
//! database call (`db.system`), `server.address` as a datastore, else `server.address`. A child
//! seen in the request wins over what the attributes name.

use std::collections::{BTreeSet, HashMap, HashSet};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use noisegate_engine::model::{Edge, Event, FactSource, InventoryFacts, Placement};

use super::Signal;
use crate::ingest::{Decoded, IngestError, Limits, SourceKind, WireFormat};

/// OTLP traces: `TraceService/Export`, `POST /v1/traces`. A request is accepted or refused
/// whole: its spans are read, never rejected one by one.
pub struct Traces;

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const NAME: &'static str = "traces";
    const REQUEST: &'static str = "ExportTraceServiceRequest";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const GRPC_SOURCE: SourceKind = SourceKind::OtlpTracesGrpc;
    const HTTP_SOURCE: SourceKind = SourceKind::OtlpTracesHttp;
    const CAPTURE: WireFormat = WireFormat::OtlpTracesJson;

    fn decode(request: &ExportTraceServiceRequest, limits: &Limits) -> Result<Decoded, IngestError> {
        decode_request(request, limits)
    }

    fn response(rejected: Option<(i64, String)>) -> ExportTraceServiceResponse {
        let partial_success = rejected.map(|(rejected_spans, error_message)| ExportTracePartialSuccess {
            rejected_spans,
            error_message,
        });
        ExportTraceServiceResponse { partial_success }
    }
}

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

/// A placement as the request spells it, before it is copied into the model's.
#[derive(PartialEq, Eq, Hash)]
struct PlacementRef<'a> {
    service: &'a str,
    pod: Option<&'a str>,
    node: Option<&'a str>,
    namespace: Option<&'a str>,
    cluster: Option<&'a str>,
}

impl PlacementRef<'_> {
    fn to_placement(&self) -> Placement {
        Placement {
            service: self.service.into(),
            pod: self.pod.map(Into::into),
            node: self.node.map(Into::into),
            namespace: self.namespace.map(Into::into),
            cluster: self.cluster.map(Into::into),
        }
    }
}

/// An edge as the request spells it: caller, callee, datastore.
type EdgeRef<'a> = (&'a str, &'a str, Option<&'a str>);

/// Reads the facts of a whole export request; a request over the record limit is refused.
///
/// A request holds hundreds of spans and a handful of facts: each fact is looked up by the
/// strings the request holds and copied once, at the end.
pub fn facts(request: &ExportTraceServiceRequest, limits: &Limits) -> Result<TraceFacts, IngestError> {
    let total: usize = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len())
        .sum();
    super::within_record_limit(total, "spans", limits)?;
    let mut placements = HashSet::new();
    let mut seen = Vec::with_capacity(total);
    for resource_spans in &request.resource_spans {
        let resource: &[KeyValue] =
            resource_spans.resource.as_ref().map_or(&[], |resource| resource.attributes.as_slice());
        let Some(placement) = placement_ref(resource) else { continue };
        let service = placement.service;
        placements.insert(placement);
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
    // Callers by (trace, span), as positions in `seen`: a child in another service is the callee.
    let mut callers: HashMap<(&[u8], &[u8]), usize> = HashMap::with_capacity(seen.len());
    for (index, span) in seen.iter().enumerate() {
        if matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
            callers.insert((span.trace_id, span.span_id), index);
        }
    }
    let mut answered = vec![false; seen.len()];
    let mut edges: HashSet<EdgeRef> = HashSet::new();
    for span in seen.iter().filter(|span| matches!(span.kind, SpanKind::Server | SpanKind::Consumer)) {
        let Some(&index) = callers.get(&(span.trace_id, span.parent_span_id)) else { continue };
        answered[index] = true;
        let caller = &seen[index];
        if caller.service != span.service {
            edges.insert((caller.service, span.service, None));
        }
    }
    for &index in callers.values() {
        if !answered[index]
            && let Some(edge) = named_callee(&seen[index])
        {
            edges.insert(edge);
        }
    }
    Ok(TraceFacts {
        spans: total,
        placements: placements.iter().map(PlacementRef::to_placement).collect(),
        edges: edges
            .into_iter()
            .map(|(from, to, datastore)| Edge {
                from: from.into(),
                to: to.into(),
                datastore: datastore.map(Into::into),
            })
            .collect(),
    })
}

/// The service a resource (of spans or logs) describes, with its pod, node, namespace and
/// cluster when the resource names them. A resource without `service.name` teaches nothing.
pub fn placement(resource: &[KeyValue]) -> Option<Placement> {
    placement_ref(resource).as_ref().map(PlacementRef::to_placement)
}

fn placement_ref(resource: &[KeyValue]) -> Option<PlacementRef<'_>> {
    let named = |key: &str| attribute(resource, key).filter(|value| !value.is_empty());
    Some(PlacementRef {
        service: named("service.name")?,
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
fn named_callee<'a>(span: &Seen<'a>) -> Option<EdgeRef<'a>> {
    let named = |key: &str| attribute(span.attributes, key).filter(|value| !value.is_empty());
    let datastore = named("db.system");
    let to = match named("peer.service") {
        Some(peer) => peer,
        None => host_name(named("server.address").or_else(|| named("net.peer.name"))?)?,
    };
    (to != span.service).then_some((span.service, to, datastore))
}

/// The service an address names: without its port, and for a Kubernetes service's DNS name
/// (`<service>.<namespace>.svc[.cluster.local]`) the service alone. An IP address names no
/// service (pods come and go under it).
fn host_name(address: &str) -> Option<&str> {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|byte| byte.is_ascii_digit()) => host,
        _ => address,
    };
    if host.is_empty() || host.contains(':') || host.parse::<std::net::Ipv4Addr>().is_ok() {
        return None;
    }
    let kubernetes = host.strip_suffix(".cluster.local").unwrap_or(host).ends_with(".svc");
    let name = if kubernetes { host.split('.').next().unwrap_or(host) } else { host };
    (!name.is_empty()).then_some(name)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    let value = attributes.iter().find(|attribute| attribute.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text),
        _ => None,
    }
}

/// Decodes an OTLP/JSON body (`ExportTraceServiceRequest`).
pub fn parse_json(body: &str) -> Result<ExportTraceServiceRequest, IngestError> {
    super::parse::<Traces>(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Reason;

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
            .map(|placement| (&*placement.service, placement.pod.as_deref(), placement.node.as_deref()))
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
    fn facts_seen_many_times_are_each_read_once() {
        let once = parse_json(BODY).unwrap();
        let mut thrice = once.clone();
        for _ in 0..2 {
            thrice.resource_spans.extend(once.resource_spans.iter().cloned());
        }
        let limits = crate::ingest::test_limits();
        let (once, thrice) = (facts(&once, &limits).unwrap(), facts(&thrice, &limits).unwrap());
        assert_eq!(thrice.spans, 18);
        assert_eq!((thrice.placements, thrice.edges), (once.placements, once.edges));
    }

    #[test]
    fn a_request_is_recorded_as_json_that_decodes_to_the_same_and_is_answered_in_full() {
        let request = parse_json(BODY).unwrap();
        let json = super::super::to_json(&request).unwrap();
        assert!(!json.contains('\n'));
        assert_eq!(parse_json(&json).unwrap(), request, "replay reads what serve records");
        let decoded = decode_request(&request, &crate::ingest::test_limits()).unwrap();
        assert_eq!(decoded.accepted(), 6);
        let [Event::Inventory(facts)] = decoded.events.as_slice() else { panic!("{:?}", decoded.events) };
        assert_eq!((facts.source, facts.placements.len(), facts.edges.len()), (FactSource::Spans, 3, 3));
        assert_eq!(super::super::export_response::<Traces>(&decoded).partial_success, None);
    }

    #[test]
    fn an_address_names_its_service_without_port_or_cluster_domain_and_an_ip_names_none() {
        assert_eq!(host_name("payments.shop.svc.cluster.local:8080"), Some("payments"));
        assert_eq!(host_name("payments.shop.svc"), Some("payments"));
        assert_eq!(host_name("redis-cart:6379"), Some("redis-cart"));
        assert_eq!(host_name("api.stripe.com"), Some("api.stripe.com"));
        assert_eq!(host_name("10.0.1.7:6379"), None);
        assert_eq!(host_name("[2001:db8::1]:443"), None);
        assert_eq!(host_name("2001:db8::1"), None);
        assert_eq!(host_name(":80"), None);
        assert_eq!(host_name(".svc.cluster.local"), None);
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
