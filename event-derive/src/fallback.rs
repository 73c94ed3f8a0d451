//! What the derive emits next to its compile errors: stub impls of `Event` and `Debug`, so
//! the user sees the errors that matter and not a cascade of "`X` is not an event" where the
//! type is used (as thiserror's `fallback.rs` does).

use proc_macro2::TokenStream;
use quote::quote;

pub fn expand(input: &syn::DeriveInput, krate: &syn::Path, errors: syn::Error) -> TokenStream {
    let errors = errors.into_compile_error();
    // Generic or non-struct inputs get no stub: an impl for them could itself fail to compile.
    let supported = matches!(input.data, syn::Data::Struct(_)) && input.generics.params.is_empty();
    if !supported {
        return errors;
    }
    let ident = &input.ident;
    quote! {
        #errors

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #krate::Event for #ident {
                const NAME: &'static str = "invalid_event";
                const VERSION: #krate::Version = #krate::Version::new(1, 0);
                const KIND: #krate::EventKind = #krate::EventKind::SystemEvent;
                const LEVEL: #krate::__private::Level = #krate::__private::Level::INFO;

                fn schema() -> &'static #krate::EventSchema {
                    #krate::__private::invalid_event()
                }

                fn __visit_fields<__V: #krate::__private::FieldVisitor>(&self, _: &mut __V) {
                    #krate::__private::invalid_event()
                }

                const __TRACING_FIELDS: &'static [&'static str] = &[];

                fn __dispatch(&self, _: &'static #krate::__private::Metadata<'static>) {
                    #krate::__private::invalid_event()
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Debug for #ident {
                fn fmt(&self, _: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #krate::__private::invalid_event()
                }
            }
        };
    }
}
