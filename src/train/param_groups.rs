//! [`ParamGroups`]: several optimizers stepped as one, each over its own variables with its own learning rate —
//! PyTorch's parameter groups (`Adam([{"params": head}, {"params": backbone, "lr": 1e-4}], lr=1e-3)`), as used
//! to fine-tune a pretrained backbone more gently than the new head.

use std::collections::{HashMap, HashSet};
use std::fmt;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

use super::any_optimizer::AnyOptimizer;
use super::optim::{Optimizer, OptimizerState};

/// Named groups of variables, each with its own optimizer and learning rate, stepped together:
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let model = Sequential::new(&Device::Cpu)
///     .add("body", |vb| nn::linear(4, 4, vb))?
///     .add("head", |vb| nn::linear(4, 2, vb))?;
/// let mut opt = ParamGroups::new()
///     .group("head", Adam::new(model.parameters_of(&["head"])?, 1e-3)?)?
///     .group("body", Adam::new(model.parameters_of(&["body"])?, 1e-4)?)?;   // ten times gentler
/// let loss = model.forward(&Tensor::ones((3, 4), DType::F32, &Device::Cpu)?)?.sqr()?.mean_all()?;
/// opt.backward_step(&loss)?;                 // one backward, every group steps
/// opt.set_learning_rate(5e-4);               // a scheduler halves the head's rate: the body's halves too
/// assert_eq!(opt.learning_rates(), [("head".to_string(), 5e-4), ("body".to_string(), 5e-5)]);
/// # Ok(()) }
/// ```
///
/// [`learning_rate`](Optimizer::learning_rate) is the first group's; [`set_learning_rate`](Optimizer::set_learning_rate)
/// sets it and scales every other group by the same factor, so a scheduler keeps the groups' ratios (as PyTorch's
/// schedulers scale each group's own rate).
#[derive(Default)]
pub struct ParamGroups {
    groups: Vec<(String, AnyOptimizer)>,
    /// Every group's variables, in group order (for [`OptimizerState::vars`]).
    all: Vec<Var>,
}

impl ParamGroups {
    /// No groups yet; add them with [`group`](Self::group).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a group under `name` with its own optimizer (any of the prelude's, with its own settings).
    ///
    /// # Errors
    /// When the name is already used, or a variable of this group is already in another (PyTorch refuses that
    /// too: the variable would be stepped twice).
    pub fn group(mut self, name: &str, optimizer: impl Optimizer + OptimizerState + Send + 'static) -> Result<Self> {
        if self.groups.iter().any(|(n, _)| n == name) {
            candle_core::bail!("there is already a parameter group named {name:?}")
        }
        let seen: HashSet<_> = self.all.iter().map(|v| v.as_tensor().id()).collect();
        if optimizer.vars().iter().any(|v| seen.contains(&v.as_tensor().id())) {
            candle_core::bail!(
                "group {name:?} has a variable that is already in another group; each variable belongs to one group \
                 (take the layers apart with `model.parameters_of(&[...])`)"
            )
        }
        self.all.extend(optimizer.vars().iter().cloned());
        self.groups.push((name.to_string(), AnyOptimizer::new(optimizer)));
        Ok(self)
    }

    /// Each group's name and learning rate, in the order they were added.
    pub fn learning_rates(&self) -> Vec<(String, f64)> {
        self.groups.iter().map(|(n, o)| (n.clone(), o.learning_rate())).collect()
    }

    /// Sets one group's learning rate, leaving the others as they are.
    ///
    /// # Errors
    /// When there is no group of that name.
    pub fn set_group_learning_rate(&mut self, name: &str, lr: f64) -> Result<()> {
        match self.groups.iter_mut().find(|(n, _)| n == name) {
            Some((_, o)) => {
                o.set_learning_rate(lr);
                Ok(())
            }
            None => candle_core::bail!("no parameter group named {name:?}; the groups are {:?}", self.names()),
        }
    }

    fn names(&self) -> Vec<&str> {
        self.groups.iter().map(|(n, _)| n.as_str()).collect()
    }
}

impl fmt::Debug for ParamGroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self.groups.iter().map(|(n, o)| format!("{n}: {o:?}")).collect();
        write!(f, "ParamGroups[{}]", groups.join(", "))
    }
}

impl Optimizer for ParamGroups {
    type Config = ();

    fn new(_vars: Vec<Var>, _config: ()) -> Result<Self> {
        candle_core::bail!(
            "ParamGroups is built group by group: ParamGroups::new().group(\"head\", Adam::new(head_vars, 1e-3)?)?"
        )
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.groups.iter_mut().try_for_each(|(_, o)| o.step(grads))
    }

    fn learning_rate(&self) -> f64 {
        self.groups.first().map_or(0.0, |(_, o)| o.learning_rate())
    }

    fn set_learning_rate(&mut self, lr: f64) {
        let first = self.learning_rate();
        let factor = if first > 0.0 { lr / first } else { 1.0 };
        for (i, (_, o)) in self.groups.iter_mut().enumerate() {
            let new = if i == 0 || first <= 0.0 { lr } else { o.learning_rate() * factor };
            o.set_learning_rate(new);
        }
    }
}

impl OptimizerState for ParamGroups {
    fn vars(&self) -> &[Var] {
        &self.all
    }

    /// Adds the variables to the first group.
    fn add_vars(&mut self, vars: Vec<Var>) {
        if let Some((_, first)) = self.groups.first_mut() {
            self.all.extend(vars.iter().cloned());
            first.add_vars(vars);
        }
    }

    /// Each group's state under its name: `"head.3.exp_avg"`.
    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut all = Vec::new();
        for (name, o) in &self.groups {
            all.extend(o.state_tensors()?.into_iter().map(|(k, t)| (format!("{name}.{k}"), t)));
        }
        Ok(all)
    }

    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (name, o) in &mut self.groups {
            let prefix = format!("{name}.");
            let own: HashMap<String, Tensor> =
                state.iter().filter_map(|(k, t)| k.strip_prefix(&prefix).map(|k| (k.to_string(), t.clone()))).collect();
            o.load_state_tensors(&own)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{Adam, Sgd};
    use candle_core::Device;

    fn var(v: f32) -> Var {
        Var::new(&[v], &Device::Cpu).expect("var")
    }

    #[test]
    fn each_group_steps_at_its_own_rate_and_a_variable_belongs_to_one_group() -> Result<()> {
        let (a, b) = (var(1.0), var(1.0));
        let mut opt = ParamGroups::new()
            .group("fast", Sgd::new(vec![a.clone()], 0.1)?)?
            .group("slow", Sgd::new(vec![b.clone()], 0.01)?)?;
        // d/dx of x² at 1 is 2: the fast group moves by 0.2, the slow one by 0.02.
        let loss = (a.as_tensor().sqr()? + b.as_tensor().sqr()?)?.sum_all()?;
        opt.backward_step(&loss)?;
        let (av, bv) = (a.as_tensor().to_vec1::<f32>()?[0], b.as_tensor().to_vec1::<f32>()?[0]);
        assert!((av - 0.8).abs() < 1e-6 && (bv - 0.98).abs() < 1e-6, "{av} {bv}");
        assert_eq!(opt.vars().len(), 2);
        opt.set_group_learning_rate("slow", 0.05)?;
        assert_eq!(opt.learning_rates(), [("fast".to_string(), 0.1), ("slow".to_string(), 0.05)]);
        assert!(opt.set_group_learning_rate("head", 0.1).is_err());
        let twice =
            ParamGroups::new().group("one", Sgd::new(vec![a.clone()], 0.1)?)?.group("two", Adam::new(vec![a], 0.1)?);
        assert!(twice.expect_err("a shared variable").to_string().contains("already in another group"));
        Ok(())
    }

    #[test]
    fn the_state_is_saved_per_group_and_restores() -> Result<()> {
        let w = var(2.0);
        let mut opt = ParamGroups::new().group("head", Adam::new(vec![w.clone()], 0.1)?)?;
        opt.backward_step(&w.as_tensor().sqr()?.sum_all()?)?;
        let state = opt.state_tensors()?;
        assert!(
            state.iter().all(|(k, _)| k.starts_with("head.0.")),
            "{:?}",
            state.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        let mut fresh = ParamGroups::new().group("head", Adam::new(vec![w], 0.1)?)?;
        fresh.load_state_tensors(&state.into_iter().collect())?;
        assert_eq!(fresh.state_tensors()?.len(), opt.state_tensors()?.len());
        Ok(())
    }
}
