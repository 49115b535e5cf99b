//! `#[ringwork::main]` and `#[ringwork::test]` reject wrong arguments with
//! a compile error that names the problem (the expected messages are the
//! `.stderr` files next to each case in `tests/ui/`).

#[test]
fn wrong_attribute_arguments_are_compile_errors_that_name_them() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
