#[ringwork::main(seeds = 3)]
async fn main() {}
