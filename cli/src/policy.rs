//! `sliceplane policy eval` and `sliceplane policy matrix` (DESIGN.md §13).
//!
//! * `--cluster C`: Namespaces and Pods as a kubectl List, JSON lines or a
//!   watch stream (read like `run` input: events are applied in order,
//!   `DELETED` removes). Other kinds are ignored.
//! * `--policies P` (repeatable): policies as a List, JSON values, a watch
//!   stream, or YAML documents separated by `---` (each a policy or a
//!   List). Watch events are applied in order (`DELETED` removes).
//! * `--probes Q` (`eval`): JSON lines `{"from", "to", "port", "protocol"}`,
//!   each side `"namespace/pod"` or an IP, the port a number or a named
//!   port of the destination, the protocol `TCP` (default), `UDP` or `SCTP`.
//!
//! At most one of the inputs may be `-` (stdin).
//!
//! `eval` prints one JSON line per probe, in input order, the shape every
//! binding returns ([`sliceplane::wire::ProbeAnswer`]): the probe's
//! fields, then the verdict (`verdict`, `egress`, `ingress`, `deciding`),
//! or `error` (`code`, `number`, `field`, `message`) when the probe cannot
//! be evaluated; the other probes still print. The probe rules (port
//! 1-65535 or a name, protocol TCP/UDP/SCTP, errors `invalid_probe`) are
//! [`sliceplane::wire::Probe`]'s.
//!
//! A policy that is invalid, or uses a feature the engine does not evaluate
//! (layer 7 rules and the like: `unsupported_policy`), is reported on stderr
//! as `position: [code] Kind namespace/name field F: message` and
//! **skipped**: the verdicts are those of the remaining policies. The same
//! goes for unreadable cluster entries. Exit status: 0 when everything was
//! read and every probe evaluated, 1 when anything was reported (the output
//! is still complete for what could be read), 2 for usage and I/O errors.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

use anyhow::bail;
use clap::{Args as ClapArgs, Subcommand};
use serde_json::Value;
use sliceplane::model::{Namespace, Pod};
use sliceplane::policy::{
    PolicyCluster, PolicyConfig, PolicyKey, PolicyObject, PolicyOptions, Protocol,
};
use sliceplane::wire::{self, Probe, ProbeAnswer};
use sliceplane::{Error, EventType, Object};

use crate::input::{self, RawItem};

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Evaluate probes (JSON lines) against the cluster's policies.
    Eval(EvalArgs),
    /// Print the reachability truth table over every pod (e2e style).
    Matrix(MatrixArgs),
}

#[derive(ClapArgs)]
struct Inputs {
    /// Namespaces and Pods: a kubectl List, JSON lines or a watch stream.
    #[arg(long)]
    cluster: String,
    /// Policies: a List, JSON values, a watch stream or YAML documents.
    /// Repeatable.
    #[arg(long, required = true)]
    policies: Vec<String>,
    /// Global audit mode: would-be denies become `audit`.
    #[arg(long)]
    audit: bool,
    /// Cilium's behaviour: ipBlock/CIDR rules match only addresses outside
    /// the cluster (default: they also select pod and node addresses).
    #[arg(long)]
    no_ip_block_cluster_ips: bool,
}

#[derive(ClapArgs)]
struct EvalArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Probes: JSON lines `{"from", "to", "port", "protocol"}`.
    #[arg(long)]
    probes: String,
}

#[derive(ClapArgs)]
struct MatrixArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Destination port: a number or a named port.
    #[arg(long, default_value = "80")]
    port: String,
    /// TCP, UDP or SCTP.
    #[arg(long, default_value = "TCP")]
    protocol: String,
    /// Print the matrix as JSON instead of the truth table.
    #[arg(long)]
    json: bool,
}

pub fn main(args: Args) -> anyhow::Result<u8> {
    match args.command {
        PolicyCommand::Eval(a) => eval(a),
        PolicyCommand::Matrix(a) => matrix(a),
    }
}

fn report(at: &str, e: &Error) {
    eprintln!("{at}: {e}");
}

/// Reads the cluster and the policies; `failed` is set when anything was
/// reported. `None` when no cluster could be built.
fn load(
    inputs: &Inputs,
    extra: Option<&str>,
    failed: &mut bool,
) -> anyhow::Result<Option<PolicyCluster>> {
    let stdin_uses = std::iter::once(inputs.cluster.as_str())
        .chain(inputs.policies.iter().map(String::as_str))
        .chain(extra)
        .filter(|p| *p == "-")
        .count();
    if stdin_uses > 1 {
        bail!("only one input may be `-` (stdin)");
    }

    let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
    let mut pods: BTreeMap<(String, String), Pod> = BTreeMap::new();
    for item in input::read_all(&inputs.cluster)? {
        let ev = match item.event {
            Ok(ev) => ev,
            Err(e) => {
                report(&item.at, &e);
                *failed = true;
                continue;
            }
        };
        let deleted = ev.event_type == EventType::Deleted;
        match ev.object {
            Object::Namespace(ns) => {
                if deleted {
                    namespaces.remove(&ns.metadata.name);
                } else {
                    namespaces.insert(ns.metadata.name.clone(), ns);
                }
            }
            Object::Pod(pod) => {
                let key = (
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    pod.metadata.name.clone(),
                );
                if deleted {
                    pods.remove(&key);
                } else {
                    pods.insert(key, pod);
                }
            }
            _ => {}
        }
    }
    let config = PolicyConfig {
        audit_mode: inputs.audit,
        ip_block_selects_cluster_ips: !inputs.no_ip_block_cluster_ips,
        ..PolicyConfig::default()
    };
    let namespaces: Vec<Namespace> = namespaces.into_values().collect();
    let pods: Vec<Pod> = pods.into_values().collect();
    let mut cluster = match PolicyCluster::new(&namespaces, &pods, config) {
        Ok(c) => c,
        Err(e) => {
            report(input::source_name(&inputs.cluster), &e);
            *failed = true;
            return Ok(None);
        }
    };

    // Installed policies by (kind, namespace, name) as written, for DELETED.
    let mut installed: BTreeMap<(String, String, String), PolicyKey> = BTreeMap::new();
    for path in &inputs.policies {
        for RawItem { at, value } in input::read_documents(path)? {
            let value = match value {
                Ok(v) => v,
                Err(e) => {
                    report(&at, &e);
                    *failed = true;
                    continue;
                }
            };
            // Lists item by item, so one bad item does not hide the others.
            let is_list = value.get("type").is_none()
                && value
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k == "List" || k.ends_with("List"));
            let docs: Vec<(String, &Value)> = match value.get("items").and_then(Value::as_array) {
                Some(items) if is_list => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{at}[{i}]"), v))
                    .collect(),
                _ => vec![(at.clone(), &value)],
            };
            for (at, doc) in docs {
                let objects = match PolicyObject::list_from_value(doc) {
                    Ok(o) => o,
                    Err(e) => {
                        report(&at, &e);
                        *failed = true;
                        continue;
                    }
                };
                for (event_type, object) in objects {
                    let meta = object.metadata();
                    let id = (
                        object.kind().as_str().to_string(),
                        meta.namespace.clone().unwrap_or_default(),
                        meta.name.clone(),
                    );
                    if event_type.as_deref() == Some("DELETED") {
                        if let Some(key) = installed.remove(&id) {
                            cluster.engine_mut().remove_policy(&key);
                        }
                        continue;
                    }
                    match cluster
                        .engine_mut()
                        .upsert_policy_object(&object, PolicyOptions::default())
                    {
                        Ok(key) => {
                            installed.insert(id, key);
                        }
                        Err(e) => {
                            report(&at, &e);
                            *failed = true;
                        }
                    }
                }
            }
        }
    }
    Ok(Some(cluster))
}

fn eval(args: EvalArgs) -> anyhow::Result<u8> {
    let mut failed = false;
    let cluster = load(&args.inputs, Some(&args.probes), &mut failed)?;
    let probes = input::read_values(&args.probes)?;
    let Some(mut cluster) = cluster else {
        return Ok(1);
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for RawItem { at, value } in probes {
        let answer = match value {
            Ok(v) => wire::answer_probe(&mut cluster, &v),
            Err(mut e) => {
                e.message = format!("{at}: {}", e.message);
                ProbeAnswer::unreadable(&e)
            }
        };
        failed |= answer.error.is_some();
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(u8::from(failed))
}

fn matrix(args: MatrixArgs) -> anyhow::Result<u8> {
    let Some(protocol) = Protocol::parse(&args.protocol) else {
        bail!(
            "--protocol: expected TCP, UDP or SCTP, got {:?}",
            args.protocol
        );
    };
    let port = match Probe::port_from_str(&args.port) {
        Ok(p) => p,
        Err(e) => bail!("--port: {}", e.message),
    };
    let mut failed = false;
    let Some(mut cluster) = load(&args.inputs, None, &mut failed)? else {
        return Ok(1);
    };
    let m = cluster.matrix(port, protocol);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer(&mut out, &m)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(m.to_truth_table().as_bytes())?;
    }
    out.flush()?;
    Ok(u8::from(failed))
}
