//! `#[derive(Event)]`, re-exported by `event_core`: depend on `event_core`, not on this crate.
//!
//! The flow is one way: `ast` builds the model (parsing attributes in `attr`), `check` applies
//! the rules that span more than one attribute (names, kind, `since`, the sensitive-name guard,
//! output keys), and `expand` writes the code, or `fallback` writes stubs next to the errors.
//! Every error is collected in a `Ctxt`, so all of them show at once.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod fallback;
mod name;
mod sensitive;
mod suggest;
mod symbol;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

// Derives `event_core::Event`, a redacting `Debug`, and the catalog registration. No doc
// comment: rustdoc would append it to `event_core::Event`'s reference, which is the page users
// read (depend on `event_core`, which re-exports this macro).
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

fn derive(input: &DeriveInput) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::new();
    let cont = ast::Container::from_ast(&cx, input);
    if let Some(cont) = &cont {
        check::check(&cx, cont);
    }
    let krate = cont
        .as_ref()
        .and_then(|c| c.attrs.crate_path.clone())
        .unwrap_or_else(|| syn::parse_quote!(::event_core));
    match (cx.check(), cont) {
        (Ok(()), Some(cont)) => expand::expand(&cont, &krate),
        (Err(errors), _) => fallback::expand(input, &krate, errors),
        (Ok(()), None) => unreachable!("a missing model is always reported"),
    }
}
