#[ringwork::main]
fn main() {}
