//! The named loaders (`mnist`, `image_splits`, `breast_cancer` (embedded), `iris`) as a lesson calls them, with
//! `CANDLELIT_DATA` pointing at a fresh folder and `CANDLELIT_DATA_MIRROR` at the real files. One test in this
//! file, because it sets the process's environment.

mod common;

use candlelit::prelude::*;

#[test]
fn named_datasets_come_from_the_mirror_and_the_stand_in_splits_with_a_seed() {
    let data = tempfile::tempdir().expect("temp dir");
    // SAFETY: the only test in this binary; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("CANDLELIT_DATA", data.path());
        std::env::set_var("CANDLELIT_DATA_MIRROR", common::shared_data());
    }
    let test = mnist(Split::Test).expect("MNIST test set through the mirror");
    assert_eq!((test.len(), test.name()), (10_000, "MNIST test"));
    assert!(data.path().join("mnist/t10k-images-idx3-ubyte.gz").is_file(), "copied into CANDLELIT_DATA");

    let a = image_splits("mnist-test", 3).expect("stand-in");
    let b = image_splits("mnist-test", 3).expect("stand-in again");
    let c = image_splits("mnist-test", 4).expect("another seed");
    assert_eq!((a.train.len(), a.test.len()), (8_000, 2_000));
    assert_eq!(a.train.labels(), b.train.labels(), "the same seed gives the same split");
    assert_ne!(a.train.labels(), c.train.labels(), "another seed gives another split");
    // Together the two parts hold exactly the images of the test set: the same count of every digit.
    let count = |labels: &[u8]| (0..10u8).map(|d| labels.iter().filter(|&&l| l == d).count()).collect::<Vec<_>>();
    let parts: Vec<usize> = count(a.train.labels()).iter().zip(count(a.test.labels())).map(|(x, y)| x + y).collect();
    assert_eq!(parts, count(test.labels()));

    // The Fashion-MNIST images are not in the mirror: the error says which file to put where.
    let err = fashion_mnist(Split::Test).expect_err("no Fashion-MNIST images offline").to_string();
    let expected = data.path().join("fashion-mnist/t10k-images-idx3-ubyte.gz");
    assert!(err.contains(&format!("put it at {}", expected.display())), "{err}");
    assert!(err.contains("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"), "{err}");

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
