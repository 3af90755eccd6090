//! Learner hints for the three everyday mismatches (shape, dtype, device) and their neighbours.

use candlelit::prelude::*;

fn zeros(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::zeros(shape, dtype, &Device::Cpu).expect("zeros on the CPU")
}

#[test]
fn shape_mismatch_in_matmul_suggests_a_transpose() {
    let (a, b) = (zeros(&[2, 3], DType::F32), zeros(&[2, 3], DType::F32));
    let err = a.matmul(&b).hint().unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "shape mismatch in matmul, lhs: [2, 3], rhs: [2, 3]", "Candle's message comes first");
    assert_eq!(
        lines.last().copied(),
        Some("hint: inner dimensions 3 and 2 differ — did you mean `b.t()?` (then it is (2, 3) @ (3, 2) → (2, 2)).")
    );
    assert!(matches!(err.error(), Error::ShapeMismatchBinaryOp { .. } | Error::WithBacktrace { .. }));
}

#[test]
fn matmul_of_different_ranks_explains_unsqueeze() {
    let hint = hint_for(&zeros(&[2, 3], DType::F32).matmul(&zeros(&[3], DType::F32)).unwrap_err()).unwrap();
    assert!(hint.contains("2-d and 1-d") && hint.contains("unsqueeze"), "{hint}");
}

#[test]
fn elementwise_shape_mismatch_points_to_broadcasting() {
    let hint = hint_for(&(zeros(&[2, 3], DType::F32) + zeros(&[3], DType::F32)).unwrap_err()).unwrap();
    assert_eq!(
        hint,
        "Candle does not broadcast `add` by itself (PyTorch does): use `a.broadcast_add(&b)?`, which stretches [2, 3] \
         and [3] to [2, 3]."
    );
    let clash = hint_for(&zeros(&[2, 3], DType::F32).mul(&zeros(&[2, 4], DType::F32)).unwrap_err()).unwrap();
    assert!(clash.contains("size 3 in lhs and 4 in rhs"), "{clash}");
}

#[test]
fn reshape_to_the_wrong_size_counts_the_elements() {
    let hint = hint_for(&zeros(&[2, 3], DType::F32).reshape((4, 2)).unwrap_err()).unwrap();
    assert!(hint.contains("6") && hint.contains("8"), "{hint}");
}

#[test]
fn dtype_mismatch_says_how_to_convert() {
    let err = (zeros(&[2], DType::F32) + zeros(&[2], DType::F64)).hint().unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("dtype mismatch in add, lhs: F32, rhs: F64"), "{text}");
    assert_eq!(
        err.hint(),
        Some(
            "both sides of `add` must have the same dtype, but one is f32 and the other f64: convert one, e.g. \
             `b.to_dtype(DType::F32)?`. (A plain float literal such as `1.0` makes f64; write `1f32` for f32.)"
        )
    );
}

#[test]
fn device_mismatch_says_how_to_move_a_tensor() {
    // A CPU-only machine cannot produce this error from real tensors; it is Candle's own error value.
    let err = Error::DeviceMismatchBinaryOp {
        lhs: candle::DeviceLocation::Cpu,
        rhs: candle::DeviceLocation::Cuda { gpu_id: 0 },
        op: "matmul",
    };
    assert_eq!(
        hint_for(&err).as_deref(),
        Some(
            "`matmul` needs both tensors on one device, but one is on cpu and the other on cuda:0: move one with \
             `b.to_device(a.device())?`, or create every tensor (and the model) with the `dev` from `device()?`."
        )
    );
    let learner = LearnerError::from(err);
    assert!(learner.to_string().starts_with("device mismatch in matmul, lhs: Cpu, rhs: Cuda { gpu_id: 0 }\nhint: "));
}

#[test]
fn hints_see_through_candle_wrappers() {
    let inner = zeros(&[2, 3], DType::F32).matmul(&zeros(&[2, 3], DType::F32)).unwrap_err();
    let wrapped = inner.context("while computing the logits");
    let hint = hint_for(&wrapped).unwrap();
    assert!(hint.starts_with("inner dimensions 3 and 2 differ"), "{hint}");
}

#[test]
fn errors_without_a_hint_pass_through_unchanged() {
    let err = Error::Msg("something else".into());
    assert_eq!(hint_for(&err), None);
    assert_eq!(LearnerError::from(err).to_string(), "something else");
}

#[test]
fn learner_errors_convert_back_for_the_question_mark() {
    fn step() -> Result<Tensor> {
        let x = zeros(&[2, 3], DType::F32).matmul(&zeros(&[2, 3], DType::F32)).hint()?;
        Ok(x)
    }
    let text = step().unwrap_err().to_string();
    assert!(text.contains("shape mismatch in matmul") && text.contains("hint: inner dimensions"), "{text}");
}
