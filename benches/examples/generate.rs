//! Times cluster generation (and the initial event list) per scale.
//!
//! `cargo run --release -p sliceplane-workload --example generate -- S M L`

use std::time::Instant;

use sliceplane_workload::{Cluster, Scale, Source, WorkloadSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scales: Vec<Scale> = if args.is_empty() {
        Scale::ALL.to_vec()
    } else {
        args.iter()
            .map(|a| a.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    };
    for scale in scales {
        let spec = WorkloadSpec::scale(scale);
        let t = Instant::now();
        let cluster = Cluster::generate(&spec).expect("valid spec");
        let gen_time = t.elapsed();
        let t = Instant::now();
        let events = cluster.initial_events(Source::Pods).len();
        let ev_time = t.elapsed();
        let t = Instant::now();
        let ceps = cluster.ciliumendpoints().len();
        let cep_time = t.elapsed();
        println!(
            "{scale}: {} pods on {} nodes generated in {gen_time:.2?}; {events} initial events in {ev_time:.2?}; {ceps} CEPs in {cep_time:.2?}",
            spec.pods, spec.nodes
        );
    }
}
