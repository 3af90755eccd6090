//! Layers: all of `candle_nn` (`linear`, `conv2d`, `lstm`, `gru`, `loss`, `ops`, `VarBuilder`, ...) plus what
//! the lessons need that it lacks or does differently.
//!
//! - [`Sequential`] — PyTorch's `nn.Sequential` with `train()`/`eval()`, named layers, seeded PyTorch-style
//!   initialisation, parameter counts, [`Sequential::summary`], freezing by name, `to_device`, save and load.
//! - [`Dropout`] — drawn from the prelude's seeded generator, so `manual_seed` makes it reproducible.
//! - [`BatchNorm1d`] / [`BatchNorm2d`] — Candle's batch norm (running statistics, momentum 0.1) with the input
//!   shape checked and explained, and a few-pass CPU kernel forward and backward.
//! - [`linear`] / [`Linear`] — Candle's layer with a leaner backward on the CPU (no gradient for a data batch).
//! - [`conv2d`] / [`Conv2d`] — Candle's layer with an im2col + GEMM forward and backward on the CPU; [`Relu`] and
//!   [`MaxPool2d`] run one-pass CPU kernels ([`cpu_relu`], [`cpu_pool`]) with the same results as Candle's.
//! - [`Flatten`], [`Relu`], [`Sigmoid`], [`Tanh`], [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool2d`] — parameter-free layers that can go
//!   in a [`Sequential`].
//! - [`Rnn`] — a plain (Elman) recurrent layer, used like `candle_nn`'s `LSTM` and `GRU` (the [`RNN`] trait),
//!   and [`last_states`] to read each sequence's last real step from a padded batch.
//! - [`Embedding`] — with an optional padding index whose row stays zero and gets no gradient.
//! - [`Recurrent`] ([`lstm_layer`], [`gru_layer`], [`rnn_layer`]) and [`LastStep`] — recurrent layers that go in a
//!   [`Sequential`].
//! - [`resnet_cifar`] — the CIFAR-10 ResNets (20, 56, ...) with PyTorch's variable names, and [`pretrained`]
//!   weights for them, fetched and checked like the datasets.
//!
//! A layer's `forward_t(x, train)` ([`ModuleT`]) is how Candle passes the mode; a [`Sequential`] passes its own.

/// The prelude's losses (Candle's, with a binary cross-entropy on logits that cannot overflow), also as
/// `nn::loss`.
pub use crate::loss;
pub use candle_nn::*;

// The modules are public so that every type has a nameable path: evcxr writes out the full type of each notebook
// variable (`candlelit::nn::model::Sequential`), and a private module in it would make the variable unstorable.

pub mod conv;
mod cpu_batch_norm;
mod cpu_gemm;
pub mod cpu_pool;
pub mod cpu_relu;
pub(crate) mod cpu_values;
pub mod dropout;
pub mod elman;
pub mod embed;
pub mod layers;
pub mod linear;
pub mod model;
pub mod norm;
pub mod pretrained;
pub mod recurrent;
pub mod resnet;
pub mod seeded_init;
pub mod summary;
pub mod system_blas;

pub use conv::{Conv2d, conv2d, conv2d_no_bias};
pub use dropout::Dropout;
pub use elman::{Rnn, RnnState, last_states, rnn};
pub use embed::{Embedding, embedding, embedding_with_padding};
pub use layers::{AvgPool2d, Flatten, GlobalAvgPool2d, MaxPool2d, Relu, Sigmoid, Tanh};
pub use linear::{Linear, linear, linear_b, linear_no_bias};
pub use model::{Layer, Sequential};
pub use norm::{BatchNorm1d, BatchNorm2d, batch_norm1d, batch_norm2d};
pub use recurrent::{HiddenState, LastStep, Recurrent, gru_layer, lstm_layer, rnn_layer};
pub use resnet::{BasicBlock, ResStage, Shortcut, resnet_cifar, resnet18};
pub use seeded_init::init_like_pytorch;
pub use summary::{Summary, SummaryRow};
