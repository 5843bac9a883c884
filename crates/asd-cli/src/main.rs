//! `asd`: the command-line edge of the anomalous sound detection system. Parsing and reporting only;
//! the work is done by the library crates.

mod commands;
mod examples;
mod progress;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "asd",
    version,
    about = "Anomalous sound detection for machine condition monitoring (DCASE task 2)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one embedding model (the paper's two-branch network, AdaProj, mixup, feature exchange)
    /// on all training clips of a dataset.
    Train(commands::train::TrainArgs),
    /// Embed a dataset (into an embedding set) or raw waveforms (.npy) with a trained model.
    Embed(commands::embed::EmbedArgs),
    /// Model folders: import reference PyTorch weights.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Run an experiment: train an ensemble, embed, score with the paper's methods and baselines,
    /// evaluate members and ensemble, sweep K and r, and write report.md / report.html.
    Run(commands::run::RunArgs),
    /// Benchmarks (speed is measured, never asserted in tests).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Rebuild the report of a run folder from its saved results.
    Report(commands::report::ReportArgs),
    /// Score the test clips of an embedding set against the normal training clips of their section and
    /// write the DCASE submission files.
    Score(commands::score::ScoreArgs),
    /// Evaluate anomaly-score files against ground truth with the DCASE metrics.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Write a synthetic DCASE 2023-style dataset (machine sounds with attributes, a shifted target
    /// domain and subtle anomalies).
    Synth(commands::synth::SynthArgs),
    /// Work with DCASE datasets on disk.
    #[command(subcommand)]
    Dataset(commands::dataset::DatasetCommand),
    /// The main job on built-in data: a small synthetic dataset, two models, the paper's scores and
    /// the baselines, and a report (1 min 35 s on an Intel Xeon with AVX-512, 2 cores; 2 min 09 s on an
    /// AVX2-only AMD EPYC Zen 3; 202 MB of output). `--reference` scores the scoring
    /// fixture instead (synthetic embeddings, whose scores the authors' code computed).
    Demo(commands::demo::DemoArgs),
    /// The monitoring service: monitors over a trained model that learn a new condition from a few
    /// enrolled normal clips, without retraining (HTTP API, web page, streaming; docs/monitor.md).
    Monitor(Box<commands::monitor::MonitorArgs>),
}

fn main() -> std::process::ExitCode {
    asd_kernels::alloc::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,symphonia_core::formats::probe=off".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let matches = examples::attach(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Score(a) => commands::score::run(&a),
        Command::Evaluate(a) => commands::evaluate::run(&a),
        Command::Demo(a) => commands::demo::run(&a),
        Command::Synth(a) => commands::synth::run(&a),
        Command::Train(a) => commands::train::run(&a),
        Command::Run(a) => commands::run::run(&a),
        Command::Report(a) => commands::report::run(&a),
        Command::Bench(c) => commands::bench::run(&c),
        Command::Embed(a) => commands::embed::run(&a),
        Command::Model(c) => commands::model::run(&c),
        Command::Dataset(c) => commands::dataset::run(&c),
        Command::Monitor(a) => commands::monitor::run(&a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", each message once: library errors that name a path
/// already include their cause's text, which anyhow's `{:#}` would print a second time.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    /// Every leaf subcommand has an example, every option a description, and nothing shows a path of
    /// the machine that built the binary.
    #[test]
    fn every_subcommand_has_an_example_and_every_flag_a_description() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
            if subs.is_empty() {
                let after = cmd
                    .get_after_help()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                if !after.contains("Example:\n  asd ") {
                    problems.push(format!("{path}: no example"));
                }
            }
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    problems.push(format!("{path} --{id}: no description"));
                }
                for d in a.get_default_values() {
                    if d.to_string_lossy().contains(env!("CARGO_MANIFEST_DIR")) {
                        problems.push(format!("{path} --{id}: default is a build path"));
                    }
                }
            }
            for s in subs {
                walk(s, &format!("{path} {}", s.get_name()), problems);
            }
        }
        let cmd = super::examples::attach(super::Cli::command());
        cmd.clone().debug_assert();
        let mut problems = Vec::new();
        walk(&cmd, "asd", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // Each example parses as it is written.
        for (_, text) in super::examples::EXAMPLES {
            for line in text.split('\n') {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let Err(e) = cmd.clone().try_get_matches_from(&words) {
                    panic!("example '{line}' does not parse: {e}");
                }
            }
        }
        for (path, _) in super::examples::EXAMPLES {
            let mut c = &cmd;
            for p in path.split(' ') {
                c = c
                    .find_subcommand(p)
                    .unwrap_or_else(|| panic!("example for unknown subcommand '{path}'"));
            }
        }
    }

    #[test]
    fn each_message_of_the_chain_is_printed_once() {
        let os = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os_text = os.to_string();
        #[derive(Debug, thiserror::Error)]
        #[error("data/x.wav: {source}")]
        struct Named {
            source: std::io::Error,
        }
        let e = anyhow::Error::new(Named { source: os }).context("reading the dataset");
        let text = super::error_chain(&e);
        assert_eq!(text, format!("reading the dataset: data/x.wav: {os_text}"));
        assert_eq!(text.matches(&os_text).count(), 1);
    }
}
