//! Text for sequence models: a tokenizer, a vocabulary with `<pad>` and `<unk>`, a plain-text corpus cut into
//! training windows, and question–answer pairs from a CSV.
//!
//! ```
//! use candlelit::data::text::{Vocab, tokenize};
//! let tokens = tokenize("The cat sat. The dog didn't!");
//! assert_eq!(tokens, ["the", "cat", "sat", ".", "the", "dog", "didn't", "!"]);
//! let vocab = Vocab::build([tokens.as_slice()], 1, None);
//! let ids = vocab.encode("the bird sat");
//! assert_eq!(ids[1], vocab.unk_id());                 // "bird" was never seen
//! assert_eq!(vocab.decode(&ids), "the <unk> sat");
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Result, bail};

use super::dataset::{Dataset, check_index};
use super::download::RemoteFile;
use super::tabular::Table;

/// The padding token; always id 0.
pub const PAD: &str = "<pad>";
/// The token for words the vocabulary does not know; always id 1.
pub const UNK: &str = "<unk>";

/// Splits text into lower-case tokens: runs of letters and digits (with apostrophes inside words, as in
/// "didn't"), and each punctuation mark on its own. Spaces only separate.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (k, &c) in chars.iter().enumerate() {
        let inner_apostrophe =
            (c == '\'' || c == '’') && !word.is_empty() && chars.get(k + 1).is_some_and(|n| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_apostrophe {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// A two-way map between tokens and ids: `<pad>` is 0, `<unk>` is 1, then the tokens by how often they occur.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// The vocabulary of `texts` (token lists): tokens seen at least `min_freq` times, the most frequent first (ties
    /// alphabetically), at most `max_size` ids in all when given.
    pub fn build<T: AsRef<[String]>>(
        texts: impl IntoIterator<Item = T>,
        min_freq: usize,
        max_size: Option<usize>,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for token in text.as_ref() {
                *counts.entry(token.clone()).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, usize)> =
            counts.into_iter().filter(|(t, n)| *n >= min_freq.max(1) && t != PAD && t != UNK).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut tokens = vec![PAD.to_string(), UNK.to_string()];
        tokens.extend(ranked.into_iter().map(|(t, _)| t));
        if let Some(max) = max_size {
            tokens.truncate(max.max(2));
        }
        let ids = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Vocab { tokens, ids }
    }

    /// How many ids there are (including `<pad>` and `<unk>`): the size of an embedding table.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary holds only `<pad>` and `<unk>`.
    pub fn is_empty(&self) -> bool {
        self.tokens.len() <= 2
    }

    /// The id of `<pad>` (0).
    pub fn pad_id(&self) -> u32 {
        0
    }

    /// The id of `<unk>` (1).
    pub fn unk_id(&self) -> u32 {
        1
    }

    /// The id of `token`, or `<unk>`'s.
    pub fn id(&self, token: &str) -> u32 {
        self.ids.get(token).copied().unwrap_or(1)
    }

    /// The token of `id`, or `<unk>` for an id past the end.
    pub fn token(&self, id: u32) -> &str {
        self.tokens.get(id as usize).map_or(UNK, String::as_str)
    }

    /// Every token, in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The ids of `text`'s tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_tokens(&tokenize(text))
    }

    /// The ids of already split tokens.
    pub fn encode_tokens(&self, tokens: &[String]) -> Vec<u32> {
        tokens.iter().map(|t| self.id(t)).collect()
    }

    /// The tokens of `ids` joined by spaces, leaving out `<pad>`.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().filter(|&&id| id != 0).map(|&id| self.token(id)).collect::<Vec<_>>().join(" ")
    }
}

/// A plain-text corpus as one stream of token ids, for next-token models.
#[derive(Clone, Debug)]
pub struct TextCorpus {
    ids: Arc<[u32]>,
    vocab: Arc<Vocab>,
}

impl TextCorpus {
    /// Tokenizes `text` into words and builds its vocabulary (tokens seen at least `min_freq` times).
    pub fn from_text(text: &str, min_freq: usize) -> Self {
        Self::words(text, min_freq, None)
    }

    /// A word-level corpus whose vocabulary keeps the words seen at least `min_freq` times, and at most `max_size`
    /// ids in all (`<pad>` and `<unk>` included) when given: the rarer words become `<unk>`.
    ///
    /// ```
    /// use candlelit::data::text::TextCorpus;
    /// let corpus = TextCorpus::words("to be or not to be", 1, Some(4));
    /// assert_eq!(corpus.vocab().tokens(), ["<pad>", "<unk>", "be", "to"]);   // the two most frequent words
    /// assert_eq!(corpus.vocab().decode(corpus.ids()), "to be <unk> <unk> to be");
    /// ```
    pub fn words(text: &str, min_freq: usize, max_size: Option<usize>) -> Self {
        let tokens = tokenize(text);
        let vocab = Vocab::build([tokens.as_slice()], min_freq, max_size);
        TextCorpus { ids: vocab.encode_tokens(&tokens).into(), vocab: Arc::new(vocab) }
    }

    /// A character-level corpus: every character (letters in their case, spaces, newlines, punctuation) is a
    /// token, and the vocabulary holds each distinct character, most frequent first.
    ///
    /// ```
    /// use candlelit::data::text::TextCorpus;
    /// let corpus = TextCorpus::chars("abba");
    /// assert_eq!(corpus.vocab().tokens(), ["<pad>", "<unk>", "a", "b"]);
    /// assert_eq!(corpus.ids(), [2, 3, 3, 2]);
    /// ```
    pub fn chars(text: &str) -> Self {
        let tokens: Vec<String> = text.chars().map(String::from).collect();
        let vocab = Vocab::build([tokens.as_slice()], 1, None);
        TextCorpus { ids: vocab.encode_tokens(&tokens).into(), vocab: Arc::new(vocab) }
    }

    /// Reads a UTF-8 text file.
    ///
    /// # Errors
    /// When the file cannot be read or is not UTF-8.
    pub fn from_file(path: &Path, min_freq: usize) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| candle_core::Error::Msg(format!("cannot read {} as text: {e}", path.display())))?;
        Ok(TextCorpus::from_text(&text, min_freq))
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Every token id, in order.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Training windows of `seq_len` tokens, `stride` apart: item `i` is `(input, target)`, where the target is
    /// the input moved on by one token (predict the next word at each position).
    ///
    /// # Errors
    /// When `seq_len` or `stride` is 0, or the corpus is shorter than `seq_len + 1` tokens.
    pub fn windows(&self, seq_len: usize, stride: usize) -> Result<Windows> {
        if seq_len == 0 || stride == 0 {
            bail!("windows need seq_len and stride of at least 1, got {seq_len} and {stride}")
        }
        if self.ids.len() < seq_len + 1 {
            bail!("the corpus has {} tokens, too few for one window of {seq_len} plus its target", self.ids.len())
        }
        let count = (self.ids.len() - seq_len - 1) / stride + 1;
        Ok(Windows { ids: Arc::clone(&self.ids), seq_len, stride, count })
    }
}

/// Input/target windows over a corpus; made by [`TextCorpus::windows`].
#[derive(Clone, Debug)]
pub struct Windows {
    ids: Arc<[u32]>,
    seq_len: usize,
    stride: usize,
    count: usize,
}

impl Dataset for Windows {
    type Item = (Vec<u32>, Vec<u32>);
    fn len(&self) -> usize {
        self.count
    }
    fn get(&self, index: usize) -> Result<(Vec<u32>, Vec<u32>)> {
        check_index(index, self.count)?;
        let start = index * self.stride;
        Ok((self.ids[start..start + self.seq_len].to_vec(), self.ids[start + 1..start + self.seq_len + 1].to_vec()))
    }
}

/// Question–answer pairs, encoded with one shared vocabulary; item `i` is `(question ids, answer ids)`, of varying
/// lengths — batch them with [`PadCollate`](super::PadCollate).
#[derive(Clone, Debug)]
pub struct QaDataset {
    pairs: Arc<[(String, String)]>,
    encoded: Arc<[(Vec<u32>, Vec<u32>)]>,
    vocab: Arc<Vocab>,
}

impl QaDataset {
    /// The pairs in columns `question` and `answer` of `table`, with a vocabulary of every token seen at least
    /// `min_freq` times.
    ///
    /// # Errors
    /// When a column is missing.
    pub fn from_table(table: &Table, question: &str, answer: &str, min_freq: usize) -> Result<Self> {
        let (q, a) = (table.column_index(question)?, table.column_index(answer)?);
        let mut pairs = Vec::with_capacity(table.len());
        for r in 0..table.len() {
            let row = table.row(r)?;
            pairs.push((row[q].clone(), row[a].clone()));
        }
        let tokenized: Vec<(Vec<String>, Vec<String>)> =
            pairs.iter().map(|(q, a)| (tokenize(q), tokenize(a))).collect();
        let vocab = Vocab::build(tokenized.iter().flat_map(|(q, a)| [q, a]), min_freq, None);
        let encoded = tokenized.iter().map(|(q, a)| (vocab.encode_tokens(q), vocab.encode_tokens(a))).collect();
        Ok(QaDataset { pairs: pairs.into(), encoded, vocab: Arc::new(vocab) })
    }

    /// Reads a CSV file with a header row holding the two columns.
    ///
    /// # Errors
    /// When the file cannot be read or lacks a column.
    pub fn from_csv(path: &Path, question: &str, answer: &str, min_freq: usize) -> Result<Self> {
        QaDataset::from_table(&Table::read_csv(path)?, question, answer, min_freq)
    }

    /// The vocabulary shared by questions and answers.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Pair `index` as text.
    ///
    /// # Errors
    /// When `index` is past the end.
    pub fn pair(&self, index: usize) -> Result<(&str, &str)> {
        check_index(index, self.pairs.len())?;
        let (q, a) = &self.pairs[index];
        Ok((q, a))
    }
}

impl Dataset for QaDataset {
    type Item = (Vec<u32>, Vec<u32>);
    fn len(&self) -> usize {
        self.encoded.len()
    }
    fn get(&self, index: usize) -> Result<(Vec<u32>, Vec<u32>)> {
        check_index(index, self.encoded.len())?;
        Ok(self.encoded[index].clone())
    }
}

/// A small question–answer set about deep learning written for candlelit's lessons (100 pairs; columns `question`
/// and `answer`).
///
/// # Errors
/// Never in practice: the text ships inside the library.
pub fn sample_qa() -> Result<QaDataset> {
    QaDataset::from_table(&Table::from_csv_text(include_str!("text/qa.csv"))?, "question", "answer", 1)
}

/// Tiny Shakespeare (1.1 MB: 40,000 lines of the plays, as prepared for Andrej Karpathy's char-rnn; the text is in
/// the public domain), fetched once into the data folder and checked like the datasets' files.
pub const TINY_SHAKESPEARE: RemoteFile = RemoteFile {
    folder: "text/tinyshakespeare",
    name: "input.txt",
    hosts: &["https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"],
    sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    size: 1_115_394,
};

/// The text of [`TINY_SHAKESPEARE`]; build a corpus from it with [`TextCorpus::words`] or [`TextCorpus::chars`].
///
/// # Errors
/// When the file cannot be fetched (the message says where to put it by hand) or read.
pub fn tiny_shakespeare() -> Result<String> {
    let path = super::download::fetch(&TINY_SHAKESPEARE)?;
    std::fs::read_to_string(&path)
        .map_err(|e| candle_core::Error::Msg(format!("cannot read {} as text: {e}", path.display())))
}

/// Thirty questions that paraphrase questions of [`sample_qa`] (none of them word for word), each with its
/// original's answer: held out from training, they measure whether a model understood or memorised.
///
/// # Errors
/// Never in practice: the text ships inside the library.
pub fn sample_qa_heldout() -> Result<Vec<(String, String)>> {
    let table = Table::from_csv_text(include_str!("text/qa_heldout.csv"))?;
    let (q, a) = (table.column_index("question")?, table.column_index("answer")?);
    (0..table.len()).map(|i| table.row(i).map(|row| (row[q].to_string(), row[a].to_string()))).collect()
}

/// A short story written for candlelit's lessons, as a corpus (about 250 words).
pub fn sample_corpus() -> TextCorpus {
    TextCorpus::from_text(include_str!("text/corpus.txt"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_ranks_by_frequency_and_respects_limits() {
        let tokens = tokenize("b a b c b a");
        let vocab = Vocab::build([tokens.as_slice()], 2, None);
        assert_eq!(vocab.tokens(), ["<pad>", "<unk>", "b", "a"]);
        assert_eq!(vocab.id("c"), vocab.unk_id());
        assert_eq!(Vocab::build([tokens.as_slice()], 1, Some(3)).len(), 3);
        assert_eq!(vocab.decode(&[2, 0, 0]), "b");
    }

    #[test]
    fn windows_shift_targets_by_one() {
        let corpus = TextCorpus::from_text("a b c d e", 1);
        let windows = corpus.windows(2, 2).expect("windows");
        assert_eq!(windows.len(), 2);
        let (x, y) = windows.get(1).expect("window");
        assert_eq!((corpus.vocab().decode(&x), corpus.vocab().decode(&y)), ("c d".to_string(), "d e".to_string()));
        assert!(corpus.windows(5, 1).is_err());
    }

    #[test]
    fn the_sample_texts_load() {
        let qa = sample_qa().expect("qa");
        assert_eq!(qa.len(), 100);
        let (q, a) = qa.get(0).expect("pair");
        assert_eq!(qa.vocab().decode(&q), "what is a tensor ?");
        assert!(!a.contains(&qa.vocab().unk_id()));
        assert!(sample_corpus().ids().len() > 200);
        let heldout = sample_qa_heldout().expect("held-out questions");
        assert_eq!(heldout.len(), 30);
        let answers: Vec<String> =
            (0..qa.len()).map(|i| qa.pair(i).map(|(_, a)| a.to_string())).collect::<Result<_>>().expect("answers");
        let questions: Vec<String> =
            (0..qa.len()).map(|i| qa.pair(i).map(|(q, _)| q.to_string())).collect::<Result<_>>().expect("questions");
        for (q, a) in &heldout {
            assert!(answers.contains(a), "the held-out answer {a:?} is one of the training answers");
            assert!(!questions.contains(q), "the held-out question {q:?} is not a training question");
        }
    }
}
