// The stand-in keeps the signature: only the argument error is reported.
#[ringwork::main(flavor = "many")]
async fn main() -> std::io::Result<()> {
    Ok(())
}
