#[test]
fn smoke() {
    let rt = ringwork::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let n = rt.block_on(async {
        let hs: Vec<_> = (0..1000u64).map(|i| ringwork::spawn(async move { ringwork::task::yield_now().await; i })).collect();
        let mut t = 0; for h in hs { t += h.await.unwrap(); } t
    });
    assert_eq!(n, 499500);
    println!("{:?}", rt.metrics());
}
