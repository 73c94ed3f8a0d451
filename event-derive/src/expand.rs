//! Code generation for a checked event definition.
//!
//! Generated code names only `event_core`'s public items and `event_core::__private`, always by
//! absolute paths, so it compiles when the user shadows `Result`, `Option`, `std` or `core`.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};

use crate::ast::{Container, Field};
use crate::attr::Treatment;
use crate::sensitive::Class;

pub fn expand(cont: &Container, krate: &syn::Path) -> TokenStream {
    let ident = cont.ident;
    let type_name = ident.to_string();
    let name = cont.event_name();
    let (major, minor) = cont.attrs.version.map_or((1, 0), |v| (v.major, v.minor));
    let kind = cont
        .attrs
        .kind
        .as_deref()
        .expect("checked: kind is present");
    let kind_variant = format_ident!("{}", crate::name::camel_case(kind));
    let level = match &cont.attrs.level {
        Some(level) => {
            let level = format_ident!("{}", level.to_ascii_uppercase());
            quote!(#krate::__private::Level::#level)
        }
        None => quote!(#krate::EventKind::#kind_variant.default_level()),
    };
    let description = option_str(cont.doc.as_deref());

    let field_schemas = cont
        .fields
        .iter()
        .map(|field| field_schema(field, ident, krate));
    let field_count = cont.fields.len();
    let visits = cont
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| visit_field(index, field, krate));
    let emitted_keys: Vec<String> = cont
        .fields
        .iter()
        .filter(|field| !matches!(field.attrs.treatment, Some((Treatment::Skip, _))))
        .map(|field| field.key())
        .collect();

    let emitted: Vec<&Field> = cont
        .fields
        .iter()
        .filter(|field| !matches!(field.attrs.treatment, Some((Treatment::Skip, _))))
        .collect();
    let tracing_names: Vec<Ident> = (0..emitted.len())
        .map(|i| format_ident!("__field{}", i))
        .collect();
    let tracing_bindings = emitted.iter().zip(&tracing_names).map(|(field, name)| {
        let value = tracing_value(field, krate);
        quote!(let #name: #krate::__private::TracingValue<'_, Self> = #value;)
    });

    // An event that is also `serde::Serialize` would print its secrets through any serde
    // serializer (serde_json, a `tracing` layer's `valuable`, a logging macro): refused here,
    // at compile time, with the way out.
    let serialize_refused = format!(
        "`{type_name}` implements `serde::Serialize` (a `#[derive(Serialize)]`?): an event must \
         not, as a serde serializer ignores the event's treatments and writes its `redact`, \
         `mask`, `hash` and `skip` fields as they are, secrets included. Remove the \
         `Serialize` impl; emit the event with `emit!`, or get its treated fields as JSON with \
         `event_core::render_metadata(&event, None)`"
    );
    let serialize_guard = quote_spanned! {ident.span()=>
        #[doc(hidden)]
        const _: () = {
            use #krate::__private::NotSerialize as _;
            if #krate::__private::SerializeProbe::<#ident>::SERIALIZE {
                ::core::panic!(#serialize_refused)
            }
        };
    };

    quote! {
        #serialize_guard

        #[doc(hidden)]
        const _: () = {
            static __EVENT_FIELDS: [#krate::FieldSchema; #field_count] = [#(#field_schemas),*];

            #[automatically_derived]
            // Not listed as "the trait is implemented for ..." when some other type is not an
            // event: the list would only name unrelated events.
            #[diagnostic::do_not_recommend]
            impl #krate::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: #krate::Version = #krate::Version::new(#major, #minor);
                const KIND: #krate::EventKind = #krate::EventKind::#kind_variant;
                const LEVEL: #krate::__private::Level = #level;

                fn schema() -> &'static #krate::EventSchema {
                    static SCHEMA: #krate::__private::OnceLock<#krate::EventSchema> =
                        #krate::__private::OnceLock::new();
                    SCHEMA.get_or_init(|| {
                        #krate::__private::build_schema(&#krate::__private::EventDescriptor {
                            name: #name,
                            version: #krate::Version::new(#major, #minor),
                            kind: #krate::EventKind::#kind_variant,
                            rust_type: ::core::concat!(::core::module_path!(), "::", #type_name),
                            description: #description,
                            fields: &__EVENT_FIELDS,
                        })
                    })
                }

                fn __visit_fields<__V: #krate::__private::FieldVisitor>(&self, __visitor: &mut __V) {
                    #(#visits)*
                }

                const __TRACING_FIELDS: &'static [&'static str] =
                    &["event.name", "event.version", #(#emitted_keys),*];

                fn __dispatch(&self, __metadata: &'static #krate::__private::Metadata<'static>) {
                    #(#tracing_bindings)*
                    #krate::__private::dispatch_event(__metadata, &[
                        ::core::option::Option::Some(&<Self as #krate::Event>::NAME
                            as &dyn #krate::__private::Value),
                        ::core::option::Option::Some(&#krate::__private::debug_value(
                            ::core::format_args!("{}", <Self as #krate::Event>::VERSION),
                        ) as &dyn #krate::__private::Value),
                        #(#tracing_names.as_value()),*
                    ]);
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Debug for #ident {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #krate::__private::debug_event(self, #type_name, __f)
                }
            }

            #krate::__private::inventory::submit! {
                #krate::__private::CatalogEntry { schema: <#ident as #krate::Event>::schema }
            }
        };
    }
}

fn option_str(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    }
}

/// The field's static `FieldSchema`.
fn field_schema(field: &Field, ident: &syn::Ident, krate: &syn::Path) -> TokenStream {
    let name = &field.name;
    let key = field.key();
    let description = option_str(field.doc.as_deref());
    let treatment = match field.attrs.treatment.map(|(t, _)| t) {
        None if field.attrs.error.is_some() => {
            let redact_message = field.attrs.error.is_some_and(|e| e.redact_message);
            quote!(#krate::Treatment::Error { redact_message: #redact_message })
        }
        None => quote!(#krate::Treatment::None),
        Some(Treatment::Redact) => quote!(#krate::Treatment::Redact),
        Some(Treatment::Mask { keep_last }) => {
            quote!(#krate::Treatment::Mask { keep_last: #keep_last })
        }
        Some(Treatment::Hash) => quote!(#krate::Treatment::Hash),
        Some(Treatment::Skip) => quote!(#krate::Treatment::Skip),
    };
    let class = match Class::of(field) {
        Class::Public => quote!(#krate::Sensitivity::Public),
        Class::Sensitive => quote!(#krate::Sensitivity::Sensitive),
        Class::Pii => quote!(#krate::Sensitivity::Pii),
        Class::Secret => quote!(#krate::Sensitivity::Secret),
    };
    // Whether the key may be absent: a redacted `Option` is always written.
    let optional = field.option_inner.is_some()
        && !matches!(field.attrs.treatment, Some((Treatment::Redact, _)));
    let since = match field.attrs.since {
        Some(v) => {
            let (major, minor) = (v.major, v.minor);
            quote!(::core::option::Option::Some(#krate::Version::new(#major, #minor)))
        }
        None => quote!(::core::option::Option::None),
    };
    // Treated and error fields have a schema of their own, whatever their type.
    let value_schema = if field.attrs.treatment.is_none() && field.attrs.error.is_none() {
        // The fields' table is a `static`, where `Self` cannot be named.
        let ty = replace_self(value_type(field), ident);
        // Spanned at the type: a type that is not `Serialize + JsonSchema` is reported there.
        quote_spanned!(ty.span()=> ::core::option::Option::Some(#krate::__private::field_schema::<#ty>))
    } else {
        quote!(::core::option::Option::None)
    };
    quote! {
        #krate::FieldSchema::__new(
            #name, #key, #description, #treatment, #class, #optional, #since, #value_schema,
        )
    }
}

/// `ty` with every `Self` replaced by the struct's name.
fn replace_self(ty: &syn::Type, ident: &syn::Ident) -> syn::Type {
    struct ReplaceSelf<'a>(&'a syn::Ident);
    impl VisitMut for ReplaceSelf<'_> {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            if let Some(first) = path.segments.first_mut() {
                if path.leading_colon.is_none() && first.ident == "Self" {
                    first.ident = syn::Ident::new(&self.0.to_string(), first.ident.span());
                }
            }
            visit_mut::visit_path_mut(self, path);
        }
    }
    let mut ty = ty.clone();
    ReplaceSelf(ident).visit_type_mut(&mut ty);
    ty
}

/// The type whose value is emitted: `T` for `Option<T>`.
fn value_type<'a>(field: &'a Field) -> &'a syn::Type {
    field.option_inner.unwrap_or(field.ty)
}

/// What other `tracing` layers get for one emitted field: a `TracingValue`.
fn tracing_value(field: &Field, krate: &syn::Path) -> TokenStream {
    let member = field.ident;
    let key = field.key();
    let tracing = quote!(#krate::__private::TracingValue);
    let present = match field.attrs.treatment.map(|(t, _)| t) {
        // Written whether the value is there or not, as in every output.
        Some(Treatment::Redact) => return quote!(#tracing::Text(#krate::REDACTED)),
        // `Debug` and other layers have no hash key: a hash without one would leak.
        Some(Treatment::Hash) => quote!(#tracing::Text(#krate::REDACTED)),
        Some(Treatment::Mask { .. }) => quote!(#tracing::lazy(self, #key)),
        Some(Treatment::Skip) => unreachable!("skipped fields are not emitted"),
        None if field.attrs.error.is_some() => quote!(#tracing::lazy(self, #key)),
        None => quote! {{
            use #krate::__private::{TracingDirect as _, TracingF32 as _, TracingText as _};
            (&&&#krate::__private::TracingField(__value)).__tracing(self, #key)
        }},
    };
    // Only a plain value is read here; treated ones are read when a layer records them.
    let plain = field.attrs.treatment.is_none() && field.attrs.error.is_none();
    let binding = if plain { quote!(__value) } else { quote!(_) };
    match field.option_inner {
        Some(ty) => {
            let option = field.ty;
            quote! {
                match <#option as #krate::__private::OptionField<#ty>>::__as_option(&self.#member) {
                    ::core::option::Option::Some(#binding) => #present,
                    ::core::option::Option::None => #tracing::Absent,
                }
            }
        }
        None if plain => quote! {{
            let __value = &self.#member;
            #present
        }},
        None => present,
    }
}

/// The statement that shows one field to the visitor.
fn visit_field(index: usize, field: &Field, krate: &syn::Path) -> TokenStream {
    let member = field.ident;
    let schema = quote!(&__EVENT_FIELDS[#index]);
    let ty = value_type(field);
    // Spanned at the type, so a missing `Display` is reported there.
    let value = Ident::new("__value", ty.span());
    let call = match field.attrs.treatment.map(|(t, _)| t) {
        None if field.attrs.error.is_some() => {
            let error = Ident::new("__error", ty.span());
            let call = quote_spanned!(ty.span()=> #error.__visit_error(__visitor, #schema));
            quote! {{
                use #krate::__private::{
                    VisitDynError as _, VisitNotAnError as _, VisitStdError as _,
                };
                let #error = &&#krate::__private::ErrorValue(#value);
                #call
            }}
        }
        None => {
            // Only the call is spanned at the type: a `use` spanned there would make rustc
            // lint it as the user's own import.
            let plain = Ident::new("__plain", ty.span());
            let call = quote_spanned!(ty.span()=> #plain.__visit(__visitor, #schema));
            quote! {{
                use #krate::__private::{
                    VisitOptionValue as _, VisitPlainField as _, VisitUnsupportedField as _,
                };
                let #plain = &&#krate::__private::PlainField(#value);
                #call
            }}
        }
        // Written whether the value is there or not: nothing derived from the value, not even
        // its presence, reaches an output.
        Some(Treatment::Redact) => {
            return quote! {
                let _ = &self.#member;
                __visitor.redacted(#schema);
            };
        }
        Some(Treatment::Mask { keep_last }) => {
            let keep_last = Literal::u8_unsuffixed(keep_last);
            quote_spanned!(ty.span()=> __visitor.masked(#schema, #value, #keep_last))
        }
        Some(Treatment::Hash) => quote_spanned!(ty.span()=> __visitor.hashed(#schema, #value)),
        // Read, so a skipped field does not warn as never read.
        Some(Treatment::Skip) => return quote!(let _ = &self.#member;),
    };
    if field.option_inner.is_some() {
        let option = field.ty;
        let as_option = quote_spanned!(field.ty.span()=>
            <#option as #krate::__private::OptionField<#ty>>::__as_option(&self.#member)
        );
        quote! {
            if let ::core::option::Option::Some(#value) = #as_option {
                #call;
            }
        }
    } else {
        quote! {
            {
                let #value = &self.#member;
                #call;
            }
        }
    }
}
