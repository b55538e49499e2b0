//! The inventory as JSON: what `GET /api/v1/inventory` and `noisegate inventory --json` show.
//! Every entry with where it comes from (`config`, `spans`, `logs`, `alerts`) and, when learned,
//! when it was first and last seen (RFC 3339; `null` for the config's); each service with the
//! open incidents about it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use noisegate_engine::IncidentSummary;
use noisegate_engine::inventory::{Listing, Origin};

/// Labels that name an alert's service (or workload) outright.
const SERVICE_LABELS: [&str; 6] =
    ["service", "service.name", "job", "deployment", "statefulset", "daemonset"];

/// The inventory, each service with the dedup keys of the open incidents about it.
pub fn inventory_json(listing: &Listing, incidents: &[IncidentSummary]) -> Value {
    let mut about = incidents_by_service(listing, incidents);
    let services: Vec<Value> = listing
        .services
        .iter()
        .map(|service| {
            let mut value = json!({
                "name": &*service.name,
                "kind": service.kind.as_deref(),
                "namespace": service.namespace.as_deref(),
                "entry_point": service.entry_point,
                "incidents": about.remove(&*service.name).unwrap_or_default(),
            });
            with_origin(&mut value, &service.origin);
            value
        })
        .collect();
    let nodes: Vec<Value> = listing
        .nodes
        .iter()
        .map(|node| {
            let mut value = json!({ "name": &*node.name });
            with_origin(&mut value, &node.origin);
            value
        })
        .collect();
    let pods: Vec<Value> = listing
        .pods
        .iter()
        .map(|pod| {
            let mut value =
                json!({ "name": &*pod.name, "service": &*pod.service, "node": pod.node.as_deref() });
            with_origin(&mut value, &pod.origin);
            value
        })
        .collect();
    let edges: Vec<Value> = listing
        .calls
        .iter()
        .map(|call| {
            let mut value = json!({ "from": &*call.from, "to": &*call.to });
            with_origin(&mut value, &call.origin);
            value
        })
        .collect();
    json!({ "services": services, "nodes": nodes, "pods": pods, "edges": edges })
}

fn with_origin(value: &mut Value, origin: &Origin) {
    value["source"] = json!(origin.source);
    value["first_seen"] = json!(origin.first_seen.map(|time| time.to_string()));
    value["last_seen"] = json!(origin.last_seen.map(|time| time.to_string()));
}

/// The services each open incident is about: its probable cause, and the services its alerts
/// name (by a service or workload label, or by one of the service's pods). Dedup keys sorted.
pub fn incidents_by_service<'a>(
    listing: &'a Listing,
    incidents: &'a [IncidentSummary],
) -> HashMap<&'a str, Vec<&'a str>> {
    let services: BTreeSet<&str> = listing.services.iter().map(|service| &*service.name).collect();
    let pods: HashMap<&str, &str> = listing.pods.iter().map(|pod| (&*pod.name, &*pod.service)).collect();
    let mut about: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for incident in incidents {
        let key = &*incident.dedup_key;
        let root = incident.root.as_ref().map(|root| &*root.entity);
        let named = incident.alerts.iter().flat_map(|(labels, _)| {
            let by_label = SERVICE_LABELS.iter().filter_map(|label| labels.get(label));
            by_label.chain(labels.get("pod").and_then(|pod| pods.get(pod).copied()))
        });
        for service in root.into_iter().chain(named) {
            if let Some(&service) = services.get(service) {
                about.entry(service).or_default().insert(key);
            }
        }
    }
    about.into_iter().map(|(service, keys)| (service, keys.into_iter().collect())).collect()
}
