//! `candlelit`: the command behind the lessons — the Jupyter kernel, `lab`, `install`, the runner and the grader,
//! over one evaluation session.

#![deny(missing_docs)]

mod bench;
mod bench_model;
mod grade;
mod history;
mod install;
mod kernel;
mod lab;
mod lessons;
mod notebook;
mod papermill;
mod paths;
mod prelude_copy;
mod repl;
mod repl_input;
mod runner;
mod session;
mod standby;
mod stdin_channel;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// candlelit — learn deep learning in Rust with Candle.
#[derive(Parser, Debug)]
#[command(name = "candlelit", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open the lessons in JupyterLab with the "Rust · candlelit" kernel (installs what is missing).
    Lab(lab::Args),
    /// Install the Jupyter kernelspec and warm the compile cache.
    Install(install::Args),
    /// Build the notebooks from the lesson sources, or check that they are up to date.
    Lessons(lessons::Args),
    /// Execute a notebook headless and save it with its outputs (`-p NAME=VALUE` overrides parameters).
    Run(runner::Args),
    /// Experiment in the terminal with the prelude in scope (`candlelit repl < script.rs` runs a script).
    Repl(repl::Args),
    /// Grade learners' notebooks against their lesson's checks (hidden ones included) and write a report.
    Grade(grade::Args),
    /// Measure how fast the lessons' models train here, beside PyTorch (build with --release for real figures).
    Bench(bench::Args),
    /// Grade one submission inside its sandbox (started by `candlelit grade`, not by hand).
    #[command(hide = true)]
    GradeWorker,
    /// Run the Jupyter kernel (started by Jupyter, not by hand).
    Kernel {
        /// The connection file Jupyter wrote.
        #[arg(long, short = 'f', required_unless_present = "standby")]
        connection_file: Option<PathBuf>,
        /// Load the prelude now and wait on this socket for a kernel to take over (started by `candlelit lab`).
        #[arg(long, value_name = "SOCKET", hide = true, conflicts_with = "connection_file")]
        standby: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // evcxr runs cells in a child process that is this same binary; the hook turns such a process into the
    // evaluator (and never returns there). It must come before anything else.
    session::cell_process::prepare();
    evcxr::runtime_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        None => {
            println!(
                "candlelit {} (CUDA support: {})",
                env!("CARGO_PKG_VERSION"),
                if cfg!(feature = "cuda") { "yes" } else { "no" }
            );
            println!("Run `candlelit lab` to open the lessons, or `candlelit --help` for every command.");
            Ok(())
        }
        Some(Command::Kernel { standby: Some(socket), .. }) => standby::serve(&socket),
        Some(Command::Kernel { connection_file: Some(file), .. }) => standby::run_kernel(&file),
        Some(Command::Kernel { .. }) => Err("`candlelit kernel` needs --connection-file (Jupyter passes it)".into()),
        Some(Command::Install(args)) => install::run(&args),
        Some(Command::Lab(args)) => lab::run(&args),
        Some(Command::Lessons(args)) => lessons::run(&args),
        Some(Command::Run(args)) => runner::run(&args),
        Some(Command::Grade(args)) => grade::run(&args),
        Some(Command::GradeWorker) => grade::worker::serve(),
        Some(Command::Repl(args)) => repl::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("candlelit: {message}");
            ExitCode::FAILURE
        }
    }
}
