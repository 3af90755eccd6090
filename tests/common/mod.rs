//! Helpers shared by the data tests: where the real data files are, and a real HTTP server on 127.0.0.1.
#![allow(dead_code)] // each test file uses part of this

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The real datasets brought to this machine: `$CANDLELIT_SHARED_DATA`, else `../shared/data` beside the repo.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("CANDLELIT_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        dir.join("mnist/t10k-images-idx3-ubyte.gz").is_file(),
        "the data tests need the real files in {} (set CANDLELIT_SHARED_DATA to the folder holding mnist/, \
         fashion-mnist/ and sklearn/)",
        dir.display()
    );
    dir
}

/// How the server answers a request for a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// The file, honouring `Range: bytes=N-` with 206.
    Serve,
    /// Announce the whole length and `Accept-Ranges`, send only the first `n` bytes, then close.
    CutAfter(usize),
    /// Like `CutAfter`, without announcing that ranges work (and ignoring them).
    CutAfterNoRanges(usize),
    /// Another file's bytes under this name (same length, one byte changed).
    Corrupt,
}

/// One request the server saw: the path and the Range header, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

/// An HTTP/1.1 file server on 127.0.0.1 serving `root`, answering each request by the next behaviour in its
/// script (the last one repeats).
pub struct FileServer {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    handle: Option<JoinHandle<()>>,
    port: u16,
}

impl FileServer {
    pub fn start(root: &Path, script: Vec<Behaviour>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (root, log) = (root.to_path_buf(), Arc::clone(&seen));
        let handle = std::thread::spawn(move || {
            let mut served = 0usize;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Some(request) = read_request(&stream) else { continue };
                if request.path == "/quit" {
                    break;
                }
                let behaviour = script[served.min(script.len() - 1)];
                served += 1;
                log.lock().expect("log").push(request.clone());
                answer(stream, &root, &request, behaviour);
            }
        });
        FileServer { base: format!("http://127.0.0.1:{port}"), seen, handle: Some(handle), port }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.write_all(b"GET /quit HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    Some(Seen { path, range })
}

fn answer(mut stream: TcpStream, root: &Path, request: &Seen, behaviour: Behaviour) {
    let Ok(mut body) = std::fs::read(root.join(request.path.trim_start_matches('/'))) else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    if behaviour == Behaviour::Corrupt {
        let last = body.len() - 1;
        body[last] ^= 0xff;
    }
    let total = body.len();
    let start = match (behaviour, &request.range) {
        (Behaviour::Serve, Some(r)) => r.trim_start_matches("bytes=").trim_end_matches('-').parse::<usize>().ok(),
        _ => None,
    };
    let (status, content_range, slice) = match start {
        Some(s) if s < total => {
            ("206 Partial Content", format!("Content-Range: bytes {s}-{}/{total}\r\n", total - 1), &body[s..])
        }
        Some(_) => {
            let _ = stream
                .write_all(b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        None => ("200 OK", String::new(), &body[..]),
    };
    let ranges = if matches!(behaviour, Behaviour::CutAfterNoRanges(_)) { "" } else { "Accept-Ranges: bytes\r\n" };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{ranges}{content_range}Connection: close\r\n\r\n",
        slice.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let sent = match behaviour {
        Behaviour::CutAfter(n) | Behaviour::CutAfterNoRanges(n) => &slice[..n.min(slice.len())],
        _ => slice,
    };
    let _ = stream.write_all(sent);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
