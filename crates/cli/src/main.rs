//! `vibrant`: a CPU inference engine for GGUF models.
//! Each subcommand lives in its own module with its own clap `Args`.

mod bench;
mod chat;
mod common;
mod inspect;
mod perplexity;
mod run;
mod template;
mod tokenize;

use clap::{Parser, Subcommand};

// Counts heap allocations (for `vibrant bench`); forwards everything to the system allocator.
#[global_allocator]
static ALLOC: engine::alloc_count::CountingAlloc = engine::alloc_count::CountingAlloc;

#[derive(Parser)]
#[command(name = "vibrant", version, about = "Fast CPU inference for GGUF language models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt.
    Run(run::Args),
    /// Multi-turn chat through the model's chat template, one user line per turn.
    Chat(chat::Args),
    /// Perplexity of a text file, as llama-perplexity computes it.
    Perplexity(perplexity::Args),
    /// Prompt and generation throughput, as llama-bench measures them.
    Bench(bench::Args),
    /// Print a GGUF file's metadata and tensor table.
    Inspect(inspect::Args),
    /// Tokenize text with a model's vocabulary and print the ids.
    Tokenize(tokenize::Args),
    /// Render an OpenAI-style message list with the model's chat template.
    Template(template::Args),
}

/// llama.cpp's single-dash long options `-ctk`/`-ctv`/`-fa` (clap would read `-ctk` as `-c tk`).
fn llama_cpp_spelling(arg: std::ffi::OsString) -> std::ffi::OsString {
    match arg.to_str() {
        Some("-ctk") => "--cache-type-k".into(),
        Some("-ctv") => "--cache-type-v".into(),
        Some("-fa") => "--flash-attn".into(),
        _ => arg,
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIBRANT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse_from(llama_spellings(std::env::args_os().map(llama_cpp_spelling)));
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Chat(a) => chat::run(a),
        Command::Perplexity(a) => perplexity::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Tokenize(a) => tokenize::run(a),
        Command::Template(a) => template::run(a),
    };
    if let Err(e) = result {
        // One line, no backtrace: bad input is reported, never a panic.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// llama.cpp's multi-letter short option `-sys` (chat's system message) as clap's `--system`;
/// clap's short options are one letter, and `-sys` would otherwise read as `-s ys`.
fn llama_spellings(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = args.collect();
    if args.get(1).is_some_and(|a| a == "chat") {
        for a in args.iter_mut().skip(2) {
            if a == "-sys" {
                *a = "--system".into();
            }
        }
    }
    args
}
