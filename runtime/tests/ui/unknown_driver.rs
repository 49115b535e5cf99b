#[ringwork::main(driver = "io_uring")]
async fn main() {}
