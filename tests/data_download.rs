//! Downloads against a real HTTP server on 127.0.0.1 serving the real data files: success, a corrupt file, a cut
//! transfer, a server that is down, resuming after a failed run, and a folder mirror.

mod common;

use candlelit::data::download::sha256_of;
use candlelit::data::vision::{MNIST_CLASSES, MNIST_FILES, read_idx_images};
use candlelit::data::{Dataset, Fetcher, Mirror, RemoteFile};
use common::{Behaviour, FileServer, shared_data};

/// The real MNIST test images: 1.6 MB, big enough to be cut in the middle.
const IMAGES: RemoteFile = MNIST_FILES[2];
const LABELS: RemoteFile = MNIST_FILES[3];

fn fetcher(data: &tempfile::TempDir, server: &FileServer) -> Fetcher {
    Fetcher::new(data.path().to_path_buf(), Some(Mirror::parse(&server.base))).quiet()
}

#[test]
fn a_download_is_verified_cached_and_read_through_the_idx_code() {
    let root = shared_data();
    let server = FileServer::start(&root, vec![Behaviour::Serve]);
    let data = tempfile::tempdir().expect("temp dir");
    let images = fetcher(&data, &server).fetch(&IMAGES).expect("images download");
    let labels = fetcher(&data, &server).fetch(&LABELS).expect("labels download");
    assert_eq!(images, data.path().join("mnist/t10k-images-idx3-ubyte.gz"));
    assert_eq!(sha256_of(&images).expect("hash"), IMAGES.sha256);
    assert!(!data.path().join("mnist/t10k-images-idx3-ubyte.gz.part").exists(), "no partial file is left");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/mnist/t10k-images-idx3-ubyte.gz");

    // A second fetch uses the cache: the server sees nothing new.
    fetcher(&data, &server).fetch(&IMAGES).expect("cached");
    assert_eq!(server.requests().len(), 2);

    let test_set = read_idx_images("MNIST test", &images, &labels, &MNIST_CLASSES).expect("parse");
    assert_eq!(test_set.len(), 10_000);
    assert_eq!(test_set.get(0).expect("first").1, 7);
}

#[test]
fn a_corrupt_download_is_deleted_and_reported() {
    let server = FileServer::start(&shared_data(), vec![Behaviour::Corrupt]);
    let data = tempfile::tempdir().expect("temp dir");
    let err = fetcher(&data, &server).fetch(&IMAGES).expect_err("corrupt").to_string();
    assert!(err.contains("sha256") && err.contains("it was deleted"), "{err}");
    assert!(err.contains(&data.path().join("mnist/t10k-images-idx3-ubyte.gz").display().to_string()), "{err}");
    assert!(!data.path().join("mnist/t10k-images-idx3-ubyte.gz").exists());
    assert!(!data.path().join("mnist/t10k-images-idx3-ubyte.gz.part").exists());
}

#[test]
fn a_corrupt_file_in_the_cache_is_replaced() {
    let server = FileServer::start(&shared_data(), vec![Behaviour::Serve]);
    let data = tempfile::tempdir().expect("temp dir");
    let dest = data.path().join("mnist/t10k-labels-idx1-ubyte.gz");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    std::fs::write(&dest, b"not the labels").expect("write junk");
    fetcher(&data, &server).fetch(&LABELS).expect("fetched again");
    assert_eq!(sha256_of(&dest).expect("hash"), LABELS.sha256);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_cut_transfer_is_kept_for_resuming_and_the_next_run_finishes_it() {
    let cut = 700_000;
    let server = FileServer::start(&shared_data(), vec![Behaviour::CutAfter(cut), Behaviour::Serve]);
    let data = tempfile::tempdir().expect("temp dir");
    let part = data.path().join("mnist/t10k-images-idx3-ubyte.gz.part");

    let err = fetcher(&data, &server).fetch(&IMAGES).expect_err("cut short").to_string();
    assert!(err.contains(&format!("stopped after {cut} of {} bytes", IMAGES.size)), "{err}");
    assert!(err.contains("next run resumes"), "{err}");
    assert!(!data.path().join("mnist/t10k-images-idx3-ubyte.gz").exists(), "a partial file is never used");
    assert_eq!(std::fs::metadata(&part).expect("partial kept").len(), cut as u64);

    let path = fetcher(&data, &server).fetch(&IMAGES).expect("resumed");
    assert_eq!(sha256_of(&path).expect("hash"), IMAGES.sha256);
    assert!(!part.exists());
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some(format!("bytes={cut}-").as_str()), "the second run asked for the rest");
}

#[test]
fn a_cut_transfer_from_a_server_that_cannot_resume_is_deleted() {
    let server = FileServer::start(&shared_data(), vec![Behaviour::CutAfterNoRanges(500_000), Behaviour::Serve]);
    let data = tempfile::tempdir().expect("temp dir");
    let err = fetcher(&data, &server).fetch(&IMAGES).expect_err("cut short").to_string();
    assert!(err.contains("cannot resume, so the part received was deleted"), "{err}");
    assert!(!data.path().join("mnist/t10k-images-idx3-ubyte.gz.part").exists());
    assert!(!data.path().join("mnist/t10k-images-idx3-ubyte.gz").exists());
    fetcher(&data, &server).fetch(&IMAGES).expect("second run downloads it whole");
    assert_eq!(server.requests()[1].range, None);
}

#[test]
fn a_server_that_is_down_gets_a_message_saying_where_to_put_the_file() {
    // Take a free port, then close it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let data = tempfile::tempdir().expect("temp dir");
    let fetcher =
        Fetcher::new(data.path().to_path_buf(), Some(Mirror::parse(&format!("http://127.0.0.1:{port}/")))).quiet();
    let err = fetcher.fetch(&IMAGES).expect_err("down").to_string();
    assert!(err.contains("connection was refused"), "{err}");
    assert!(err.contains(&format!("http://127.0.0.1:{port}/mnist/t10k-images-idx3-ubyte.gz")), "{err}");
    assert!(
        err.contains(&format!("put it at {}", data.path().join("mnist/t10k-images-idx3-ubyte.gz").display())),
        "{err}"
    );
    assert!(err.contains(IMAGES.sha256), "{err}");
}

#[test]
fn a_missing_file_on_the_server_is_a_404_not_a_crash() {
    let empty = tempfile::tempdir().expect("empty root");
    let server = FileServer::start(empty.path(), vec![Behaviour::Serve]);
    let data = tempfile::tempdir().expect("temp dir");
    let err = fetcher(&data, &server).fetch(&LABELS).expect_err("404").to_string();
    assert!(err.contains("HTTP 404"), "{err}");
}

#[test]
fn a_folder_mirror_is_copied_and_verified() {
    let data = tempfile::tempdir().expect("temp dir");
    let fetcher = Fetcher::new(data.path().to_path_buf(), Some(Mirror::Folder(shared_data()))).quiet();
    let path = fetcher.fetch(&LABELS).expect("copied");
    assert_eq!(sha256_of(&path).expect("hash"), LABELS.sha256);
    let missing = RemoteFile { name: "no-such-file-idx3-ubyte.gz", ..IMAGES };
    let err = fetcher.fetch(&missing).expect_err("not in the mirror").to_string();
    assert!(err.contains("the mirror folder has no") && err.contains("put it at"), "{err}");
}
