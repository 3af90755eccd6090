//! Checks the prelude's CUDA path on a machine with a GPU; exits non-zero on the first failed check.
//!
//! Build with `cargo build --release --features cuda --example cuda_check`, run the binary where a GPU is.

use std::time::Instant;

use candlelit::prelude::*;

fn check(what: &str, ok: bool, detail: impl std::fmt::Display) -> Result<()> {
    println!("{} {what}: {detail}", if ok { "PASS" } else { "FAIL" });
    if ok { Ok(()) } else { candle_core::bail!("check failed: {what}") }
}

fn main() -> Result<()> {
    check("built with the cuda feature", cfg!(feature = "cuda"), "")?;
    check("cuda_available()", cuda_available(), cuda_available())?;
    let dev = device()?;
    check("device() picks the GPU", dev.is_cuda(), candlelit::device::device_name(&dev))?;
    check("device() twice is the same device", dev.same_device(&device()?), "tensors from both calls mix")?;

    manual_seed(123);
    let a = randn((3, 4), &dev)?;
    let candle_a = Tensor::randn(0f32, 1., (3, 4), &dev)?;
    manual_seed(123);
    let b = randn((3, 4), &dev)?;
    let candle_b = Tensor::randn(0f32, 1., (3, 4), &dev)?;
    check("prelude randn is reproducible on the GPU", a.to_vec2::<f32>()? == b.to_vec2::<f32>()?, "")?;
    check(
        "Candle's own Tensor::randn is reproducible after manual_seed",
        candle_a.to_vec2::<f32>()? == candle_b.to_vec2::<f32>()?,
        "",
    )?;
    manual_seed(123);
    let on_cpu = randn((3, 4), &Device::Cpu)?;
    check("same seed, same numbers on CPU and GPU", on_cpu.to_vec2::<f32>()? == a.to_vec2::<f32>()?, "")?;

    let text = a.show().to_string();
    check("display names the GPU", text.starts_with("Tensor(shape=[3, 4], dtype=f32, device=cuda:0)"), &text)?;
    let html = a.show().to_html()?;
    check("HTML display of a GPU tensor", html.matches("<td").count() == 12, "12 cells")?;

    let err = (&on_cpu + &a).hint().map(|_| ()).unwrap_err();
    let hint = err.hint().unwrap_or("");
    check("a real device mismatch gets a hint", hint.contains("to_device"), err)?;

    let t0 = Instant::now();
    let w = randn((784, 128), &dev)?;
    let x = randn((64, 784), &dev)?;
    let y = x.matmul(&w)?.relu()?.sum_all()?.to_scalar::<f32>()?;
    check(
        "first matmul + relu on the GPU",
        y.is_finite(),
        format!("{:.2} s (includes PTX compilation)", t0.elapsed().as_secs_f64()),
    )?;
    let t1 = Instant::now();
    for _ in 0..100 {
        x.matmul(&w)?.relu()?.sum_all()?.to_scalar::<f32>()?;
    }
    check("100 more", true, format!("{:.4} s each", t1.elapsed().as_secs_f64() / 100.0))?;

    let fig = Figure::histogram(&x, 30).title("randn on the GPU");
    let svg = fig.to_svg()?;
    check("a figure from GPU data", svg.contains("randn on the GPU"), format!("{} bytes of SVG", svg.len()))?;
    println!("all CUDA checks passed");
    Ok(())
}
