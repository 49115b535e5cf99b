#[ringwork::main(flavor = "single")]
async fn main() {}
