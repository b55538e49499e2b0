//! `noisegate inventory`: a capture replayed as `replay` does, and the inventory it teaches
//! (services with their pods, nodes and calls, each with where it comes from), as text or as
//! the admin API's JSON; optionally written as a topology file to review and pin.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::admin::inventory::{incidents_by_service, inventory_json};
use crate::config::{self, ConfigSource, Overrides};
use crate::replay::{Replay, Watch};
use noisegate_engine::Notification;
use noisegate_engine::inventory::{Listing, Origin};
use noisegate_engine::topology::Topology;

/// What `noisegate inventory` reads and writes.
pub struct Options<'a> {
    pub input: &'a Path,
    /// Where to write the inventory as a topology file.
    pub topology_out: Option<&'a Path>,
    /// The admin API's JSON instead of text.
    pub json: bool,
}

/// A replay whose pages go nowhere: only the engine's state at the end matters.
struct Unwatched;

impl Watch for Unwatched {
    fn notification(&mut self, _: &Notification) -> anyhow::Result<()> {
        Ok(())
    }
}

pub fn run(source: ConfigSource, overrides: Overrides, options: &Options<'_>) -> anyhow::Result<()> {
    let config =
        config::load(&source, &overrides).map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
    let (summary, engine) = Replay::new(&config).run_to_end(options.input, &mut Unwatched)?;
    let listing = engine.inventory();
    let incidents = engine.incidents();
    if options.json {
        println!("{}", serde_json::to_string_pretty(&inventory_json(&listing, &incidents))?);
    } else {
        let about = incidents_by_service(&listing, &incidents);
        print!("{}", render(&listing, &about));
    }
    if let Some(path) = options.topology_out {
        let (file, left_out) = topology_file(&listing, engine.topology());
        for (from, to) in left_out {
            eprintln!(
                "warning: the call {from} -> {to} closes a loop of calls: left out of {}",
                path.display()
            );
        }
        let text = serde_json::to_string_pretty(&file)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let learned = engine.learned().stats;
    eprintln!(
        "replayed {} requests: {} facts learned, {} expired, {} refused; {} unreadable lines, {} rejected requests",
        summary.requests,
        learned.learned,
        learned.expired,
        learned.refused,
        summary.bad_lines,
        summary.rejected_requests,
    );
    Ok(())
}

/// Where an entry comes from, for people: `config`, or `logs, 10:00:00Z to 10:05:00Z`.
fn origin(origin: &Origin) -> String {
    match (origin.first_seen, origin.last_seen) {
        (Some(first), Some(last)) if first == last => format!("{}, seen {first}", origin.source),
        (Some(first), Some(last)) => format!("{}, seen {first} to {last}", origin.source),
        _ => origin.source.to_owned(),
    }
}

/// The services, each with its pods (and their nodes) and the services it calls, then the
/// nodes.
fn render(listing: &Listing, incidents: &HashMap<&str, Vec<&str>>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} services, {} nodes, {} pods, {} calls",
        listing.services.len(),
        listing.nodes.len(),
        listing.pods.len(),
        listing.calls.len()
    );
    for service in &listing.services {
        let mut traits = Vec::new();
        if let Some(kind) = &service.kind {
            traits.push(format!("kind {kind}"));
        }
        if let Some(namespace) = &service.namespace {
            traits.push(format!("namespace {namespace}"));
        }
        if service.entry_point {
            traits.push("entry point".to_owned());
        }
        traits.push(origin(&service.origin));
        let _ = writeln!(out, "\nservice {} ({})", service.name, traits.join("; "));
        for pod in listing.pods.iter().filter(|pod| pod.service == service.name) {
            let node = pod.node.as_deref().map(|node| format!(" on node {node}")).unwrap_or_default();
            let _ = writeln!(out, "  pod {}{node} ({})", pod.name, origin(&pod.origin));
        }
        for call in listing.calls.iter().filter(|call| call.from == service.name) {
            let _ = writeln!(out, "  calls {} ({})", call.to, origin(&call.origin));
        }
        if let Some(keys) = incidents.get(&*service.name) {
            let _ = writeln!(out, "  open incidents: {}", keys.join(", "));
        }
    }
    if !listing.nodes.is_empty() {
        let _ = writeln!(out);
    }
    for node in &listing.nodes {
        let _ = writeln!(out, "node {} ({})", node.name, origin(&node.origin));
    }
    out
}

/// The inventory as a topology file (`noisegate check --topology FILE` reads it): every
/// service with its kind, calls and pods, every node. Calls that would close a loop (which a
/// topology file may not declare) are left out and returned.
fn topology_file<'a>(listing: &'a Listing, topology: &Topology) -> (Value, Vec<(&'a str, &'a str)>) {
    let mut calls: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut left_out = Vec::new();
    for call in &listing.calls {
        if reaches(&calls, &call.to, &call.from) {
            left_out.push((&*call.from, &*call.to));
        } else {
            calls.entry(&*call.from).or_default().push(&*call.to);
        }
    }
    let services: BTreeMap<&str, Value> = listing
        .services
        .iter()
        .map(|service| {
            let pods: Vec<Value> = listing
                .pods
                .iter()
                .filter(|pod| pod.service == service.name)
                .map(|pod| json!({ "name": &*pod.name, "node": pod.node.as_deref() }))
                .collect();
            let depends_on = calls.get(&*service.name).cloned().unwrap_or_default();
            let value = json!({ "kind": service.kind.as_deref(), "depends_on": depends_on, "pods": pods });
            (&*service.name, value)
        })
        .collect();
    // The namespace all services share, when the config names none.
    let namespaces: HashSet<Option<&str>> =
        listing.services.iter().map(|service| service.namespace.as_deref()).collect();
    let shared = match namespaces.into_iter().collect::<Vec<_>>().as_slice() {
        [Some(namespace)] => Some(*namespace),
        _ => None,
    };
    let nodes: Vec<&str> = listing.nodes.iter().map(|node| &*node.name).collect();
    let file = json!({
        "cluster": topology.cluster.as_deref(),
        "namespace": topology.namespace.as_deref().or(shared),
        "services": services,
        "nodes": nodes,
    });
    (file, left_out)
}

/// Whether `from` reaches `to` through `calls`.
fn reaches<'a>(calls: &HashMap<&'a str, Vec<&'a str>>, from: &'a str, to: &str) -> bool {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack = vec![from];
    while let Some(service) = stack.pop() {
        if service == to {
            return true;
        }
        if seen.insert(service) {
            stack.extend(calls.get(service).into_iter().flatten().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisegate_engine::inventory::{CallEntry, ServiceEntry};
    use noisegate_engine::model::EventTime;

    const SPANS: Origin = Origin {
        source: "spans",
        first_seen: Some(EventTime::from_millis(1_000)),
        last_seen: Some(EventTime::from_millis(2_000)),
    };

    fn service(name: &str) -> ServiceEntry {
        ServiceEntry { name: name.into(), kind: None, namespace: None, origin: SPANS, entry_point: false }
    }

    fn call(from: &str, to: &str) -> CallEntry {
        CallEntry { from: from.into(), to: to.into(), origin: SPANS }
    }

    #[test]
    fn a_loop_of_learned_calls_is_cut_where_it_closes_and_the_rest_written() {
        let listing = Listing {
            services: ["api", "cart", "db"].map(service).to_vec(),
            calls: vec![call("api", "cart"), call("cart", "api"), call("cart", "db"), call("db", "api")],
            ..Listing::default()
        };
        let (file, left_out) = topology_file(&listing, &Topology::default());
        assert_eq!(left_out, [("cart", "api"), ("db", "api")]);
        assert_eq!(file["services"]["api"]["depends_on"], json!(["cart"]));
        assert_eq!(file["services"]["cart"]["depends_on"], json!(["db"]));
        assert_eq!(file["services"]["db"]["depends_on"], json!([]));
        assert_eq!(file["namespace"], Value::Null);
    }
}
