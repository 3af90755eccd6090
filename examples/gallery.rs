//! Writes one figure of every kind to a folder, as SVG and PNG: `cargo run --example gallery -- OUT_DIR`.

use candlelit::prelude::*;

fn main() -> Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    std::fs::create_dir_all(&out)?;
    manual_seed(0);
    let dev = Device::Cpu;

    let epochs: Vec<f64> = (1..=20).map(f64::from).collect();
    let train: Vec<f64> = epochs.iter().map(|e| 2.0 / e).collect();
    let val: Vec<f64> = epochs.iter().map(|e| 2.2 / e + 0.05).collect();
    let lines =
        Figure::new().title("Loss").xlabel("epoch").ylabel("loss").log_y().line_xy("train", &epochs, &train).line_xy(
            "validation",
            &epochs,
            &val,
        );

    let a = randn((50, 2), &dev)?;
    let b = (randn((50, 2), &dev)? + 2.5)?;
    let points = Tensor::cat(&[&a, &b], 0)?;
    let labels = Tensor::cat(&[&Tensor::zeros(50, DType::U32, &dev)?, &Tensor::ones(50, DType::U32, &dev)?], 0)?;
    let scatter = Figure::new()
        .title("Two blobs")
        .scatter_classes(&points, &labels)
        .regions(|p| p.sum(1)?.gt(2.5)?.to_dtype(DType::U32), 60);

    let histogram = Figure::histogram(&randn(2000, &dev)?, 30).title("randn");
    let bar = Figure::bar(["cpu", "cuda"], &[1.0, 8.5]).title("Speed-up").ylabel("×");
    let images = Figure::images(&rand((6, 28, 28), &dev)?).captions(["a", "b", "c", "d", "e", "f"]).title("Noise");
    let confusion = Figure::confusion(&Tensor::new(&[[50u32, 2, 1], [3, 40, 7], [0, 5, 45]], &dev)?)
        .class_names(["cat", "dog", "bird"])
        .title("Confusion");
    let function = plot_fn(|x| x.tanh(), -3.0..3.0).title("tanh and its derivative");

    for (name, fig) in [
        ("lines", lines),
        ("scatter", scatter),
        ("histogram", histogram),
        ("bar", bar),
        ("images", images),
        ("confusion", confusion),
        ("function", function),
    ] {
        fig.save(out.join(format!("{name}.svg")))?;
        fig.save(out.join(format!("{name}.png")))?;
        println!("wrote {name}.svg and {name}.png");
    }
    Ok(())
}
