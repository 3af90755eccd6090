//! `candlelit`: the command behind the lessons. The Jupyter kernel, REPL, notebook runner and grader arrive as
//! subcommands over one evaluation session; for now it reports its version and what it was built with.

#![deny(missing_docs)]

use clap::Parser;

/// candlelit — learn deep learning in Rust with Candle.
#[derive(Parser, Debug)]
#[command(name = "candlelit", version)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!(
        "candlelit {} (CUDA support: {})",
        env!("CARGO_PKG_VERSION"),
        if cfg!(feature = "cuda") { "yes" } else { "no" }
    );
    println!("Run `candlelit --help` for the commands.");
}
