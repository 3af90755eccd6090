//! Tensor display: the exact text of small tensors, elision of big ones, and the HTML form.

use candlelit::prelude::*;

fn cpu() -> Device {
    Device::Cpu
}

#[test]
fn zero_d_tensors_print_as_a_number() -> Result<()> {
    assert_eq!(Tensor::new(2.5f32, &cpu())?.show().to_string(), "2.5000");
    assert_eq!(Tensor::new(3f64, &cpu())?.show().to_string(), "3.");
    assert_eq!(Tensor::new(7u32, &cpu())?.show().to_string(), "7");
    Ok(())
}

#[test]
fn one_d_tensor_has_a_header_and_aligned_values() -> Result<()> {
    let t = Tensor::new(&[1.5f32, -2.0, 3.25], &cpu())?;
    assert_eq!(t.show().to_string(), "Tensor(shape=[3], dtype=f32, device=cpu)\n[ 1.5000, -2.0000,  3.2500]");
    Ok(())
}

#[test]
fn two_d_tensor_prints_by_rows() -> Result<()> {
    let t = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &cpu())?;
    assert_eq!(show(&t).to_string(), "Tensor(shape=[2, 3], dtype=f32, device=cpu)\n[[1., 2., 3.],\n [4., 5., 6.]]");
    Ok(())
}

#[test]
fn three_d_tensor_separates_matrices_by_a_blank_line() -> Result<()> {
    let t = Tensor::arange(0u32, 12, &cpu())?.reshape((2, 2, 3))?;
    let expected = "Tensor(shape=[2, 2, 3], dtype=u32, device=cpu)\n\
                    [[[ 0,  1,  2],\n  [ 3,  4,  5]],\n\n [[ 6,  7,  8],\n  [ 9, 10, 11]]]";
    assert_eq!(t.show().to_string(), expected);
    Ok(())
}

#[test]
fn wide_ranges_use_scientific_notation() -> Result<()> {
    let t = Tensor::new(&[0.00001f64, 1.0, 100.0], &cpu())?;
    assert_eq!(t.show().to_string(), "Tensor(shape=[3], dtype=f64, device=cpu)\n[1.0000e-05, 1.0000e+00, 1.0000e+02]");
    Ok(())
}

#[test]
fn long_rows_wrap_at_eighty_columns() -> Result<()> {
    let t = Tensor::arange(0f32, 30., &cpu())?.affine(1.0, 0.5)?;
    let text = t.show().to_string();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(rows.len() > 1, "30 values of width 7 should wrap: {text}");
    assert!(rows.iter().all(|r| r.len() <= 80), "{text}");
    assert!(rows[0].starts_with("[ 0.5000,  1.5000,"), "{text}");
    assert!(rows[1].starts_with(" "), "continuation lines are indented: {text}");
    Ok(())
}

#[test]
fn a_million_elements_are_summarised_at_the_edges() -> Result<()> {
    let t = Tensor::arange(0f32, 1_000_000., &cpu())?.reshape((1000, 1000))?;
    let text = t.show().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Tensor(shape=[1000, 1000], dtype=f32, device=cpu)");
    assert_eq!(lines.len(), 1 + 7, "3 rows, a `...` line, 3 rows:\n{text}");
    assert_eq!(lines[1], "[[0.0000e+00, 1.0000e+00, 2.0000e+00, ..., 9.9700e+02, 9.9800e+02, 9.9900e+02],");
    assert_eq!(lines[4], " ...,");
    assert_eq!(lines[7], " [9.9900e+05, 9.9900e+05, 9.9900e+05, ..., 1.0000e+06, 1.0000e+06, 1.0000e+06]]");
    assert!(text.len() < 1000);
    Ok(())
}

#[test]
fn full_prints_every_element() -> Result<()> {
    let t = Tensor::zeros(1200, DType::U8, &cpu())?;
    assert!(t.show().to_string().contains("..."));
    assert!(!t.show().full().to_string().contains("..."));
    Ok(())
}

#[test]
fn other_dtypes_and_empty_tensors_display() -> Result<()> {
    let bf = Tensor::new(&[0.5f32, 1.0], &cpu())?.to_dtype(DType::BF16)?;
    assert_eq!(bf.show().to_string(), "Tensor(shape=[2], dtype=bf16, device=cpu)\n[0.5000, 1.0000]");
    let empty = Tensor::zeros((0, 3), DType::F32, &cpu())?;
    assert_eq!(empty.show().to_string(), "Tensor(shape=[0, 3], dtype=f32, device=cpu)\n[]");
    let nan = Tensor::new(&[f32::NAN, 1.0], &cpu())?;
    assert_eq!(nan.show().to_string(), "Tensor(shape=[2], dtype=f32, device=cpu)\n[nan, 1.]");
    Ok(())
}

#[test]
fn html_is_a_table_for_matrices() -> Result<()> {
    let t = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &cpu())?;
    let html = t.show().to_html()?;
    assert!(html.starts_with("<table class=\"candlelit-tensor\""), "{html}");
    assert!(html.contains(
        "<caption style=\"text-align:left;font-family:monospace\">Tensor(shape=[2, 3], dtype=f32, device=cpu)</caption>"
    ));
    assert_eq!(html.matches("<td").count(), 6);
    assert_eq!(html.matches("<tr>").count(), 3, "a header row and two value rows");
    assert!(html.contains(">5.</td>"));
    let doc = roxmltree::Document::parse(&html).expect("the table is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "table");
    Ok(())
}

#[test]
fn html_of_a_big_matrix_marks_the_gaps() -> Result<()> {
    let t = Tensor::zeros((1000, 1000), DType::F32, &cpu())?;
    let html = t.show().to_html()?;
    assert_eq!(html.matches("<td").count(), 7 * 7, "6 kept + 1 gap, in both directions");
    assert!(html.contains(">⋮</td>") && html.contains(">…</td>") && html.contains(">⋱</td>"));
    assert!(html.contains(">999</th>"), "the last row and column keep their own numbers");
    Ok(())
}

#[test]
fn html_of_other_ranks_is_preformatted_text() -> Result<()> {
    let t = Tensor::zeros((2, 2, 2), DType::F32, &cpu())?;
    let html = t.show().to_html()?;
    assert!(html.starts_with("<pre>Tensor(shape=[2, 2, 2]"), "{html}");
    Ok(())
}

#[test]
fn the_notebook_form_offers_text_and_html() -> Result<()> {
    let t = Tensor::new(&[1u8, 2], &cpu())?;
    let bundle = t.show().mime_bundle()?;
    let mimes: Vec<&str> = bundle.iter().map(|(m, _)| *m).collect();
    assert_eq!(mimes, ["text/plain", "text/html"]);
    assert_eq!(bundle[0].1, "Tensor(shape=[2], dtype=u8, device=cpu)\n[1, 2]");
    let blocks: String = bundle.iter().map(|(m, c)| candlelit::mime::block(m, c)).collect();
    assert!(blocks.starts_with("EVCXR_BEGIN_CONTENT text/plain\nTensor(shape=[2]"));
    assert_eq!(blocks.matches("EVCXR_END_CONTENT\n").count(), 2);
    Ok(())
}

#[test]
fn vars_show_like_tensors() -> Result<()> {
    let v = Var::new(&[1f32, 2.], &cpu())?;
    assert_eq!(v.show().to_string(), "Tensor(shape=[2], dtype=f32, device=cpu)\n[1., 2.]");
    Ok(())
}
