//! # candlelit — a teaching prelude for deep learning in Rust
//!
//! A ten-line tour (every line runs as it is; in a lesson notebook the `use` line is already done for you):
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let dev = device()?;                              // CUDA when built with it and a GPU answers, else CPU
//! manual_seed(42);                                  // every random thing below is now reproducible
//! let x = randn((2, 3), &dev)?;                     // like torch.randn(2, 3)
//! let w = Tensor::new(&[[1f32, 0.], [0., 1.], [1., 1.]], &dev)?;
//! let y = x.matmul(&w)?.relu()?;                    // (2, 3) @ (3, 2) -> (2, 2)
//! println!("{}", y.show());                         // shape, dtype and device, then the values by rows
//! let fig = Figure::new().title("relu").line("y", &[0.0, 1.0, 2.0]);
//! let svg = fig.to_svg()?;                          // in a notebook the figure simply shows inline
//! assert!(svg.starts_with("<svg"));
//! # Ok(()) }
//! ```
//!
//! The modules, each with one job:
//! - [`device`] picks the device (`CANDLELIT_DEVICE`, else CUDA when available, else CPU).
//! - [`random`] holds the seeded generator behind [`manual_seed`](random::manual_seed), [`rand`](random::rand),
//!   [`randn`](random::randn) and friends (Candle cannot seed its CPU generator).
//! - [`display`] prints tensors for people (text and HTML) and speaks evcxr's rich-output convention ([`mime`]).
//! - [`hints`] adds one line of advice to Candle's shape, dtype and device errors.
//! - [`protocol`] is the line protocol a cell's process speaks to the session (displays, verdicts, markers).
//! - [`exercises`] checks a learner's answer and shows ✔ or ✘ with what is wrong (never the answer).
//! - [`data`] loads data like `torch.utils.data`: datasets, loaders, transforms, MNIST, Fashion-MNIST, CSV and text.
//! - [`plot`] draws figures with plotters: lines, scatter, histogram, bars, image grids, confusion matrices and
//!   functions with their derivative, as SVG or PNG, with an embedded font.
//! - [`nn`] is `candle_nn` plus what the lessons need: `Sequential` with train/eval, seeded PyTorch-style
//!   initialisation and `summary`, `Dropout`, `BatchNorm1d/2d`, `Flatten`, convolution and pooling, the CIFAR
//!   ResNets and ResNet-18 with PyTorch's names and a checksummed pretrained fetcher, recurrent layers (RNN, GRU,
//!   LSTM) that go in a `Sequential`, `Embedding` with padding.
//! - [`train`] holds what a training loop needs: optimizers and schedulers with PyTorch's rules, parameter groups,
//!   gradient clipping, metrics, early stopping, progress bars, live figures, checkpoints, state dicts read from
//!   safetensors and PyTorch files and loaded by name, and an Optuna-like hyperparameter search.

#![deny(missing_docs)]

pub mod cell;
pub mod creation;
pub mod data;
pub mod device;
pub mod display;
pub mod exercises;
pub mod grad_mode;
pub mod hints;
pub mod input;
pub mod loss;
pub mod mime;
pub mod nn;
pub mod output;
pub mod plot;
pub mod prelude;
pub mod protocol;
pub mod random;
pub mod train;
