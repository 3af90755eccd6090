//! Everything a lesson cell uses every day, in one glob import: `use candlelit::prelude::*;`.
//!
//! The names follow PyTorch habits where Candle has the same idea:
//!
//! | PyTorch | candlelit prelude |
//! | --- | --- |
//! | `torch.tensor([[1., 2.]])` | `Tensor::new(&[[1f32, 2.]], &dev)?` |
//! | `torch.randn(2, 3)` | `randn((2, 3), &dev)?` |
//! | `torch.manual_seed(0)` | `manual_seed(0)` |
//! | `x.to("cuda")` | `x.to_device(&dev)?` |
//! | `torch.nn.Linear(4, 2)` | `nn::linear(4, 2, vb.pp("fc"))?` |
//! | `F.cross_entropy(logits, y)` | `loss::cross_entropy(&logits, &y)?` |
//! | `torch.optim.SGD(params, lr, momentum=0.9)` | `Sgd::new(model.parameters(), lr)?.momentum(0.9)` |
//! | `DataLoader(ds, batch_size=64, shuffle=True)` | `DataLoader::new(ds).batch_size(64).shuffle(true)` |
//! | `datasets.FashionMNIST(root, train=True)` | `fashion_mnist(Split::Train)?` |
//! | `print(x)` | `println!("{}", x.show())`, or just `x` as a cell's last line |
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let dev = Device::Cpu;
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
//! let fc = nn::linear(4, 2, vb.pp("fc"))?;
//! let logits = fc.forward(&Tensor::zeros((3, 4), DType::F32, &dev)?)?;
//! let loss = loss::cross_entropy(&logits, &Tensor::new(&[0u32, 1, 1], &dev)?)?;
//! let mut opt = Sgd::new(varmap.all_vars(), 0.1)?;
//! opt.backward_step(&loss)?;
//! assert_eq!(logits.dims(), &[3, 2]);
//! # Ok(()) }
//! ```

pub use crate::grad_mode::{is_grad_enabled, no_grad};
pub use crate::loss;
pub use crate::nn;
pub use crate::nn::{Sequential, Summary};
pub use crate::train::SummaryWriter;
pub use crate::train::{
    Adam, AdamW, AnyOptimizer, Checkpoint, ConfusionMatrix, CosineAnnealingLr, EarlyStopping, ExponentialLr, Goal,
    GradAccumulator, History, LinearLr, LoadOptions, LoadReport, LrSchedule, MedianPruner, OptimizerState, ParamGroups,
    Progress, ReduceLrOnPlateau, RmsProp, RunningMean, Scheduler, SearchMethod, Sgd, StepLr, Study, Trial, TrialState,
    accuracy, clip_grad_norm, clip_grad_value, correct, grad_of, grads_of, load_weights, progress, read_state_dict,
    requires_grad, save_weights,
};
/// Candle itself, for what the prelude does not name (`candle::bail!`, `candle::DeviceLocation`, ...).
pub use candle_core as candle;
pub use candle_core::backprop::GradStore;
pub use candle_core::{D, DType, Device, Error, IndexOp, Module, ModuleT, Result, Shape, Tensor, Var};
/// Named so that a notebook variable can hold a `VarBuilder`: evcxr writes out each variable's full type
/// (`VarBuilderArgs<'_, Box<dyn SimpleBackend>>`), and every name in it must be in scope.
pub use candle_nn::var_builder::{SimpleBackend, VarBuilderArgs};
pub use candle_nn::{
    Optimizer, VarBuilder, VarMap,
    ops::{log_softmax, sigmoid, softmax},
};

pub use crate::creation::linspace;
pub use crate::data;
pub use crate::data::text::{QaDataset, TextCorpus, Vocab, Windows, tiny_shakespeare, tokenize};
pub use crate::data::transforms::{
    CenterCrop, Compose, Grayscale, Normalize, OneHot, Pad, RandomCrop, RandomHorizontalFlip, Resize, ToTensor,
    Transform, one_hot,
};
pub use crate::data::{
    BoxedDataset, Collate, Concat, CsvDataset, DataLoader, Dataset, DatasetExt, DefaultCollate, ImageDataset,
    LoaderIter, Mapped, PadCollate, Padded, RandomSampler, SequentialSampler, Split, StandardScaler, Subset,
    SubsetRandomSampler, Table, TensorDataset, WeightedRandomSampler, breast_cancer, concat, fashion_mnist,
    image_splits, iris, mnist, random_split,
};
pub use crate::device::{cuda_available, device, device_for};
pub use crate::display::{CellValue as _, PrintOptions, Show, Shown, show};
pub use crate::exercises::{
    CheckFailure, CheckResult, Verdict, check, evaluate, expect, expect_close, expect_eq, expect_near, expect_shape,
};
pub use crate::hints::{Hint, LearnerError, hint_for};
pub use crate::input::{getpass, input};
pub use crate::nn::system_blas::cpu_blas;
pub use crate::output::{DisplayHandle, Rich, clear_output, display};
pub use crate::plot::{Figure, plot_fn};
pub use crate::random::{
    manual_seed, multinomial, normal, rand, rand_like, randint, randn, randn_like, randperm, uniform,
};
