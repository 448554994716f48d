//! `sliceplane`: the command line of the sliceplane engine (DESIGN.md §11).

mod examples;
mod input;
mod inspect;
mod policy;
mod report;
mod run;
mod simulate;

use std::process::ExitCode;

// Many small, long-lived allocations: mimalloc keeps the heap compact and fast
// (measured in BENCHMARKS.md). The core itself does not pick an allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sliceplane",
    version,
    about = "Turn Kubernetes endpoint churn into CiliumEndpointSlices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read watch events (files or `-` for stdin) and print the write plan.
    #[command(long_about = run::LONG_ABOUT)]
    Run(run::Args),
    /// What would sliceplane do to my cluster, against Cilium's controller? Replays churn
    /// on a generated cluster or `--from` a real one, side by side, with conclusions.
    Simulate(simulate::Args),
    /// Report counts, fill and fragmentation of existing CiliumEndpointSlices.
    Inspect(inspect::Args),
    /// Network-policy verdicts: evaluate probes, print the reachability matrix.
    #[command(subcommand_required = true)]
    Policy(policy::Args),
    /// Regenerate examples/ (deterministic).
    #[command(hide = true)]
    GenExample(examples::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Run(a) => run::main(a),
        Command::Simulate(a) => simulate::main(a),
        Command::Inspect(a) => inspect::main(a),
        Command::Policy(a) => policy::main(a),
        Command::GenExample(a) => examples::main(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
