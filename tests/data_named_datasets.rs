//! The named loaders (`mnist`, `image_splits`, `breast_cancer` (embedded), `iris`) as a lesson calls them, with
//! `CANDLELIT_DATA` pointing at a fresh folder and `CANDLELIT_DATA_MIRROR` at the real files. One test in this
//! file, because it sets the process's environment.

mod common;

use candlelit::prelude::*;

#[test]
fn named_datasets_come_from_the_mirror_and_a_missing_file_says_where_to_put_it() {
    let data = tempfile::tempdir().expect("temp dir");
    // SAFETY: the only test in this binary; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("CANDLELIT_DATA", data.path());
        std::env::set_var("CANDLELIT_DATA_MIRROR", common::shared_data());
    }
    let test = mnist(Split::Test).expect("MNIST test set through the mirror");
    assert_eq!((test.len(), test.name()), (10_000, "MNIST test"));
    assert!(data.path().join("mnist/t10k-images-idx3-ubyte.gz").is_file(), "copied into CANDLELIT_DATA");

    let splits = image_splits("fashion-mnist").expect("Fashion-MNIST through the mirror");
    assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
    assert_eq!((splits.train.name(), splits.train.image_size()), ("Fashion-MNIST train", (28, 28)));
    assert_eq!(splits.train.classes()[9], "Ankle boot");
    // Every class is equally common in both splits: 6,000 and 1,000 images each.
    let count = |labels: &[u8]| (0..10u8).map(|c| labels.iter().filter(|&&l| l == c).count()).collect::<Vec<_>>();
    assert_eq!((count(splits.train.labels()), count(splits.test.labels())), (vec![6_000; 10], vec![1_000; 10]));
    assert_eq!(image_splits("mnist").expect("MNIST").train.len(), 60_000);
    let err = image_splits("mnist-test").expect_err("the old stand-in is gone").to_string();
    assert!(err.contains(r#"["fashion-mnist", "mnist"]"#), "{err}");

    // A file missing from the mirror: the error says which file to put where, with its checksum.
    let empty_mirror = tempfile::tempdir().expect("temp dir");
    let fresh_data = tempfile::tempdir().expect("temp dir");
    // SAFETY: as above.
    unsafe {
        std::env::set_var("CANDLELIT_DATA", fresh_data.path());
        std::env::set_var("CANDLELIT_DATA_MIRROR", empty_mirror.path());
    }
    let err = fashion_mnist(Split::Test).expect_err("not in an empty mirror").to_string();
    let expected = fresh_data.path().join("fashion-mnist/t10k-images-idx3-ubyte.gz");
    assert!(err.contains(&format!("put it at {}", expected.display())), "{err}");
    assert!(err.contains("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"), "{err}");
    // SAFETY: as above.
    unsafe {
        std::env::set_var("CANDLELIT_DATA", data.path());
        std::env::set_var("CANDLELIT_DATA_MIRROR", common::shared_data());
    }

    let table = breast_cancer().expect("the embedded breast cancer table");
    assert_eq!(table.len(), 569);
    assert_eq!(iris().expect("iris").columns()[3], "petal width (cm)");

    // A loader without .device() uses the session's device, chosen when the epoch starts; a choice that fails is
    // the epoch's error, not a silent fall-back to the CPU.
    let loader = DataLoader::new(table_rows(&table)).batch_size(100);
    // SAFETY: as above.
    unsafe { std::env::set_var("CANDLELIT_DEVICE", "cuda") };
    let first = loader.iter().next().expect("one item");
    if cuda_available() {
        assert!(first.expect("a batch on the GPU").0.device().is_cuda());
    } else {
        let err = first.expect_err("no GPU here").to_string();
        assert!(err.contains("CANDLELIT_DEVICE=cuda"), "{err}");
    }
    unsafe { std::env::set_var("CANDLELIT_DEVICE", "cpu") };
    let (x, y) = loader.iter().next().expect("one item").expect("a batch on the CPU");
    assert_eq!((x.dims(), y.dims()), (&[100usize, 30][..], &[100usize][..]));
}

fn table_rows(table: &Table) -> CsvDataset {
    CsvDataset::new(table, "target").expect("breast cancer rows")
}
