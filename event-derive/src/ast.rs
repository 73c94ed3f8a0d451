//! The model of an event definition, built from `syn`: the struct, its fields, and their
//! parsed attributes. Shape errors (enums, tuple structs, generics) are reported here.

use syn::{Data, DeriveInput, Fields, GenericArgument, PathArguments, Type};

use crate::attr;
use crate::ctxt::Ctxt;
use crate::name;

pub struct Container<'a> {
    pub ident: &'a syn::Ident,
    pub attrs: attr::Container,
    pub fields: Vec<Field<'a>>,
    pub doc: Option<String>,
}

pub struct Field<'a> {
    pub ident: &'a syn::Ident,
    /// The field name without `r#`.
    pub name: String,
    pub ty: &'a Type,
    /// `T` when the field is declared `Option<T>`.
    pub option_inner: Option<&'a Type>,
    pub attrs: attr::Field,
    pub doc: Option<String>,
}

impl<'a> Container<'a> {
    /// The model, or `None` when the input is not a struct the derive supports (reported).
    /// Attributes are parsed either way, so their errors show too.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::Container::from_ast(cx, input);
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(named.named.iter().collect::<Vec<_>>()),
                Fields::Unit => Some(Vec::new()),
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(
                        unnamed,
                        format!(
                            "`#[derive(Event)]` needs named fields, and `{}` is a tuple struct: \
                             name each field, such as `struct {} {{ order_id: u64 }}`",
                            input.ident, input.ident
                        ),
                    );
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`#[derive(Event)]` works on structs, not enums: define one event struct \
                     per variant, or make the enum a field of an event (it then needs \
                     `serde::Serialize` and `schemars::JsonSchema`)",
                );
                None
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`#[derive(Event)]` works on structs, not unions: use a struct with named fields",
                );
                None
            }
        };
        let generic = !input.generics.params.is_empty();
        if generic {
            cx.error_spanned_by(
                &input.generics,
                format!(
                    "an event cannot have generic parameters: its name, fields and schema are \
                     fixed at compile time, and it owns its data. Give `{}` concrete field types \
                     (`String` rather than `&str`)",
                    input.ident
                ),
            );
        }
        let fields = fields?
            .into_iter()
            .map(|field| {
                let ident = field.ident.as_ref().expect("named field");
                Field {
                    ident,
                    name: ident.to_string().trim_start_matches("r#").to_owned(),
                    ty: &field.ty,
                    option_inner: option_inner(&field.ty),
                    attrs: attr::Field::from_ast(cx, field),
                    doc: doc_comment(&field.attrs),
                }
            })
            .collect();
        if generic {
            return None;
        }
        Some(Container {
            ident: &input.ident,
            attrs,
            fields,
            doc: doc_comment(&input.attrs),
        })
    }

    /// The event name: the `name` literal, or the struct name in snake_case.
    pub fn event_name(&self) -> String {
        match &self.attrs.name {
            Some(lit) => lit.value(),
            None => name::snake_case(&self.ident.to_string()),
        }
    }
}

impl Field<'_> {
    /// The output key: the `rename` literal, or the field name.
    pub fn key(&self) -> String {
        match &self.attrs.rename {
            Some(lit) => lit.value(),
            None => self.name.clone(),
        }
    }
}

/// `T` if `ty` is written `Option<T>`, `std::option::Option<T>` or `core::option::Option<T>`.
/// Other spellings (aliases, the user's own `Option`) are not optional; generated code
/// reports them if they turn out to be an `Option` after all.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let is_option = match segments.as_slice() {
        [option] => option == "Option" && path.path.leading_colon.is_none(),
        [krate, module, option] => {
            (krate == "std" || krate == "core") && module == "option" && option == "Option"
        }
        _ => false,
    };
    if !is_option {
        return None;
    }
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
}

/// The `///` lines, joined, without the one space rustdoc strips.
fn doc_comment(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}
