//! PyTorch's default initialisation, drawn from the prelude's seeded generator.

use candle_core::{Result, Var};
use candle_nn::VarMap;

/// Re-draws the variables of `varmap` whose names start with `prefix` (all of them for `""`) the way PyTorch
/// initialises `Linear`, `Conv*d` and recurrent layers, from the generator [`manual_seed`](crate::random::manual_seed)
/// fixes — so a seeded notebook builds the same model every run (Candle's CPU initialisers cannot be seeded), and
/// a Candle model starts from the same distribution as its PyTorch twin.
///
/// - a weight of rank ≥ 2: uniform in ±1/√fan_in (fan_in = product of all but the first dimension; this is
///   PyTorch's Kaiming-uniform with a = √5), and its bias (`…bias` beside `…weight`) in the same range;
/// - recurrent weights and biases (`weight_ih_l0`, `bias_hh_l0`, …): uniform in ±1/√hidden;
/// - rank-1 weights and biases with no rank-2 weight beside them (batch norm) and running statistics: left as they
///   are (1, 0, 0, 1).
///
/// Embedding tables are not weights of a linear map: leave them out of `prefix` (they start from N(0, 1)).
///
/// # Errors
/// When a variable cannot be set (never for variables of this map).
pub fn init_like_pytorch(varmap: &VarMap, prefix: &str) -> Result<()> {
    let named: Vec<(String, Var)> = {
        let data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock was poisoned".into()))?;
        data.iter().filter(|(name, _)| name.starts_with(prefix)).map(|(n, v)| (n.clone(), v.clone())).collect()
    };
    init_vars(&named)
}

/// Applies the rules of [`init_like_pytorch`] to these named variables (one layer's, or several).
pub(crate) fn init_vars(named: &[(String, Var)]) -> Result<()> {
    let mut named = named.to_vec();
    // One fixed order, so the same seed gives the same values whatever order the map holds them in.
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let find = |name: &str| named.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    for (name, var) in &named {
        if !var.dtype().is_float() || name.ends_with("running_mean") || name.ends_with("running_var") {
            continue;
        }
        let last = name.rsplit('.').next().unwrap_or(name);
        let bound = if last.contains("_ih") || last.contains("_hh") {
            // Recurrent layers: every tensor in ±1/√hidden; weight_hh is (gates·hidden, hidden).
            let hh = name.replace(last, &last.replace("_ih", "_hh").replace("bias", "weight"));
            match find(&hh) {
                Some(w) if w.rank() == 2 => 1.0 / (w.dims()[1] as f64).sqrt(),
                _ => continue,
            }
        } else if last == "weight" && var.rank() >= 2 {
            1.0 / (var.dims()[1..].iter().product::<usize>() as f64).sqrt()
        } else if last == "bias" {
            let weight = format!("{}weight", name.strip_suffix("bias").unwrap_or(name));
            match find(&weight) {
                Some(w) if w.rank() >= 2 => 1.0 / (w.dims()[1..].iter().product::<usize>() as f64).sqrt(),
                _ => continue,
            }
        } else {
            continue;
        };
        let values = crate::random::uniform(-bound, bound, var.shape(), var.device())?.to_dtype(var.dtype())?;
        var.set(&values)?;
    }
    Ok(())
}
