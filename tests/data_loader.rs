//! DataLoader behaviour: every index once per epoch, the same batches for any number of workers, a new order each
//! epoch, weighted sampling, padding, and errors that name the item.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use candlelit::data::{Padded, with_item_rng};
use candlelit::prelude::*;
use rand::Rng;

/// Items 0..n as plain numbers, so a batch tensor says which items it holds.
struct Numbers(usize);

impl Dataset for Numbers {
    type Item = u32;
    fn len(&self) -> usize {
        self.0
    }
    fn get(&self, i: usize) -> Result<u32> {
        Ok(i as u32)
    }
}

fn epoch_of<D: Dataset<Item = u32> + 'static>(loader: &DataLoader<D>) -> Vec<Vec<u32>> {
    loader.iter().map(|b| b.expect("batch").to_vec1::<u32>().expect("values")).collect()
}

#[test]
fn every_index_comes_once_per_epoch_with_and_without_drop_last() {
    let cpu = Device::Cpu;
    let keep = DataLoader::new(Numbers(103)).batch_size(10).shuffle(true).seed(1).device(&cpu);
    let batches = epoch_of(&keep);
    assert_eq!(keep.len(), 11);
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    let mut all: Vec<u32> = batches.concat();
    assert_ne!(all, (0..103).collect::<Vec<u32>>(), "shuffled");
    all.sort();
    assert_eq!(all, (0..103).collect::<Vec<u32>>());

    let drop = DataLoader::new(Numbers(103)).batch_size(10).shuffle(true).drop_last(true).seed(1).device(&cpu);
    let batches = epoch_of(&drop);
    assert_eq!((drop.len(), batches.len()), (10, 10));
    assert!(batches.iter().all(|b| b.len() == 10));
    let mut all: Vec<u32> = batches.concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100, "100 different items, none twice");

    let ordered = DataLoader::new(Numbers(5)).batch_size(2).device(&cpu);
    assert_eq!(epoch_of(&ordered), [vec![0, 1], vec![2, 3], vec![4]], "no shuffle: in order");
}

#[test]
fn each_epoch_reshuffles_and_a_seed_repeats_the_whole_run() {
    let make = || DataLoader::new(Numbers(64)).batch_size(8).shuffle(true).seed(99).device(&Device::Cpu);
    let loader = make();
    let (first, second) = (epoch_of(&loader), epoch_of(&loader));
    assert_ne!(first, second, "a new order every epoch");
    let again = make();
    assert_eq!((epoch_of(&again), epoch_of(&again)), (first.clone(), second), "the same seed, the same run");
    assert_eq!(loader.next_epoch(), 2);
    loader.set_epoch(0);
    assert_eq!(epoch_of(&loader), first, "set_epoch replays an epoch");
    let other = DataLoader::new(Numbers(64)).batch_size(8).shuffle(true).seed(100).device(&Device::Cpu);
    assert_ne!(epoch_of(&other), first);
}

/// Images whose items take a random time to load and get a random flip and crop: worker timing varies, the
/// batches must not.
struct Slow {
    images: ImageDataset,
}

impl Dataset for Slow {
    type Item = (Tensor, u32);
    fn len(&self) -> usize {
        self.images.len()
    }
    fn get(&self, i: usize) -> Result<(Tensor, u32)> {
        std::thread::sleep(Duration::from_micros((i as u64 * 7919) % 400));
        let jitter: f32 = with_item_rng(|rng| rng.random());
        let (x, y) = self.images.get(i)?;
        Ok(((x + f64::from(jitter))?, y))
    }
}

fn augmented_images() -> ImageDataset {
    let pixels: Vec<u8> = (0..200 * 36).map(|k| (k * 31 % 251) as u8).collect();
    let labels: Vec<u8> = (0..200).map(|k| (k % 10) as u8).collect();
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let names: Vec<&str> = classes.iter().map(String::as_str).collect();
    ImageDataset::from_bytes("test images", pixels, labels, 6, 6, &names)
        .expect("images")
        .with_transform(ToTensor.then(RandomHorizontalFlip::new(0.5)).then(RandomCrop::new(6).padding(2)))
}

#[test]
fn batches_are_the_same_in_order_for_any_number_of_workers() {
    let run = |workers: usize| -> Vec<(Vec<f32>, Vec<u32>)> {
        let loader = DataLoader::new(Slow { images: augmented_images() })
            .batch_size(16)
            .shuffle(true)
            .seed(5)
            .num_workers(workers)
            .prefetch(3)
            .device(&Device::Cpu);
        (0..2)
            .flat_map(|_| loader.iter().collect::<Vec<_>>())
            .map(|b| {
                let (x, y) = b.expect("batch");
                assert_eq!(x.dims()[1..], [1, 6, 6]);
                (x.flatten_all().expect("x").to_vec1().expect("x"), y.to_vec1().expect("y"))
            })
            .collect()
    };
    let inline = run(0);
    assert_eq!(inline.len(), 26, "two epochs of 13 batches");
    for workers in [1, 2, 3, 8] {
        assert!(run(workers) == inline, "{workers} workers give the same batches, in the same order");
    }
}

#[test]
fn stopping_early_stops_the_workers() {
    let fetched = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetched);
    let ds = Numbers(10_000).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(i)
    });
    let loader = DataLoader::new(ds).batch_size(10).num_workers(2).prefetch(2).device(&Device::Cpu);
    let first: Vec<_> = loader.iter().take(3).collect();
    assert_eq!(first.len(), 3);
    std::thread::sleep(Duration::from_millis(50));
    let after_drop = fetched.load(Ordering::SeqCst);
    assert!(after_drop <= 10 * (3 + 2 * 2 + 2), "workers fetch only a few batches ahead: {after_drop}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fetched.load(Ordering::SeqCst), after_drop, "nothing is fetched once the loop has stopped");
}

#[test]
fn the_weighted_sampler_draws_in_proportion() {
    let weights = vec![1.0, 2.0, 0.0, 5.0];
    let draws = 40_000;
    let sampler = WeightedRandomSampler::new(weights.clone(), draws).expect("sampler");
    let loader = DataLoader::new(Numbers(4)).batch_size(1000).sampler(sampler).seed(3).device(&Device::Cpu);
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for v in epoch_of(&loader).concat() {
        *counts.entry(v).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), draws);
    assert!(!counts.contains_key(&2), "weight 0 is never drawn");
    for (i, w) in [(0u32, 1.0), (1, 2.0), (3, 5.0)] {
        let share = counts[&i] as f64 / draws as f64;
        assert!((share - w / 8.0).abs() < 0.01, "item {i}: {share} of draws, expected {}", w / 8.0);
    }
}

#[test]
fn a_custom_sampler_and_batch_sampler_are_used_as_given() {
    let evens = |len: usize, _: &mut candlelit::random::PreludeRng| (0..len).filter(|i| i % 2 == 0).collect();
    let loader = DataLoader::new(Numbers(7)).batch_size(3).sampler(evens).device(&Device::Cpu);
    assert_eq!(epoch_of(&loader), [vec![0, 2, 4], vec![6]]);
    let pairs_backwards = |len: usize, _: &mut candlelit::random::PreludeRng| {
        (0..len).rev().collect::<Vec<_>>().chunks(2).map(<[usize]>::to_vec).collect::<Vec<_>>()
    };
    let loader = DataLoader::new(Numbers(5)).batch_sampler(pairs_backwards).device(&Device::Cpu);
    assert_eq!(epoch_of(&loader), [vec![4, 3], vec![2, 1], vec![0]]);
    let subset = DataLoader::new(Numbers(10))
        .batch_size(10)
        .sampler(SubsetRandomSampler::new(vec![1, 5, 7]))
        .device(&Device::Cpu);
    let mut got = epoch_of(&subset).concat();
    got.sort();
    assert_eq!(got, [1, 5, 7]);
}

#[test]
fn padding_collate_gives_shapes_lengths_and_masks() {
    let sentences = [(vec![4u32, 5, 6], 1u32), (vec![7], 0), (vec![8, 9], 1)];
    let ds = Numbers(3).map(move |i| Ok(sentences[i as usize].clone()));
    let loader = DataLoader::new(ds).batch_size(3).collate(PadCollate::new(0)).device(&Device::Cpu);
    let (padded, labels): (Padded, Tensor) = loader.iter().next().expect("one batch").expect("batch");
    assert_eq!(padded.values.to_vec2::<u32>().expect("v"), [[4, 5, 6], [7, 0, 0], [8, 9, 0]]);
    assert_eq!(padded.lengths.to_vec1::<u32>().expect("lengths"), [3, 1, 2]);
    assert_eq!(padded.mask.to_vec2::<u8>().expect("mask"), [[1, 1, 1], [1, 0, 0], [1, 1, 0]]);
    assert_eq!(labels.to_vec1::<u32>().expect("labels"), [1, 0, 1]);

    let qa = candlelit::data::text::sample_qa().expect("qa");
    let pad = qa.vocab().pad_id();
    let loader = DataLoader::new(qa).batch_size(8).collate(PadCollate::new(pad)).device(&Device::Cpu);
    for batch in &loader {
        let (q, a) = batch.expect("qa batch");
        let longest = q.lengths.max(0).expect("max").to_scalar::<u32>().expect("value") as usize;
        assert_eq!(q.values.dims()[1], longest, "padded to the longest question in the batch");
        assert_eq!(q.mask.dims(), q.values.dims());
        assert_eq!(a.values.dims()[0], q.values.dims()[0]);
    }
}

#[test]
fn a_failing_item_names_its_index_and_the_other_batches_still_come() {
    for workers in [0, 2] {
        let ds = Numbers(20).map(|i| {
            if i == 13 {
                candle::bail!("the file for this item is damaged")
            }
            if i == 17 {
                panic!("a bug in the dataset")
            }
            Ok(i)
        });
        let loader = DataLoader::new(ds).batch_size(5).num_workers(workers).device(&Device::Cpu);
        let results: Vec<Result<Tensor>> = loader.iter().collect();
        assert_eq!(results.len(), 4);
        assert!(results[0].is_ok() && results[1].is_ok());
        let err = results[2].as_ref().expect_err("item 13").to_string();
        assert!(err.contains("item 13 of the dataset could not be loaded: the file for this item is damaged"), "{err}");
        let err = results[3].as_ref().expect_err("item 17").to_string();
        assert!(err.contains("item 17 of the dataset panicked while loading: a bug in the dataset"), "{err}");
    }
    // A collate that fails says which batch and items.
    let strict = |items: Vec<u32>, _: &Device| -> Result<Tensor> { candle::bail!("refusing {} items", items.len()) };
    let loader = DataLoader::new(Numbers(4)).batch_size(2).collate(strict).device(&Device::Cpu);
    let err = loader.iter().next().expect("batch").expect_err("collate").to_string();
    assert!(err.contains("batch 0 (items [0, 1]) could not be collated: refusing 2 items"), "{err}");
    let zero = DataLoader::new(Numbers(4)).batch_size(0).device(&Device::Cpu);
    let err = zero.iter().next().expect("one error").expect_err("batch size 0").to_string();
    assert!(err.contains("batch_size must be at least 1"), "{err}");
}

#[test]
fn tensor_datasets_batch_into_stacked_tensors_on_the_device() {
    let dev = Device::Cpu;
    let x = Tensor::arange(0f32, 24., &dev).and_then(|t| t.reshape((6, 2, 2))).expect("x");
    let y = Tensor::arange(0u32, 6, &dev).expect("y");
    let loader = DataLoader::new(TensorDataset::new(vec![x, y]).expect("dataset")).batch_size(4).device(&dev);
    let batch = loader.iter().next().expect("batch").expect("ok");
    assert_eq!((batch[0].dims(), batch[1].to_vec1::<u32>().expect("y")), (&[4usize, 2, 2][..], vec![0, 1, 2, 3]));
    assert!(batch[0].device().same_device(&dev));
    // Wrong batch shapes give a message that says what to do.
    let ragged = Numbers(2).map(|i| Tensor::zeros(i as usize + 1, DType::F32, &Device::Cpu));
    let loader = DataLoader::new(ragged).batch_size(2).device(&dev);
    let err = loader.iter().next().expect("batch").expect_err("ragged").to_string();
    assert!(err.contains("item 0 is [1] but item 1 is [2]") && err.contains("PadCollate"), "{err}");
}

#[test]
fn a_crop_then_a_flip_works_and_mirrors_the_crop() -> Result<()> {
    // One 4×4 image 0..16. A crop of it padded by 1 is a strided view, which the flip must accept (torchvision's
    // usual order: RandomCrop, then RandomHorizontalFlip). Loaders with the same seed crop at the same place.
    let image = ImageDataset::from_bytes("ramp", (0..16).collect(), vec![0], 4, 4, &["only"])?;
    let first = |transform: Arc<dyn Transform>| -> Result<Tensor> {
        let loader = DataLoader::new(image.clone().with_transform(transform)).batch_size(1).shuffle(true).seed(7);
        let (x, _) = loader.iter().next().expect("one batch")?;
        x.squeeze(0)
    };
    let crop_then_flip =
        first(Arc::new(ToTensor.then(RandomCrop::new(4).padding(1)).then(RandomHorizontalFlip::new(1.0))))?;
    let crop_only = first(Arc::new(ToTensor.then(RandomCrop::new(4).padding(1))))?;
    assert_eq!(crop_then_flip.to_vec3::<f32>()?, crop_only.flip(&[2])?.to_vec3::<f32>()?, "the crop, mirrored");
    Ok(())
}
