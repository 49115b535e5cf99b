//! `#[ringwork::main]` and `#[ringwork::test]`: an `async fn` run on a
//! ringwork runtime built from the attribute's arguments. Re-exported by
//! `ringwork`; see `ringwork::main` and `ringwork::test` for the arguments.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

/// The attribute's arguments, checked.
struct Args {
    current_thread: bool,
    worker_threads: Option<usize>,
    driver: Option<Tokens>,
    seeds: usize,
    start_paused: bool,
}

fn parse_args(args: TokenStream, allow_seeds: bool) -> syn::Result<Args> {
    let parsed = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse(args)?;
    let mut out = Args {
        current_thread: false,
        worker_threads: None,
        driver: None,
        seeds: 1,
        start_paused: false,
    };
    for arg in parsed {
        let name = arg
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let lit = match &arg.value {
            Expr::Lit(ExprLit { lit, .. }) => lit.clone(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!("`{name}` takes a literal value"),
                ))
            }
        };
        match (name.as_str(), &lit) {
            ("worker_threads", Lit::Int(n)) => {
                let n: usize = n.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        "worker_threads must be at least 1",
                    ));
                }
                out.worker_threads = Some(n);
            }
            ("flavor", Lit::Str(s)) => match s.value().as_str() {
                "multi_thread" => out.current_thread = false,
                "current_thread" => out.current_thread = true,
                other => {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!(
                            "unknown flavor {other:?}: expected \"multi_thread\" or \
                             \"current_thread\""
                        ),
                    ))
                }
            },
            ("driver", Lit::Str(s)) => {
                out.driver = Some(match s.value().as_str() {
                    "auto" => quote!(::ringwork::io::DriverKind::Auto),
                    "uring" => quote!(::ringwork::io::DriverKind::Uring),
                    "epoll" => quote!(::ringwork::io::DriverKind::Epoll),
                    other => {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            format!(
                            "unknown driver {other:?}: expected \"auto\", \"uring\" or \"epoll\""
                        ),
                        ))
                    }
                })
            }
            ("seeds", Lit::Int(n)) if allow_seeds => {
                let n: usize = n.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new_spanned(&lit, "seeds must be at least 1"));
                }
                out.seeds = n;
            }
            ("start_paused", Lit::Bool(b)) if allow_seeds => out.start_paused = b.value,
            ("start_paused", _) if allow_seeds => {
                return Err(syn::Error::new_spanned(
                    &lit,
                    "`start_paused` takes `true` or `false`",
                ))
            }
            ("seeds" | "start_paused", _) if !allow_seeds => {
                return Err(syn::Error::new_spanned(
                    &arg.path,
                    format!("`{name}` is an argument of #[ringwork::test], not #[ringwork::main]"),
                ))
            }
            ("worker_threads" | "seeds", _) => {
                return Err(syn::Error::new_spanned(
                    &lit,
                    format!("`{name}` takes an integer"),
                ))
            }
            ("flavor" | "driver", _) => {
                return Err(syn::Error::new_spanned(
                    &lit,
                    format!("`{name}` takes a string"),
                ))
            }
            _ => {
                let known = if allow_seeds {
                    "worker_threads, flavor, driver, seeds, start_paused"
                } else {
                    "worker_threads, flavor, driver"
                };
                return Err(syn::Error::new_spanned(
                    &arg.path,
                    format!("unknown argument `{name}` (known: {known})"),
                ));
            }
        }
    }
    if out.start_paused && !out.current_thread {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "start_paused = true needs flavor = \"current_thread\" (only a current-thread \
             runtime's clock can pause)",
        ));
    }
    if let (true, Some(n)) = (out.current_thread, out.worker_threads) {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            format!(
                "worker_threads = {n} does not apply to flavor = \"current_thread\" (it runs on \
                 the calling thread); remove it or use flavor = \"multi_thread\""
            ),
        ));
    }
    Ok(out)
}

/// The `Builder` expression for `args`.
fn builder(args: &Args) -> Tokens {
    let workers = args.worker_threads.map(|n| quote!(.worker_threads(#n)));
    let driver = args.driver.as_ref().map(|d| quote!(.driver(#d)));
    let new = if args.current_thread {
        quote!(new_current_thread)
    } else {
        quote!(new_multi_thread)
    };
    let paused = args.start_paused.then(|| quote!(.start_paused(true)));
    quote! {
        ::ringwork::runtime::Builder::#new() #workers #driver #paused
    }
}

/// The annotated function, checked to be an `async fn` without arguments,
/// and made synchronous (its body becomes the future it runs).
fn sync_fn(item: TokenStream, what: &str) -> syn::Result<ItemFn> {
    let mut item: ItemFn = syn::parse(item)?;
    if item.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            item.sig.fn_token,
            format!("{what} must be an `async fn`"),
        ));
    }
    if !item.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.sig.inputs,
            format!("{what} takes no arguments"),
        ));
    }
    item.sig.asyncness = None;
    Ok(item)
}

/// Runs an `async fn main` on a ringwork runtime.
///
/// Arguments: `worker_threads = N`,
/// `flavor = "multi_thread" | "current_thread"` (the latter without
/// `worker_threads`), `driver = "auto" | "uring" | "epoll"`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let stub = stand_in(&item);
    expand_main(args, item).unwrap_or_else(|err| {
        let error = err.to_compile_error();
        quote!(#error #stub).into()
    })
}

/// After an error, a synchronous stand-in for the annotated function (same
/// name, visibility and return type, body `unimplemented!()`), so that the
/// error above is the only one reported (no "`main` function not found").
fn stand_in(item: &TokenStream) -> Tokens {
    match syn::parse::<ItemFn>(item.clone()) {
        Ok(ItemFn { vis, sig, .. }) => {
            let ident = &sig.ident;
            let output = &sig.output;
            quote!(#vis fn #ident() #output { ::core::unimplemented!() })
        }
        Err(_) => Tokens::new(),
    }
}

fn expand_main(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args, false)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = sync_fn(item, "#[ringwork::main] fn")?;
    let builder = builder(&args);
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            let runtime = #builder
                .build()
                .expect("#[ringwork::main]: building the runtime failed");
            runtime.block_on(async move #block)
        }
    }
    .into())
}

/// Runs an `async fn` test on a fresh ringwork runtime, under a seed.
///
/// Arguments: those of `#[ringwork::main]`, `seeds = N` to run the body N
/// times under N different seeds, and `start_paused = true` (with
/// `flavor = "current_thread"`) to start with the clock paused. The seed comes from
/// `RINGWORK_SEED` when set (then the body runs once: a replay), else from
/// the clock; a failing run prints `RINGWORK_SEED=0x… cargo test <name>`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_test(args, item).unwrap_or_else(|err| err.to_compile_error().into())
}

fn expand_test(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args, true)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = sync_fn(item, "#[ringwork::test] fn")?;
    let builder = builder(&args);
    let seeds = args.seeds;
    let name = sig.ident.to_string();
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #sig {
            let replay = ::std::env::var_os("RINGWORK_SEED").is_some();
            let runs: usize = if replay { 1 } else { #seeds };
            let mut run = 0;
            loop {
                run += 1;
                let runtime = #builder
                    .build()
                    .expect("#[ringwork::test]: building the runtime failed");
                let seed = runtime.handle().seed();
                let outcome = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(async #block)
                }));
                drop(runtime);
                let failed = match &outcome {
                    ::core::result::Result::Ok(value) => {
                        ::ringwork::__private::TestOutcome::is_failure(value)
                    }
                    ::core::result::Result::Err(_) => true,
                };
                if failed {
                    eprintln!(
                        "#[ringwork::test] {} failed under seed {:#x}; replay with \
                         RINGWORK_SEED={:#x} cargo test {}",
                        #name, seed, seed, #name
                    );
                }
                match outcome {
                    ::core::result::Result::Err(panic) => ::std::panic::resume_unwind(panic),
                    ::core::result::Result::Ok(value) if failed || run >= runs => return value,
                    ::core::result::Result::Ok(_) => {}
                }
            }
        }
    }
    .into())
}
