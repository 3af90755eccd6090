//! Downloading dataset files once, checking them, and keeping them in a cache.
//!
//! Each [`RemoteFile`] knows its folder and name, its canonical URLs and its sha256. [`fetch`] returns the path of
//! the file under [`data_dir`] (`$CANDLELIT_DATA`, else the user's cache folder + `candlelit/data`), downloading it
//! first when it is missing:
//!
//! - the transfer streams into `NAME.part` beside the final file, with a progress line on stderr;
//! - the finished file's sha256 must match, then it is renamed into place — so a file in the cache is always a
//!   verified one. A file whose checksum differs is deleted and reported, never used;
//! - a transfer cut short keeps its `.part` when the server can resume (it answers byte ranges), and the next run
//!   continues from there; otherwise the partial file is deleted;
//! - `CANDLELIT_DATA_MIRROR` replaces the canonical hosts with a folder or an `http://` address laid out like them
//!   (`mnist/t10k-images-idx3-ubyte.gz`, ...): offline machines, classrooms and tests use it;
//! - with no network, the error says which file to put where.

use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Error, Result};
use sha2::{Digest, Sha256};

/// A file a dataset needs, and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// The folder it goes in under the data folder, and under a mirror (`"mnist"`, `"fashion-mnist"`, `"sklearn"`).
    pub folder: &'static str,
    /// The file name (`"t10k-images-idx3-ubyte.gz"`).
    pub name: &'static str,
    /// The addresses of the folders it is published in (ending in `/`), tried in order; its URL is one of them
    /// followed by `name`.
    pub hosts: &'static [&'static str],
    /// The sha256 of its bytes, lower-case hex.
    pub sha256: &'static str,
    /// Its size in bytes.
    pub size: u64,
}

impl RemoteFile {
    /// Where the file lives in the data folder `data_dir`.
    pub fn path_in(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.folder).join(self.name)
    }

    /// Its canonical URLs, in the order they are tried.
    pub fn urls(&self) -> Vec<String> {
        self.hosts.iter().map(|host| format!("{host}{}", self.name)).collect()
    }
}

/// Where dataset files come from instead of their canonical hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mirror {
    /// A folder laid out like the hosts: `FOLDER/mnist/t10k-images-idx3-ubyte.gz`.
    Folder(PathBuf),
    /// An HTTP server laid out the same way: `http://127.0.0.1:8000/mnist/t10k-images-idx3-ubyte.gz`.
    Http(String),
}

impl Mirror {
    /// Reads `CANDLELIT_DATA_MIRROR`: an `http://` or `https://` address, or a folder.
    pub fn from_env() -> Option<Mirror> {
        let value = std::env::var("CANDLELIT_DATA_MIRROR").ok().filter(|v| !v.trim().is_empty())?;
        Some(Mirror::parse(value.trim()))
    }

    /// An address or a folder path.
    pub fn parse(value: &str) -> Mirror {
        if value.starts_with("http://") || value.starts_with("https://") {
            Mirror::Http(value.trim_end_matches('/').to_string())
        } else {
            Mirror::Folder(PathBuf::from(value))
        }
    }
}

/// The data folder: `$CANDLELIT_DATA`, else the user's cache folder + `candlelit/data`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CANDLELIT_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("candlelit").join("data")
}

/// The verified local copy of `file` in [`data_dir`], downloaded (or copied from `CANDLELIT_DATA_MIRROR`) first
/// when it is missing.
///
/// # Errors
/// When every source fails; the message says what went wrong with each and where to put the file by hand.
pub fn fetch(file: &RemoteFile) -> Result<PathBuf> {
    Fetcher::new(data_dir(), Mirror::from_env()).fetch(file)
}

/// Downloads into a given data folder from given sources: what [`fetch`] does with the environment's settings.
#[derive(Clone, Debug)]
pub struct Fetcher {
    data_dir: PathBuf,
    mirror: Option<Mirror>,
    quiet: bool,
}

impl Fetcher {
    /// Files go under `data_dir`; with a `mirror`, they come only from it.
    pub fn new(data_dir: PathBuf, mirror: Option<Mirror>) -> Self {
        Fetcher { data_dir, mirror, quiet: false }
    }

    /// No progress lines on stderr.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// The verified local copy of `file`, fetched first when missing.
    ///
    /// # Errors
    /// When every source fails; see [`fetch`].
    pub fn fetch(&self, file: &RemoteFile) -> Result<PathBuf> {
        let dest = file.path_in(&self.data_dir);
        if dest.is_file() {
            match sha256_of(&dest) {
                Ok(sum) if sum == file.sha256 => return Ok(dest),
                _ => {
                    eprintln!(
                        "candlelit: {} does not match its checksum; deleting it and fetching it again",
                        dest.display()
                    );
                    let _ = fs::remove_file(&dest);
                }
            }
        }
        let parent = dest.parent().unwrap_or(&self.data_dir);
        fs::create_dir_all(parent).map_err(|e| {
            msg(format!(
                "cannot create the data folder {}: {e}. Set CANDLELIT_DATA to a folder you can write to.",
                parent.display()
            ))
        })?;
        let sources: Vec<Source> = match &self.mirror {
            Some(Mirror::Folder(dir)) => vec![Source::Folder(dir.join(file.folder).join(file.name))],
            Some(Mirror::Http(base)) => vec![Source::Url(format!("{base}/{}/{}", file.folder, file.name))],
            None => file.urls().into_iter().map(Source::Url).collect(),
        };
        let mut failures = Vec::new();
        for source in &sources {
            match self.fetch_from(source, file, &dest) {
                Ok(()) => return Ok(dest),
                Err(why) => failures.push(format!("  - {}: {why}", source.describe())),
            }
        }
        Err(msg(format!(
            "could not get {}/{}:\n{}\nIf this machine is offline, download {} (sha256 {}) elsewhere and put it at \
             {}, or set CANDLELIT_DATA_MIRROR to a folder or http:// address holding {}/{}.",
            file.folder,
            file.name,
            failures.join("\n"),
            file.urls().first().map_or(file.name, String::as_str),
            file.sha256,
            dest.display(),
            file.folder,
            file.name
        )))
    }

    fn fetch_from(&self, source: &Source, file: &RemoteFile, dest: &Path) -> std::result::Result<(), String> {
        let part = part_path(dest);
        match source {
            Source::Folder(path) => {
                if !path.is_file() {
                    return Err(format!("the mirror folder has no {}", path.display()));
                }
                fs::copy(path, &part).map_err(|e| format!("copying it failed: {e}"))?;
            }
            Source::Url(url) => self.download(url, file, &part)?,
        }
        let sum = sha256_of(&part).map_err(|e| format!("cannot read what was downloaded: {e}"))?;
        if sum != file.sha256 {
            let _ = fs::remove_file(&part);
            return Err(format!(
                "the file's sha256 is {sum}, not the expected {}: it is corrupt or a different file, so it was \
                 deleted",
                file.sha256
            ));
        }
        fs::rename(&part, dest).map_err(|e| format!("cannot move it into place at {}: {e}", dest.display()))
    }

    /// Streams `url` into `part`, resuming from what `part` already holds when the server allows.
    fn download(&self, url: &str, file: &RemoteFile, part: &Path) -> std::result::Result<(), String> {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut request = agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            // What we hold is no prefix of the file (it changed, or the part is complete): start again.
            Err(ureq::Error::StatusCode(416)) if have > 0 => {
                let _ = fs::remove_file(part);
                return self.download(url, file, part);
            }
            other => other.map_err(describe_http_error)?,
        };
        let resumed = response.status().as_u16() == 206;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let can_resume = resumed || header("accept-ranges").is_some_and(|v| v.contains("bytes"));
        let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
        let start = if resumed { have } else { 0 };
        let total = length.map(|n| n + start).unwrap_or(file.size);
        let mut out = if resumed { OpenOptions::new().append(true).open(part) } else { File::create(part) }
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        let mut progress = Progress::new(file.name, start, total, self.quiet);
        let mut body = response.into_body().into_reader();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut received = start;
        let cut_short = |received: u64, why: String| {
            let kept = if can_resume {
                "the part received was kept, and the next run resumes from there".to_string()
            } else {
                let _ = fs::remove_file(part);
                "the server cannot resume, so the part received was deleted".to_string()
            };
            format!("the transfer stopped after {received} of {total} bytes ({why}); {kept}")
        };
        loop {
            let n = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(cut_short(received, e.to_string())),
            };
            out.write_all(&buffer[..n])
                .map_err(|e| format!("cannot write {}: {e} (is the disk full?)", part.display()))?;
            received += n as u64;
            progress.update(received);
        }
        out.flush().map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        if length.is_some_and(|n| received < start + n) {
            return Err(cut_short(received, "the connection closed early".to_string()));
        }
        progress.finish(received);
        Ok(())
    }
}

enum Source {
    Folder(PathBuf),
    Url(String),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Folder(path) => format!("mirror folder {}", path.display()),
            Source::Url(url) => url.clone(),
        }
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

fn describe_http_error(e: ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(404) => "the server has no such file (HTTP 404)".to_string(),
        ureq::Error::StatusCode(416) => "the server refused to resume (HTTP 416)".to_string(),
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}"),
        ureq::Error::HostNotFound => "the host name could not be resolved (no network?)".to_string(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused (is the server running?)".to_string()
        }
        ureq::Error::Timeout(t) => format!("no answer in time ({t})"),
        other => format!("the download failed ({other})"),
    }
}

fn msg(text: String) -> Error {
    Error::Msg(text)
}

/// The sha256 of a file, lower-case hex.
///
/// # Errors
/// When the file cannot be read.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Bytes received so far, on stderr: redrawn in place on a terminal, a line per tenth in a notebook or a log.
struct Progress {
    name: &'static str,
    total: u64,
    started: Instant,
    tenths_shown: u64,
    terminal: bool,
    quiet: bool,
    last_draw: Instant,
}

impl Progress {
    fn new(name: &'static str, start: u64, total: u64, quiet: bool) -> Self {
        let quiet = quiet || total < 256 * 1024;
        let terminal = std::io::stderr().is_terminal();
        if !quiet {
            let resuming = if start > 0 { format!(", resuming at {}", megabytes(start)) } else { String::new() };
            eprintln!("downloading {name} ({}{resuming})", megabytes(total));
        }
        let now = Instant::now();
        Progress { name, total, started: now, tenths_shown: start * 10 / total.max(1), terminal, quiet, last_draw: now }
    }

    fn update(&mut self, received: u64) {
        if self.quiet {
            return;
        }
        let percent = received * 100 / self.total.max(1);
        if self.terminal {
            if self.last_draw.elapsed() >= Duration::from_millis(100) {
                self.last_draw = Instant::now();
                eprint!("\r  {} of {} ({percent}%)   ", megabytes(received), megabytes(self.total));
            }
        } else if received * 10 / self.total.max(1) > self.tenths_shown {
            self.tenths_shown = received * 10 / self.total.max(1);
            eprintln!("  {} of {} ({percent}%)", megabytes(received), megabytes(self.total));
        }
    }

    fn finish(&self, received: u64) {
        if !self.quiet {
            let (start, end) = if self.terminal { ("\r", "          ") } else { ("", "") };
            eprintln!(
                "{start}downloaded {} ({}) in {:.1} s{end}",
                self.name,
                megabytes(received),
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
