//! The models `candlelit bench` measures, shared by the command (kernel/src/bench.rs) and its measuring binary
//! (kernel/src/bench_worker.rs).

/// A model the benchmark trains.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// The lessons' MLP at batch 64.
    Mlp,
    /// The same MLP at batch 1024.
    Mlp1024,
    /// The Day 8 CNN at batch 64.
    Cnn,
}

impl Model {
    /// The name both sides print and take on their command lines.
    pub fn name(self) -> &'static str {
        match self {
            Model::Mlp => "mlp",
            Model::Mlp1024 => "mlp1024",
            Model::Cnn => "cnn",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Model::Mlp => "MLP 784-128-64-10 (64)",
            Model::Mlp1024 => "MLP 784-128-64-10 (1024)",
            Model::Cnn => "Day 8 CNN (64)",
        }
    }

    /// Samples per step.
    pub fn batch(self) -> usize {
        match self {
            Model::Mlp | Model::Cnn => 64,
            Model::Mlp1024 => 1024,
        }
    }
}
