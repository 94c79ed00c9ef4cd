//! The impl emitted beside compile errors.
//!
//! With an error and no impl at all, every use of the type as `DeepCopy`
//! would add an error of its own ("`S` does not implement `DeepCopy`"),
//! burying the real mistake. This impl has the type's own generics and
//! bounds, and a body that is never run: the build fails on the real errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Path};

/// An `impl DeepCopy` for `input` that compiles whatever the fields are.
pub(crate) fn derive(input: &DeriveInput, krate: &Path) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        #[allow(deprecated)]
        impl #impl_generics #krate::DeepCopy for #ident #ty_generics #where_clause {
            fn deep_copy(&self) -> Self {
                ::core::unimplemented!()
            }

            fn walk_buffers(&self, _walker: &mut #krate::deep_copy::Walker) {}
        }
    }
}
