// A candlelit patch to evcxr 0.22.0 (see PATCHED.md): cells compiled by rustc directly while only the cell changed.
//
// Every cell is a new `src/lib.rs` in the same one-crate package. Cargo's part of building it (reading the
// manifest and the lock file, checking the fingerprints of every dependency, asking rustc what it supports) gives
// the same answer each time while the manifest and the cargo command stay the same. So a build through cargo asks it (`-v`) for the rustc command it ran for the cell's crate, and the next cell
// runs that command itself when the manifest and the cargo command are the ones it was taken from. Anything else
// goes through cargo again, which gives the command anew.
//
// One exception: a path dependency's sources can change between two cells with the manifest unchanged, and only
// cargo would see that. So while the manifest names a path dependency (a learner's `:dep helper = { path = "helper" }`)
// every cell goes through cargo, unless the embedding program vouches that it stays as it is for the session: it
// names such dependencies in `EVCXR_FIXED_PATH_DEPS` (comma-separated, as the manifest names them; candlelit's
// prelude).
//
// `EVCXR_DIRECT_RUSTC=0` turns this off.

use once_cell::sync::Lazy;
use regex::Regex;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// The path dependencies that do not change during a session, named by the embedding program.
pub(crate) const FIXED_PATH_DEPS_ENV: &str = "EVCXR_FIXED_PATH_DEPS";

/// Variables of cargo's jobserver: their file descriptors exist only in a process cargo started.
const JOBSERVER_VARS: [&str; 3] = ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"];

/// A rustc command for the cell's crate, as cargo ran it, and the build it came from.
pub(crate) struct Recorded {
    /// The manifest, the cargo config and the cargo command it was recorded under.
    key: String,
    program: String,
    args: Vec<String>,
    /// The variables cargo set for rustc and those set on the cargo command, on top of this process's own.
    env: Vec<(OsString, OsString)>,
    cwd: PathBuf,
}

/// What the module knows about direct builds.
#[derive(Default)]
pub(crate) struct DirectRustc {
    recorded: Option<Recorded>,
    /// Set when a direct build failed for a reason other than the cell's code: cargo builds from then on.
    off: bool,
}

/// What a build may do.
pub(crate) enum Plan {
    /// Run this recorded command instead of cargo; it writes the shared object named.
    Direct(Command, PathBuf),
    /// Build with cargo, verbose (`-v`), to take its rustc command; the key to keep it under.
    CargoAndRecord(String),
    /// Build with cargo only.
    Cargo,
}

impl DirectRustc {
    /// What to do for a build with this manifest, whose cargo config and cargo command make up `rest_of_key`.
    pub(crate) fn plan(&mut self, manifest: &str, rest_of_key: &str) -> Plan {
        if self.off || std::env::var_os("EVCXR_DIRECT_RUSTC").is_some_and(|v| v == "0") {
            return Plan::Cargo;
        }
        let fixed = std::env::var(FIXED_PATH_DEPS_ENV).unwrap_or_default();
        let fixed: BTreeSet<&str> = fixed.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
        if !path_dependencies(manifest).iter().all(|name| fixed.contains(name.as_str())) {
            self.recorded = None;
            return Plan::Cargo;
        }
        let key = format!("{manifest}\n{rest_of_key}");
        if let Some(recorded) = self.recorded.as_ref().filter(|recorded| recorded.key == key)
            && let Some(so_file) = super::execution_so_source(recorded.args.iter().map(std::ffi::OsStr::new))
        {
            return Plan::Direct(recorded.command(), so_file);
        }
        self.recorded = None;
        Plan::CargoAndRecord(key)
    }

    /// After a successful verbose cargo build in `cwd`: keeps the rustc command it ran for the cell's crate, with the
    /// variables `envs` set on the cargo command. Without one (nothing was compiled), the next cell asks again.
    pub(crate) fn keep(
        &mut self,
        key: String,
        cargo_stderr: &[u8],
        cwd: &Path,
        envs: Vec<(OsString, OsString)>,
    ) {
        self.recorded = String::from_utf8_lossy(cargo_stderr)
            .lines()
            .filter_map(rustc_of_running_line)
            .find(|(_, _, args)| super::execution_so_source(args.iter().map(std::ffi::OsStr::new)).is_some())
            .map(|(vars, program, args)| {
                let mut env = envs;
                env.extend(vars.into_iter().map(|(name, value)| (OsString::from(name), OsString::from(value))));
                Recorded { key, program, args, env, cwd: cwd.to_owned() }
            });
    }

    /// Forgets the recorded command, for a build that changes what cargo would do (`cargo clean`).
    pub(crate) fn forget(&mut self) {
        self.recorded = None;
    }

    /// Builds with cargo from now on: a direct build failed for a reason other than the cell's code.
    pub(crate) fn turn_off(&mut self) {
        self.recorded = None;
        self.off = true;
    }
}

impl Recorded {
    /// The command, ready to run, with the variables cargo gave rustc.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(&self.cwd).envs(self.env.iter().cloned());
        command
    }
}

/// The names of the manifest's `path` dependencies (evcxr writes one dependency a line under `[dependencies]`).
fn path_dependencies(manifest: &str) -> BTreeSet<String> {
    static PATH: Lazy<Regex> = Lazy::new(|| Regex::new(r"\bpath\s*=").expect("a valid pattern"));
    manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .filter(|line| PATH.is_match(line))
        .filter_map(|line| Some(line.split_once('=')?.0.trim().to_owned()))
        .collect()
}

/// A line of `cargo build -v` that shows a rustc command ("Running `VAR=value ... rustc --crate-name ...`"): its
/// variables (less the jobserver's), program and arguments.
fn rustc_of_running_line(line: &str) -> Option<(Vec<(String, String)>, String, Vec<String>)> {
    let quoted = line.trim_start().strip_prefix("Running `")?.strip_suffix('`')?;
    let mut words = shlex::split(quoted)?.into_iter().peekable();
    let mut vars = Vec::new();
    while let Some((name, value)) = words.peek().and_then(|word| word.split_once('=')).filter(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        if !JOBSERVER_VARS.contains(&name) {
            vars.push((name.to_owned(), value.to_owned()));
        }
        words.next();
    }
    let program = words.next()?;
    Some((vars, program, words.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[package]\nname = \"ctx\"\n[dependencies]\ncandle-core = { version = \"0.11\" }\n";
    const RUNNING: &[u8] = b"       Fresh candle-core v0.11.1\n   Compiling ctx v1.0.0 (/s)\n     Running `CARGO=/bin/cargo \
        CARGO_CRATE_NAME=ctx CARGO_MAKEFLAGS='-j2 --jobserver-fds=3,4' /bin/rustc --crate-name ctx \
        src/lib.rs --out-dir /t/deps -C 'link-arg=x y'`\n";

    fn recorded(direct: &mut DirectRustc, manifest: &str, cargo: &str) {
        let Plan::CargoAndRecord(key) = direct.plan(manifest, cargo) else { panic!("a new build records") };
        direct.keep(key, RUNNING, Path::new("/s"), vec![("RUSTFLAGS".into(), "-Cprefer-dynamic".into())]);
    }

    #[test]
    fn cargos_rustc_command_is_taken_from_its_verbose_output() {
        let (vars, program, args) = rustc_of_running_line(std::str::from_utf8(RUNNING).unwrap().lines().nth(2).unwrap())
            .expect("a rustc command");
        assert_eq!(vars, [("CARGO".to_owned(), "/bin/cargo".to_owned()), ("CARGO_CRATE_NAME".into(), "ctx".into())]);
        assert_eq!(program, "/bin/rustc");
        assert_eq!(args.last().map(String::as_str), Some("link-arg=x y"));
        assert!(rustc_of_running_line("   Compiling ctx v1.0.0").is_none());
    }

    #[test]
    fn a_recorded_command_is_used_only_for_the_same_manifest_and_cargo_command() {
        let mut direct = DirectRustc::default();
        recorded(&mut direct, MANIFEST, "cargo build");
        let Plan::Direct(command, so_file) = direct.plan(MANIFEST, "cargo build") else {
            panic!("the same build runs rustc directly")
        };
        assert_eq!(so_file, PathBuf::from("/t/deps/libctx.so"));
        assert_eq!(command.get_current_dir(), Some(Path::new("/s")));
        let envs: Vec<_> = command.get_envs().filter_map(|(k, v)| Some((k.to_str()?, v?.to_str()?))).collect();
        assert!(envs.contains(&("RUSTFLAGS", "-Cprefer-dynamic")) && envs.contains(&("CARGO_CRATE_NAME", "ctx")));
        assert!(!envs.iter().any(|(k, _)| *k == "CARGO_MAKEFLAGS"), "no jobserver outside cargo");
        assert!(matches!(direct.plan(MANIFEST, "cargo build --offline"), Plan::CargoAndRecord(_)));
        assert!(direct.recorded.is_none(), "another cargo command drops the old command");
        let with_registry_dep = format!("{MANIFEST}rand = \"0.9\"\n");
        recorded(&mut direct, &with_registry_dep, "cargo build");
        assert!(matches!(direct.plan(&with_registry_dep, "cargo build"), Plan::Direct(..)));
        direct.turn_off();
        assert!(matches!(direct.plan(&with_registry_dep, "cargo build"), Plan::Cargo));
    }

    #[test]
    fn only_the_path_dependencies_the_embedder_vouches_for_allow_direct_builds() {
        let with_helper = format!("{MANIFEST}candlelit = {{ path = \"/p\" }}\nhelper = {{ path = \"helper\" }}\n");
        assert_eq!(path_dependencies(&with_helper), BTreeSet::from(["candlelit".to_owned(), "helper".to_owned()]));
        assert!(path_dependencies("[dependencies]\nrand = \"0.9\"\n").is_empty());
        assert!(matches!(DirectRustc::default().plan(&with_helper, "cargo build"), Plan::Cargo));
    }
}
