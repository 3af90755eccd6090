//! Property tests: split sizes always add up, splits cover the dataset exactly once, and every sampler and batch
//! plan keeps its promises for any size, batch size and seed.

use candlelit::data::{
    BatchSampler, Batches, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
    epoch_rng, split_sizes,
};
use candlelit::prelude::*;
use proptest::prelude::*;

/// A dataset of `n` numbered items.
struct Numbers(usize);

impl Dataset for Numbers {
    type Item = usize;
    fn len(&self) -> usize {
        self.0
    }
    fn get(&self, i: usize) -> Result<usize> {
        Ok(i)
    }
}

/// Fractions that add up to 1: `k` random weights, normalised.
fn fractions<const N: usize>() -> impl Strategy<Value = [f64; N]> {
    proptest::array::uniform::<_, N>(1u32..1000).prop_map(|w| {
        let total: u32 = w.iter().sum();
        w.map(|x| f64::from(x) / f64::from(total))
    })
}

proptest! {
    #[test]
    fn split_sizes_add_up_and_stay_within_one_of_the_fraction(len in 0usize..100_000, f in fractions::<3>()) {
        let sizes = split_sizes(len, &f).expect("valid fractions");
        prop_assert_eq!(sizes.iter().sum::<usize>(), len);
        for (size, fraction) in sizes.iter().zip(f) {
            prop_assert!((*size as f64 - fraction * len as f64).abs() <= 1.0 + 1e-9);
        }
    }

    #[test]
    fn random_split_parts_cover_every_item_once(len in 0usize..2_000, f in fractions::<2>(), seed in any::<u64>()) {
        let [a, b] = random_split(Numbers(len), f, seed).expect("split");
        let mut all: Vec<usize> = (0..a.len()).map(|i| a.get(i).expect("a")).collect();
        all.extend((0..b.len()).map(|i| b.get(i).expect("b")));
        all.sort_unstable();
        prop_assert_eq!(all, (0..len).collect::<Vec<_>>());
        let [a2, _] = random_split(Numbers(len), f, seed).expect("again");
        prop_assert_eq!(a.indices(), a2.indices());
    }

    #[test]
    fn an_image_dataset_splits_into_image_datasets_like_random_split(len in 0usize..300, f in fractions::<2>(), seed in any::<u64>()) {
        // Image i is one pixel of value i % 256 and a second of i / 256, so every image names its index.
        let pixels: Vec<u8> = (0..len).flat_map(|i| [(i % 256) as u8, (i / 256) as u8]).collect();
        let images = ImageDataset::from_bytes("numbered", pixels, vec![0; len], 1, 2, &["one class"]).expect("images");
        let index = |ds: &ImageDataset, k: usize| -> usize {
            let p = ds.pixels(k).expect("pixels");
            usize::from(p[0]) + 256 * usize::from(p[1])
        };
        let [a, b] = images.random_split(f, seed).expect("split");
        let [ga, _] = random_split(Numbers(len), f, seed).expect("generic split");
        let order: Vec<usize> = (0..a.len()).map(|k| index(&a, k)).collect();
        prop_assert_eq!(&order, &ga.indices().to_vec(), "the same parts as the generic random_split");
        let mut all = order;
        all.extend((0..b.len()).map(|k| index(&b, k)));
        all.sort_unstable();
        prop_assert_eq!(all, (0..len).collect::<Vec<_>>());
    }

    #[test]
    fn the_random_sampler_is_a_permutation(len in 0usize..5_000, seed in any::<u64>(), epoch in 0u64..100) {
        let mut order = RandomSampler::new().indices(len, &mut epoch_rng(seed, epoch)).expect("indices");
        order.sort_unstable();
        prop_assert_eq!(order, (0..len).collect::<Vec<_>>());
    }

    #[test]
    fn samplers_with_replacement_stay_in_range(
        len in 1usize..500,
        draws in 0usize..2_000,
        seed in any::<u64>(),
        zero in 0usize..500,
    ) {
        let drawn = RandomSampler::with_replacement(draws).indices(len, &mut epoch_rng(seed, 0)).expect("indices");
        prop_assert_eq!(drawn.len(), draws);
        prop_assert!(drawn.iter().all(|&i| i < len));
        let mut weights = vec![1.0; len];
        let zero = zero % len;
        weights[zero] = 0.0;
        if len > 1 {
            let sampler = WeightedRandomSampler::new(weights, draws).expect("sampler");
            let drawn = sampler.indices(len, &mut epoch_rng(seed, 0)).expect("indices");
            prop_assert_eq!(drawn.len(), draws);
            prop_assert!(drawn.iter().all(|&i| i < len && i != zero), "a zero weight is never drawn");
        }
    }

    #[test]
    fn batches_cover_the_epoch_and_only_the_last_is_short(
        len in 0usize..3_000,
        batch in 1usize..300,
        drop_last in any::<bool>(),
        shuffle in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let sampler: Box<dyn Sampler> = if shuffle { Box::new(RandomSampler::new()) } else { Box::new(SequentialSampler) };
        let batches = Batches::new(sampler, batch, drop_last).expect("batches").batches(len, &mut epoch_rng(seed, 0)).expect("plan");
        let expected = if drop_last { len / batch } else { len.div_ceil(batch) };
        prop_assert_eq!(batches.len(), expected);
        if let Some((last, full)) = batches.split_last() {
            prop_assert!(full.iter().all(|b| b.len() == batch));
            prop_assert!(!last.is_empty() && last.len() <= batch);
            if drop_last {
                prop_assert_eq!(last.len(), batch);
            }
        }
        let mut all: Vec<usize> = batches.concat();
        let covered = all.len();
        all.sort_unstable();
        all.dedup();
        prop_assert_eq!(all.len(), covered, "no index twice");
        prop_assert_eq!(covered, if drop_last { len / batch * batch } else { len });
    }

    #[test]
    fn the_subset_sampler_visits_exactly_its_indices(indices in proptest::collection::vec(0usize..100, 0..50), seed in any::<u64>()) {
        let mut got = SubsetRandomSampler::new(indices.clone()).indices(100, &mut epoch_rng(seed, 0)).expect("indices");
        let mut want = indices;
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want);
    }
}
