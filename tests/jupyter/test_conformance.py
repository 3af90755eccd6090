"""The Jupyter community's conformance suite (jupyter_kernel_test) against the candlelit kernel.

Run by kernel/tests/jupyter_clients.rs with JUPYTER_PATH pointing at a kernelspec for the binary under test.
Every test of the suite that can apply to a Rust kernel is switched on by giving it a sample below.
"""

import unittest

import jupyter_kernel_test

# The first cell waits for the session to load the prelude (tens of seconds with a warm cache).
FIRST_CELL_TIMEOUT = 600


class CandlelitKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "candlelit"
    language_name = "rust"
    file_extension = ".rs"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reply = cls.kc.execute_interactive("let warmed_up = true;", timeout=FIRST_CELL_TIMEOUT)
        assert reply["content"]["status"] == "ok", reply["content"]

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("a line on stderr");'

    # rust-analyzer completes names from the prelude and from earlier cells.
    completion_samples = [
        {"text": "manual_se", "matches": {"manual_seed"}},
        {"text": "Tensor::zeros_l", "matches": {"zeros_like"}},
    ]

    complete_code_samples = ["1 + 1", "let x = 5;", "fn double(x: i32) -> i32 { x * 2 }", 'println!("{{ }}");']
    incomplete_code_samples = ["fn f() {", "let v = vec![1, 2,", 'let s = "still open', "/* a comment"]
    invalid_code_samples = ["let x = 1);", "fn f() { ]"]

    # `:doc NAME` shows documentation in the pager, like `name?` in IPython.
    code_page_something = ":doc Tensor::matmul"

    code_generate_error = 'panic!("stopped on purpose")'

    code_execute_result = [
        {"code": "40 + 2", "result": "42"},
        {"code": "Tensor::new(&[1f32, 2.], &Device::Cpu)?", "mime": "text/html"},
    ]
    code_history_pattern = "40*"
    supported_history_operations = ("tail", "range", "search")

    code_display_data = [
        {"code": "display(&Figure::histogram(vec![1.0, 2.0, 2.0, 3.0], 3));", "mime": "image/svg+xml"},
        {"code": "display(&Tensor::ones((2, 2), DType::F32, &Device::Cpu)?);", "mime": "text/html"},
    ]

    code_inspect_sample = "Tensor::matmul"

    code_clear_output = 'println!("old"); clear_output(false);'


class CandlelitIopubWelcomeTests(jupyter_kernel_test.IopubWelcomeTests):
    kernel_name = "candlelit"
    support_iopub_welcome = True


if __name__ == "__main__":
    unittest.main()
