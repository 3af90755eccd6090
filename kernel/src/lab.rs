//! `candlelit lab`: JupyterLab on the lessons, with the kernel installed and the compile cache warm.
//!
//! Finds `jupyter` (a venv under the candlelit home first, then `$PATH`), or creates that venv with JupyterLab
//! from PyPI; installs the kernelspec where that Jupyter looks; starts JupyterLab on `notebooks/`, bound to
//! 127.0.0.1 with a random token.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `candlelit lab`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port to listen on (127.0.0.1 only).
    #[arg(long, default_value_t = 8888)]
    pub port: u16,
    /// Do not open a browser (print the address instead).
    #[arg(long)]
    pub no_browser: bool,
    /// Folder to open (default: the repository's notebooks/; for an installed binary whose clone is gone,
    /// ~/.candlelit/lessons, where the lessons are copied on first use).
    #[arg(long, value_name = "DIR")]
    pub notebook_dir: Option<PathBuf>,
    /// Skip warming the compile cache (the first cell then compiles Candle).
    #[arg(long)]
    pub no_warm: bool,
}

/// Runs `candlelit lab` until JupyterLab exits.
///
/// # Errors
/// When Python or JupyterLab cannot be set up, or JupyterLab fails to start.
pub fn run(args: &Args) -> Result<(), String> {
    let (jupyter, prefix) = find_or_create_jupyter()?;
    let dir = crate::install::write_kernelspec(prefix.as_deref())?;
    println!("Kernel \"{}\" installed in {}", crate::install::DISPLAY_NAME, dir.display());
    if !args.no_warm {
        crate::install::warm()?;
    }
    let notebooks = match args.notebook_dir.clone() {
        Some(dir) => dir,
        None => crate::paths::notebooks()?,
    };
    if !notebooks.is_dir() {
        return Err(format!(
            "there is no folder {} to open; give an existing one to --notebook-dir",
            notebooks.display()
        ));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    println!("Starting JupyterLab on {} — http://127.0.0.1:{}/lab?token={token}", notebooks.display(), args.port);
    let mut command = Command::new(&jupyter);
    command
        .arg("lab")
        .arg("--ServerApp.ip=127.0.0.1")
        .arg(format!("--ServerApp.port={}", args.port))
        .arg("--ServerApp.port_retries=0")
        .arg(format!("--ServerApp.root_dir={}", notebooks.display()))
        .arg(format!("--ServerApp.open_browser={}", if args.no_browser { "False" } else { "True" }))
        // In the environment, not on the command line, where every user of the machine sees it (`ps`).
        .env("JUPYTER_TOKEN", &token);
    // A kernel loading in the background, for the first notebook opened (see `standby`). Without one, kernels
    // simply start the slow way.
    let owner = crate::standby::Owner::this_process();
    match crate::standby::socket_for(owner).and_then(|socket| {
        crate::standby::spawn(&socket, owner)?;
        Ok(socket)
    }) {
        Ok(socket) => {
            command.env(crate::standby::SOCKET_VAR, socket).env(crate::standby::OWNER_VAR, owner.to_env());
        }
        Err(e) => eprintln!("candlelit: kernels will start without a standby: {e}"),
    }
    // Containers and CI machines often run as root, which Jupyter Server refuses unless told otherwise.
    #[cfg(unix)]
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        command.arg("--ServerApp.allow_root=True");
    }
    // Become JupyterLab, so that Ctrl-C and a service manager's SIGTERM reach it (and its kernels) directly.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        Err(format!("cannot start {}: {error}", jupyter.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command.status().map_err(|e| format!("cannot start {}: {e}", jupyter.display()))?;
        if status.success() { Ok(()) } else { Err(format!("JupyterLab stopped with {status}")) }
    }
}

/// `jupyter` to run, and the prefix its kernelspecs live under (`None`: the user's Jupyter folder).
fn find_or_create_jupyter() -> Result<(PathBuf, Option<PathBuf>), String> {
    let venv = crate::paths::home().join("venv");
    let venv_jupyter = venv.join("bin").join("jupyter");
    if has_lab(&venv_jupyter) {
        return Ok((venv_jupyter, Some(venv)));
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("jupyter"))
        .find(|candidate| has_lab(candidate))
    {
        return Ok((found, None));
    }
    println!("JupyterLab not found; installing it into {} (from PyPI, about a minute).", venv.display());
    create_venv(&venv)?;
    if has_lab(&venv_jupyter) { Ok((venv_jupyter, Some(venv))) } else { Err("JupyterLab did not install".into()) }
}

fn has_lab(jupyter: &Path) -> bool {
    jupyter.is_file() && Command::new(jupyter).args(["lab", "--version"]).output().is_ok_and(|o| o.status.success())
}

fn create_venv(venv: &Path) -> Result<(), String> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))
        .ok_or("candlelit lab needs Python 3 (python3) to install JupyterLab; install it and try again")?;
    run_step(Command::new(python).args(["-m", "venv"]).arg(venv), "create a Python venv")?;
    run_step(
        Command::new(venv.join("bin").join("python")).args(["-m", "pip", "install", "--quiet", "jupyterlab>=4,<5"]),
        "install JupyterLab with pip",
    )
}

fn run_step(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("cannot {what}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("could not {what} ({status})")) }
}
