//! `candlelit install`: writes the "Rust · candlelit" kernelspec and warms the compile cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::session::{Options, Session};

/// Where to install, and whether to warm the cache.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Install for the current user (the default).
    #[arg(long, conflicts_with = "prefix")]
    pub user: bool,
    /// Install into a Python environment or other prefix (kernelspec under PREFIX/share/jupyter/kernels).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// Only write the kernelspec; the first cell then compiles Candle (minutes on a fresh machine).
    #[arg(long)]
    pub no_warm: bool,
}

/// The kernelspec's name, as notebooks refer to it.
pub const KERNEL_NAME: &str = "candlelit";
/// What JupyterLab shows in its launcher and kernel picker.
pub const DISPLAY_NAME: &str = "Rust · candlelit";

/// Runs `candlelit install`.
///
/// # Errors
/// When the kernelspec cannot be written or the prelude cannot be compiled.
pub fn run(args: &Args) -> Result<(), String> {
    let dir = write_kernelspec(args.prefix.as_deref())?;
    println!("Installed the Jupyter kernel \"{DISPLAY_NAME}\" in {}", dir.display());
    if !args.no_warm {
        warm()?;
    }
    Ok(())
}

/// The kernelspec folder for a prefix, or the user's Jupyter data folder.
pub fn kernelspec_dir(prefix: Option<&Path>) -> PathBuf {
    let base = match prefix {
        Some(prefix) => prefix.join("share").join("jupyter"),
        None => match std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::data_dir().unwrap_or_else(|| crate::paths::home().join("share")).join("jupyter"),
        },
    };
    base.join("kernels").join(KERNEL_NAME)
}

/// Writes `kernel.json` and the logos; returns the folder.
///
/// # Errors
/// When the folder cannot be written.
pub fn write_kernelspec(prefix: Option<&Path>) -> Result<PathBuf, String> {
    let dir = kernelspec_dir(prefix);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the candlelit binary: {e}"))?;
    let mut env = serde_json::Map::new();
    for var in ["CANDLELIT_CACHE", "CANDLELIT_HOME", "CANDLELIT_PRELUDE", "CANDLELIT_DEVICE", "CANDLELIT_DATA"] {
        if let Ok(value) = std::env::var(var) {
            env.insert(var.into(), value.into());
        }
    }
    let spec = serde_json::json!({
        "argv": [exe.display().to_string(), "kernel", "--connection-file", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "rust",
        "interrupt_mode": "message",
        "env": env,
        "metadata": { "debugger": false },
    });
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    write("kernel.json", text.as_bytes())?;
    write("logo-svg.svg", LOGO_SVG.as_bytes())?;
    write("logo-32x32.png", &logo_png(32)?)?;
    write("logo-64x64.png", &logo_png(64)?)?;
    Ok(dir)
}

/// The logo: a candle flame on a dark tile.
const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
  <rect width="64" height="64" rx="12" fill="#1f2430"/>
  <rect x="24" y="34" width="16" height="24" rx="2" fill="#f2e9d8"/>
  <path d="M32 6 C40 18 42 24 38 30 C36 33 28 33 26 30 C22 24 26 16 32 6 Z" fill="#f5a623"/>
  <path d="M32 16 C36 22 36 26 34 29 C33 30 31 30 30 29 C28 26 29 21 32 16 Z" fill="#fff3c4"/>
</svg>
"##;

/// The same logo drawn pixel by pixel (Jupyter wants PNGs at 32 and 64 px).
fn logo_png(size: u32) -> Result<Vec<u8>, String> {
    let scale = 64.0 / f64::from(size);
    let image = image::RgbaImage::from_fn(size, size, |px, py| {
        let (x, y) = ((f64::from(px) + 0.5) * scale, (f64::from(py) + 0.5) * scale);
        // Flame: a teardrop between y = 6 and y = 32 around x = 32.
        let t = (y - 6.0) / 26.0;
        let half_width = if (0.0..=1.0).contains(&t) { 8.0 * (std::f64::consts::PI * t).sin().powf(0.8) } else { 0.0 };
        let inner = half_width * 0.45;
        if (x - 32.0).abs() < inner && t > 0.4 {
            image::Rgba([255, 243, 196, 255])
        } else if (x - 32.0).abs() < half_width {
            image::Rgba([245, 166, 35, 255])
        } else if (24.0..40.0).contains(&x) && (34.0..58.0).contains(&y) {
            image::Rgba([242, 233, 216, 255])
        } else {
            image::Rgba([31, 36, 48, 255])
        }
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| format!("cannot encode the logo: {e}"))?;
    Ok(bytes)
}

/// The cell `warm` runs: the prelude's first use, and on a GPU every kind of kernel the lessons use, which the
/// CUDA driver compiles on first use and then keeps in its cache (`candlelit::device::prepare_kernels`).
const WARM_CELL: &str = "let dev = device()?;\nlet warm = Tensor::ones((2, 2), DType::F32, &dev)?;\n\
                         candlelit::device::prepare_kernels(&dev)?;\nwarm.matmul(&warm)?.sum_all()?.to_scalar::<f32>()?";

/// Compiles Candle and the prelude into the cache and runs one tensor cell, with a progress bar.
///
/// # Errors
/// When the prelude does not load.
pub fn warm() -> Result<(), String> {
    let options = Options::from_env();
    let root = options.slot_root();
    let lockfile = root.join("slot-0").join("Cargo.lock");
    let lockfile = if lockfile.exists() { lockfile } else { options.prelude.join("Cargo.lock") };
    let expected = count_packages(&lockfile).max(1);
    println!("Warming the compile cache in {} (first time: several minutes).", root.display());
    if cfg!(feature = "cuda") {
        println!("With a GPU, its kernels are compiled too, once (about half a minute), so lessons start at once.");
    }
    let started = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let interactive = std::io::IsTerminal::is_terminal(&std::io::stdout());
            let mut last_print = Instant::now() - Duration::from_secs(60);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let compiled = count_compiled(&root).min(expected);
                let filled = compiled * 30 / expected;
                let line = format!(
                    "[{}{}] {compiled}/{expected} crates, {:.0} s",
                    "#".repeat(filled),
                    "-".repeat(30 - filled),
                    started.elapsed().as_secs_f64()
                );
                if interactive {
                    print!("\r{line}");
                    let _ = std::io::stdout().flush();
                } else if last_print.elapsed() >= Duration::from_secs(30) {
                    println!("{line}");
                    last_print = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            if interactive {
                println!();
            }
        })
    };
    download_dependencies(&options.prelude);
    let result = Session::start(options).and_then(|mut session| {
        let mut problem = None;
        let ok = session.execute(WARM_CELL, &mut |out| {
            if let crate::session::Output::Error(e) = out {
                problem = Some(e.to_text());
            }
        });
        if ok { Ok(()) } else { Err(problem.unwrap_or_else(|| "the warm-up cell failed".into())) }
    });
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = progress.join();
    result?;
    println!("Compile cache ready ({:.0} s).", started.elapsed().as_secs_f64());
    Ok(())
}

/// Downloads every crate the prelude's lock file names, for every platform. Sessions run cargo offline, and
/// evcxr asks cargo for the metadata of a `:dep`, which needs the crates of other platforms too (wasm-only ones,
/// say) that building the prelude never downloads. With nothing to download this takes a moment and no network.
fn download_dependencies(prelude: &Path) {
    let fetched = std::process::Command::new("cargo")
        .arg("fetch")
        .arg("--manifest-path")
        .arg(prelude.join("Cargo.toml"))
        .stdout(std::process::Stdio::null())
        .status();
    match fetched {
        Ok(status) if status.success() => {}
        Ok(_) | Err(_) => eprintln!(
            "candlelit: `cargo fetch` for {} did not complete; if loading the prelude then fails, run `cargo fetch` \
             there once with network access",
            prelude.display()
        ),
    }
}

fn count_packages(lockfile: &Path) -> usize {
    std::fs::read_to_string(lockfile).map(|text| text.matches("[[package]]").count()).unwrap_or(0)
}

/// Crates compiled so far in the fullest slot (one library per crate in cargo's `deps` folders).
fn count_compiled(root: &Path) -> usize {
    let Ok(slots) = std::fs::read_dir(root) else { return 0 };
    slots
        .flatten()
        .map(|slot| {
            let target = slot.path().join("target");
            let mut dirs = vec![target.join("debug").join("deps")];
            if let Ok(triples) = std::fs::read_dir(&target) {
                dirs.extend(triples.flatten().map(|t| t.path().join("debug").join("deps")));
            }
            let mut names = std::collections::HashSet::new();
            for dir in dirs {
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.ends_with(".rlib") || name.ends_with(".so") {
                        names.insert(name.rsplit_once('-').map_or(name.clone(), |(n, _)| n.to_string()));
                    }
                }
            }
            names.len()
        })
        .max()
        .unwrap_or(0)
}
