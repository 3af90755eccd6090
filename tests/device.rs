//! `device()` and `CANDLELIT_DEVICE`: every value, and clear errors where CUDA is missing.

use candlelit::prelude::*;

#[test]
fn cpu_is_always_available() {
    let dev = device_for("cpu").unwrap();
    assert!(dev.is_cpu());
    assert!(device_for(" CPU ").unwrap().is_cpu(), "case and spaces do not matter");
}

#[test]
fn unknown_devices_are_explained() {
    for spec in ["gpu", "cuda:x", "tpu:0", ""] {
        let err = device_for(spec).unwrap_err().to_string();
        assert!(err.contains("use `cpu`, `cuda` or `cuda:N`"), "{spec}: {err}");
    }
}

#[test]
fn cuda_without_a_gpu_says_what_to_do() {
    if cuda_available() {
        assert!(device_for("cuda").unwrap().is_cuda());
        return;
    }
    for spec in ["cuda", "cuda:0", "cuda:1"] {
        let err = device_for(spec).unwrap_err().to_string();
        if cfg!(feature = "cuda") {
            assert!(err.contains("did not answer") && err.contains("CANDLELIT_DEVICE=cpu"), "{err}");
        } else {
            assert!(err.contains("built without CUDA support") && err.contains("--features cuda"), "{err}");
            assert!(err.contains("CANDLELIT_DEVICE=cpu"), "{err}");
        }
    }
}

/// The only test in this binary that touches the environment, so no other test can see it half-changed.
#[test]
fn the_environment_variable_decides() {
    // SAFETY: no other thread of this test binary reads or writes the environment.
    unsafe { std::env::set_var("CANDLELIT_DEVICE", "cpu") };
    assert!(device().unwrap().is_cpu());

    unsafe { std::env::set_var("CANDLELIT_DEVICE", "cuda") };
    match device() {
        Ok(dev) => assert!(dev.is_cuda() && cuda_available()),
        Err(e) => {
            let text = e.to_string();
            assert!(!cuda_available());
            assert!(text.starts_with("CANDLELIT_DEVICE=cuda: "), "the error names the variable: {text}");
        }
    }

    unsafe { std::env::set_var("CANDLELIT_DEVICE", "quantum") };
    let text = device().unwrap_err().to_string();
    assert!(text.contains("CANDLELIT_DEVICE=quantum") && text.contains("unknown device"), "{text}");

    unsafe { std::env::remove_var("CANDLELIT_DEVICE") };
    let auto = device().unwrap();
    assert_eq!(auto.is_cuda(), cuda_available(), "unset: CUDA exactly when a GPU answers");

    unsafe { std::env::set_var("CANDLELIT_DEVICE", "") };
    assert_eq!(device().unwrap().is_cuda(), cuda_available(), "empty counts as unset");
    unsafe { std::env::remove_var("CANDLELIT_DEVICE") };
}

#[test]
fn the_same_gpu_is_the_same_device() {
    // Tensors made from two calls must mix: Candle treats separately created CUDA devices as different.
    let (a, b) = (device_for("cpu").unwrap(), device_for("cpu").unwrap());
    assert!(a.same_device(&b));
    if cuda_available() {
        let (g1, g2) = (device_for("cuda").unwrap(), device_for("cuda:0").unwrap());
        assert!(g1.same_device(&g2));
        let x = Tensor::ones(3, DType::F32, &g1).unwrap();
        let y = Tensor::ones(3, DType::F32, &g2).unwrap();
        assert_eq!((x + y).unwrap().to_vec1::<f32>().unwrap(), vec![2.0; 3]);
    }
}
