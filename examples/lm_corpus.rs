//! Writes the token ids of Day 10's language-model corpus (Tiny Shakespeare as words and punctuation, the
//! `VOCAB_CAP` most frequent kept, the rest `<unk>`) to a safetensors file, so that `bench/lstm_pytorch.py` trains
//! PyTorch on exactly the ids the notebook trains on.
//!
//! Usage: `cargo run --example lm_corpus -- OUT_DIR [VOCAB_CAP]` (writes `OUT_DIR/tinyshakespeare_words.safetensors`
//! holding `ids` (u32) and `vocab_size` (u32, one value)).

use std::collections::HashMap;
use std::path::PathBuf;

use candlelit::prelude::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/lesson-runs".into()));
    let cap: usize = match args.next() {
        Some(text) => {
            text.parse().map_err(|_| candle::Error::Msg(format!("VOCAB_CAP must be a number, got {text:?}")))?
        }
        None => 5_000,
    };
    std::fs::create_dir_all(&out).map_err(|e| candle::Error::Msg(format!("cannot create {}: {e}", out.display())))?;
    let corpus = data::text::TextCorpus::words(&tiny_shakespeare()?, 1, Some(cap));
    let vocab_size =
        u32::try_from(corpus.vocab().len()).map_err(|_| candle::Error::Msg("vocabulary too large".into()))?;
    let tables = HashMap::from([
        ("ids".to_string(), Tensor::new(corpus.ids(), &Device::Cpu)?),
        ("vocab_size".to_string(), Tensor::new(&[vocab_size], &Device::Cpu)?),
    ]);
    let path = out.join("tinyshakespeare_words.safetensors");
    candle::safetensors::save(&tables, &path)?;
    println!("wrote {} ids (vocabulary {vocab_size}) to {}", corpus.ids().len(), path.display());
    Ok(())
}
